// End to end: messages go from an MLLP source through routes to MLLP, file and ZeroMQ
// destinations. The real binary, a partner played by the real MLLP server adapter in this process
// (tests/support/mllp_receiver.hpp), on SQLite and on PostgreSQL when HIMS_TEST_POSTGRES_URL is
// set. Covers pass-through in order, a partner that is down and comes back, a partner that always
// answers AE (dead letters) beside a healthy one, replay of dead letters and filtered messages,
// ack mode on-processed, delivery resumed after a restart, and ZeroMQ topics per route.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <zmq.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "adapters/mllp_client.hpp"
#include "engine/store.hpp"
#include "tests/integration/backend_run.hpp"
#include "tests/support/loopback_client.hpp"
#include "tests/support/mllp_receiver.hpp"

namespace hims::test {
namespace {

using namespace std::chrono_literals;

std::string adt(const std::string& control_id, const std::string& trigger = "A01") {
  return "MSH|^~\\&|ADT-APP|NORTH|HIMS|HOSP|20240101120000||ADT^" + trigger + "^ADT_A01|" +
         control_id + "|P|2.5.1\rEVN|" + trigger + "|20240101120000\rPID|1||" + control_id +
         "^^^HOSP^MR||DOE^JANE\rPV1|1|I\r";
}

std::string oru(const std::string& control_id) {
  return "MSH|^~\\&|LAB|NORTH|HIMS|HOSP|20240101120000||ORU^R01^ORU_R01|" + control_id +
         "|P|2.5.1\rPID|1||1^^^HOSP^MR\rOBR|1\rOBX|1|NM|GLU||5.4|mmol/L\r";
}

class DeliveryRun : public BackendRun {
 protected:
  DeliveryRun() : BackendRun("hims_delivery_run") {}

  // A source `adt-in`, the http listener, and what the test adds (destinations, routes).
  std::string config(const std::string& rest, const std::string& ack_mode = "on-commit") const {
    return "store: " + url_ +
           "\n"
           "node: test-node\n"
           "log: {format: json, level: debug}\n"
           "http: {listen: 127.0.0.1:0}\n"
           "sources:\n"
           "  adt-in:\n"
           "    type: mllp\n"
           "    listen: 127.0.0.1:0\n"
           "    ack_mode: " +
           ack_mode + "\n" + rest;
  }

  static std::string mllp_destination(const std::string& id, std::uint16_t port,
                                      const std::string& extra = "") {
    return "  " + id + ":\n    type: mllp\n    connect: 127.0.0.1:" + std::to_string(port) +
           "\n    connect_timeout: 2s\n    ack_timeout: 5s\n"
           "    retry: {initial: 50ms, max: 400ms, jitter: 0.1" +
           extra + "}\n";
  }

  // Sends each message on one connection; returns the ACK codes.
  std::vector<std::string> send(std::uint16_t port, const std::vector<std::string>& messages) {
    adapters::MllpClientConfig c;
    c.host = "127.0.0.1";
    c.port = port;
    c.ack_timeout = 20s;
    auto client = adapters::MllpClient::create(c);
    EXPECT_TRUE(client.ok());
    std::vector<std::string> codes;
    if (!client.ok()) return codes;
    for (const std::string& m : messages) {
      auto ack = client->send(m);
      EXPECT_TRUE(ack.ok()) << (ack.ok() ? "" : ack.error().message());
      codes.push_back(ack.ok() ? ack->code : "error");
    }
    return codes;
  }

  std::unique_ptr<store::Store> open() const {
    store::OpenOptions o;
    o.migrate = false;
    auto s = store::open_store(url_, o);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    return s.ok() ? std::move(*s) : nullptr;
  }

  std::map<store::MessageState, std::int64_t> states() const {
    std::map<store::MessageState, std::int64_t> out;
    auto s = open();
    if (!s) return out;
    auto counts = s->journal_counts();
    EXPECT_TRUE(counts.ok());
    if (counts.ok()) {
      for (const auto& c : *counts) out[c.state] += c.count;
    }
    return out;
  }

  store::DestinationStats queue(const std::string& destination) const {
    auto s = open();
    if (!s) return {};
    auto summary = s->queue_summary(store::Clock::now());
    EXPECT_TRUE(summary.ok());
    if (summary.ok()) {
      for (const auto& d : *summary) {
        if (d.destination == destination) return d;
      }
    }
    store::DestinationStats none;
    none.destination = destination;
    return none;
  }

  RunResult command(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{engine()};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--store");
    argv.push_back(url_);
    return run_process(argv, dir_);
  }
};

std::vector<std::string> ids(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

std::vector<std::string> adts(const std::vector<std::string>& control_ids) {
  std::vector<std::string> out;
  for (const auto& id : control_ids) out.push_back(adt(id));
  return out;
}

TEST_P(DeliveryRun, PassThroughToMllpAndFileInOrder) {
  MllpReceiver ehr;
  ASSERT_TRUE(ehr.start());
  const auto archive = dir_ / "outbox" / "adt-archive";
  RunningEngine engine(dir_, config("destinations:\n" + mllp_destination("ehr", ehr.port()) +
                                    "  adt-archive:\n    type: file\n    dir: " + archive.string() +
                                    "\n"
                                    "routes:\n"
                                    "  - name: adt to ehr\n"
                                    "    from: adt-in\n"
                                    "    message: ADT^*\n"
                                    "    destinations: [ehr, adt-archive]\n"));
  ASSERT_TRUE(engine.ready());
  const auto sent = ids("PT-", 40);
  const auto codes = send(engine.port("adt-in"), adts(sent));
  EXPECT_EQ(codes, std::vector<std::string>(sent.size(), "AA"));
  // An ORU no route takes: acknowledged, then filtered.
  EXPECT_EQ(send(engine.port("adt-in"), {oru("LAB-1")}), std::vector<std::string>{"AA"});

  ASSERT_TRUE(eventually([&] { return ehr.count() >= sent.size(); }))
      << "delivered " << ehr.count() << " of " << sent.size() << "\n"
      << engine.process().err();
  EXPECT_EQ(ehr.control_ids(), sent) << "in the order received";
  EXPECT_EQ(ehr.messages().front(), adt(sent.front())) << "byte for byte (CR terminators)";
  ASSERT_TRUE(eventually([&] {
    std::error_code ec;
    return std::filesystem::exists(archive, ec) &&
           std::distance(std::filesystem::directory_iterator(archive),
                         std::filesystem::directory_iterator{}) >=
               static_cast<std::ptrdiff_t>(sent.size());
  }));

  // /health and /metrics on the http listener.
  ASSERT_NE(engine.http_port(), 0);
  const std::string health = http_get(engine.http_port(), "/health");
  EXPECT_NE(health.find("200 OK"), std::string::npos) << health;
  EXPECT_NE(health.find("\"status\":\"ok\""), std::string::npos) << health;
  ASSERT_TRUE(eventually([&] {
    const std::string metrics = http_get(engine.http_port(), "/metrics");
    return metrics.find("hims_destination_sent_total{destination=\"ehr\"} 40") !=
               std::string::npos &&
           metrics.find("hims_destination_sent_total{destination=\"adt-archive\"} 40") !=
               std::string::npos;
  }));
  const std::string metrics = http_get(engine.http_port(), "/metrics");
  EXPECT_NE(metrics.find("hims_source_received_total{source=\"adt-in\"} 41"), std::string::npos)
      << metrics;
  EXPECT_NE(metrics.find("hims_route_received_total{route=\"adt to ehr\"} 40"), std::string::npos);
  EXPECT_NE(metrics.find("hims_processed_total{outcome=\"filtered\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("hims_ack_latency_seconds_count{source=\"adt-in\"} 41"),
            std::string::npos);

  EXPECT_EQ(engine.stop(), 0) << engine.process().err();
  const auto by_state = states();
  EXPECT_EQ(by_state.at(store::MessageState::processed), 40);
  EXPECT_EQ(by_state.at(store::MessageState::filtered), 1);
  EXPECT_EQ(queue("ehr").delivered, 40);
  EXPECT_EQ(queue("ehr").pending, 0);
  EXPECT_EQ(queue("adt-archive").delivered, 40);
  EXPECT_EQ(engine.process().err().find("DOE"), std::string::npos) << "no PHI in logs";
}

TEST_P(DeliveryRun, PartnerDownThenBackGetsEverythingInOrder) {
  const std::uint16_t port = free_port();
  MllpReceiver ehr;  // not listening yet
  RunningEngine engine(dir_, config("destinations:\n" + mllp_destination("ehr", port) +
                                    "routes:\n"
                                    "  - {name: adt, message: 'ADT^*', destinations: [ehr]}\n"));
  ASSERT_TRUE(engine.ready());
  const auto sent = ids("DOWN-", 30);
  EXPECT_EQ(send(engine.port("adt-in"), adts(sent)), std::vector<std::string>(30, "AA"))
      << "acknowledged while the partner is down: the queue holds them";
  ASSERT_TRUE(eventually([&] { return queue("ehr").pending == 30; }));
  ASSERT_TRUE(ehr.start(port));
  ASSERT_TRUE(eventually([&] { return ehr.count() >= sent.size(); })) << ehr.count() << "\n"
                                                                      << engine.process().err();
  EXPECT_EQ(ehr.control_ids(), sent);
  ASSERT_TRUE(eventually([&] { return queue("ehr").delivered == 30; }));
  EXPECT_EQ(engine.stop(), 0);
  EXPECT_NE(engine.process().err().find("delivery failed; will retry"), std::string::npos);
}

TEST_P(DeliveryRun, AlwaysAeLeadsToDeadLettersWhileHealthyDestinationDelivers) {
  MllpReceiver refusing("AE");
  MllpReceiver healthy;
  ASSERT_TRUE(refusing.start());
  ASSERT_TRUE(healthy.start());
  RunningEngine engine(
      dir_, config("destinations:\n" +
                   mllp_destination("refusing", refusing.port(), ", max_attempts: 3") +
                   mllp_destination("healthy", healthy.port()) +
                   "routes:\n"
                   "  - {name: adt, message: 'ADT^*', destinations: [refusing, healthy]}\n"));
  ASSERT_TRUE(engine.ready());
  const auto sent = ids("AE-", 10);
  send(engine.port("adt-in"), adts(sent));
  ASSERT_TRUE(eventually([&] { return healthy.count() >= sent.size(); }));
  EXPECT_EQ(healthy.control_ids(), sent);
  ASSERT_TRUE(eventually([&] { return queue("refusing").dead == 10; })) << engine.process().err();
  EXPECT_EQ(refusing.count(), 30u) << "three attempts each";
  EXPECT_EQ(queue("healthy").delivered, 10);

  // The partner is fixed: the dead letters go again, in their order.
  refusing.set_answer("AA");
  const RunResult replay = command({"replay", "--dead", "--destination", "refusing"});
  EXPECT_EQ(replay.status, 0) << replay.out << replay.err;
  EXPECT_NE(replay.out.find("10 dead letters queued again"), std::string::npos) << replay.out;
  ASSERT_TRUE(eventually([&] { return queue("refusing").delivered == 10; }))
      << engine.process().err();
  const auto got = refusing.control_ids();
  EXPECT_EQ(std::vector<std::string>(got.end() - 10, got.end()), sent);

  const RunResult stats = command({"stats", "--json"});
  EXPECT_EQ(stats.status, 0) << stats.err;
  rapidjson::Document doc;
  doc.Parse(stats.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << stats.out;
  EXPECT_EQ(doc["destinations"]["refusing"]["delivered"].GetInt64(), 10);
  EXPECT_EQ(doc["destinations"]["refusing"]["dead"].GetInt64(), 0);
  EXPECT_EQ(doc["sources"]["adt-in"]["processed"].GetInt64(), 10);
  EXPECT_EQ(engine.stop(), 0);
}

TEST_P(DeliveryRun, OnProcessedAcksAfterTheMessageIsRouted) {
  MllpReceiver ehr;
  ASSERT_TRUE(ehr.start());
  RunningEngine engine(dir_, config("destinations:\n" + mllp_destination("ehr", ehr.port()) +
                                        "routes:\n"
                                        "  - {name: adt, message: 'ADT^*', destinations: [ehr]}\n",
                                    "on-processed"));
  ASSERT_TRUE(engine.ready());
  for (int i = 0; i < 5; ++i) {
    const std::string id = "OP-" + std::to_string(i);
    EXPECT_EQ(send(engine.port("adt-in"), {adt(id)}), std::vector<std::string>{"AA"});
    // When the ACK arrives, the message is already routed and its queue item committed.
    const auto s = states();
    EXPECT_EQ(s.count(store::MessageState::received), 0u) << id;
    EXPECT_EQ(s.at(store::MessageState::processed), i + 1);
  }
  EXPECT_EQ(engine.stop(), 0);
}

TEST_P(DeliveryRun, UndeliveredItemsResumeAfterARestart) {
  const std::uint16_t port = free_port();
  const std::string cfg = config("destinations:\n" + mllp_destination("ehr", port) +
                                 "routes:\n"
                                 "  - {name: adt, message: 'ADT^*', destinations: [ehr]}\n");
  const auto sent = ids("RS-", 20);
  {
    RunningEngine engine(dir_, cfg);
    ASSERT_TRUE(engine.ready());
    send(engine.port("adt-in"), adts(sent));
    ASSERT_TRUE(eventually([&] { return queue("ehr").pending == 20; }));
    EXPECT_EQ(engine.stop(), 0);
  }
  MllpReceiver ehr;
  ASSERT_TRUE(ehr.start(port));
  RunningEngine engine(dir_, cfg);
  ASSERT_TRUE(engine.ready());
  ASSERT_TRUE(eventually([&] { return ehr.count() >= sent.size(); })) << engine.process().err();
  EXPECT_EQ(ehr.control_ids(), sent) << "each once, in order";
  EXPECT_EQ(engine.stop(), 0);
}

TEST_P(DeliveryRun, FilteredMessagesReplayAfterARouteIsAdded) {
  MllpReceiver lab;
  ASSERT_TRUE(lab.start());
  const std::string dest = "destinations:\n" + mllp_destination("lis", lab.port());
  {
    RunningEngine engine(dir_,
                         config(dest + "routes:\n"
                                       "  - {name: adt, message: 'ADT^*', destinations: [lis]}\n"));
    ASSERT_TRUE(engine.ready());
    send(engine.port("adt-in"), {oru("ORU-1"), oru("ORU-2")});
    ASSERT_TRUE(eventually([&] {
      const auto s = states();
      return s.count(store::MessageState::filtered) && s.at(store::MessageState::filtered) == 2;
    }));
    EXPECT_EQ(engine.stop(), 0);
  }
  RunningEngine engine(
      dir_, config(dest + "routes:\n"
                          "  - {name: results, message: 'ORU^R01', destinations: [lis]}\n"));
  ASSERT_TRUE(engine.ready());
  const RunResult replay = command({"replay", "--filtered"});
  EXPECT_EQ(replay.status, 0) << replay.out << replay.err;
  ASSERT_TRUE(eventually([&] { return lab.count() >= 2; })) << engine.process().err();
  EXPECT_EQ(lab.control_ids(), (std::vector<std::string>{"ORU-1", "ORU-2"}));
  EXPECT_EQ(engine.stop(), 0);
}

TEST_P(DeliveryRun, ZeroMqSubscribersGetEachMessageUnderItsRouteTopic) {
  const std::uint16_t port = free_port();
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  RunningEngine engine(
      dir_, config("destinations:\n"
                   "  events: {type: zmq-pub, bind: '" +
                   endpoint +
                   "'}\n"
                   "routes:\n"
                   "  - {name: adt events, message: 'ADT^*', destinations: [events]}\n"));
  ASSERT_TRUE(engine.ready());
  zmq::context_t context;
  zmq::socket_t sub(context, zmq::socket_type::sub);
  sub.set(zmq::sockopt::subscribe, "adt events");
  sub.set(zmq::sockopt::rcvtimeo, 200);
  sub.connect(endpoint);
  // PUB drops what it sends before the subscription arrives: probe until one gets through.
  const auto receive = [&sub]() -> std::optional<std::pair<std::string, std::string>> {
    zmq::message_t topic;
    zmq::message_t body;
    if (!sub.recv(topic) || !sub.recv(body)) return std::nullopt;
    return std::make_pair(topic.to_string(), body.to_string());
  };
  bool joined = false;
  for (int i = 0; i < 50 && !joined; ++i) {
    send(engine.port("adt-in"), {adt("PROBE-" + std::to_string(i))});
    while (auto got = receive()) joined = true;
  }
  ASSERT_TRUE(joined) << engine.process().err();
  const auto sent = ids("ZMQ-", 10);
  send(engine.port("adt-in"), adts(sent));
  std::vector<std::string> got;
  const auto deadline = Clock::now() + 10s;
  while (got.size() < sent.size() && Clock::now() < deadline) {
    if (auto m = receive()) {
      EXPECT_EQ(m->first, "adt events");
      auto id = adapters::message_control_id(m->second);
      ASSERT_TRUE(id.ok());
      if (!std::string(*id).starts_with("PROBE-")) got.emplace_back(*id);
    }
  }
  EXPECT_EQ(got, sent);
  EXPECT_EQ(engine.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(Stores, DeliveryRun, ::testing::Values(Backend::sqlite, Backend::postgres),
                         backend_test_name);

}  // namespace
}  // namespace hims::test
