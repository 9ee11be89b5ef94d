// The durability contract under SIGKILL (DESIGN.md 5): the real binary takes messages from
// several MLLP connections and routes them to a partner (the MLLP server adapter in this process)
// while it is killed with SIGKILL at random moments, several times, and started again. Afterwards
// every message that received an AA is in the journal and reached the partner: zero lost. A
// message may reach the partner twice only when the engine died between delivering it and
// recording the delivery; the test counts those duplicates and reports them. Per connection the
// partner sees the messages in the order they were sent. On SQLite, and on PostgreSQL when
// HIMS_TEST_POSTGRES_URL is set.
#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/mllp_client.hpp"
#include "engine/store.hpp"
#include "tests/integration/backend_run.hpp"
#include "tests/support/mllp_receiver.hpp"

namespace hims::test {
namespace {

using namespace std::chrono_literals;

constexpr int kConnections = 4;
constexpr int kKills = 4;

std::string adt(const std::string& control_id) {
  return "MSH|^~\\&|ADT-APP|NORTH|HIMS|HOSP|20240101120000||ADT^A08^ADT_A01|" + control_id +
         "|P|2.5.1\rEVN|A08|20240101120000\rPID|1||" + control_id + "^^^HOSP^MR||DOE^JANE\r";
}

// "C2-17" -> {2, 17}
std::pair<int, int> parse_id(const std::string& id) {
  const auto dash = id.find('-');
  return {std::stoi(id.substr(1, dash - 1)), std::stoi(id.substr(dash + 1))};
}

class CrashRun : public BackendRun {
 protected:
  CrashRun() : BackendRun("hims_crash_run") {}
};

// Sends numbered messages on one connection until told to stop or the connection fails;
// records the control ids answered AA.
void send_until_failure(std::uint16_t port, int connection, std::atomic<int>& next,
                        std::atomic<bool>& stop, std::mutex& mutex, std::set<std::string>& acked) {
  adapters::MllpClientConfig c;
  c.host = "127.0.0.1";
  c.port = port;
  c.connect_attempts = 1;
  c.connect_timeout = 2s;
  c.ack_timeout = 5s;
  auto client = adapters::MllpClient::create(c);
  if (!client.ok()) return;
  while (!stop.load()) {
    const std::string id = "C" + std::to_string(connection) + "-" + std::to_string(next.load());
    auto ack = client->send(adt(id));
    if (!ack.ok()) return;  // the engine died: this one may or may not be journaled
    next.fetch_add(1);
    if (ack->accepted()) {
      std::lock_guard lock(mutex);
      acked.insert(id);
    }
  }
}

TEST_P(CrashRun, NoAcknowledgedMessageIsLostAcrossKills) {
  MllpReceiver partner;
  ASSERT_TRUE(partner.start());
  const std::string config = "store: " + url_ +
                             "\n"
                             "node: crash-node\n"
                             "log: {format: json, level: info}\n"
                             "sources:\n"
                             "  adt-in: {type: mllp, listen: 127.0.0.1:0}\n"
                             "destinations:\n"
                             "  ehr:\n"
                             "    type: mllp\n"
                             "    connect: 127.0.0.1:" +
                             std::to_string(partner.port()) +
                             "\n"
                             "    retry: {initial: 20ms, max: 200ms}\n"
                             "routes:\n"
                             "  - {name: adt, message: 'ADT^*', destinations: [ehr]}\n";

  std::mutex mutex;
  std::set<std::string> acked;
  std::array<std::atomic<int>, kConnections> next{};
  std::mt19937 random(std::random_device{}());
  for (int round = 0; round < kKills; ++round) {
    RunningEngine engine(dir_, config);
    ASSERT_TRUE(engine.ready()) << "round " << round;
    std::atomic<bool> stop{false};
    std::vector<std::thread> senders;
    for (int c = 0; c < kConnections; ++c) {
      senders.emplace_back(send_until_failure, engine.port("adt-in"), c,
                           std::ref(next[static_cast<std::size_t>(c)]), std::ref(stop),
                           std::ref(mutex), std::ref(acked));
    }
    std::this_thread::sleep_for(
        std::chrono::milliseconds(std::uniform_int_distribution<int>(150, 700)(random)));
    engine.process().kill_now();  // SIGKILL, mid-stream
    stop = true;
    for (auto& t : senders) t.join();
  }

  // Last start: recovery delivers what the kills left behind.
  RunningEngine engine(dir_, config);
  ASSERT_TRUE(engine.ready());
  std::set<std::string> expected;
  {
    std::lock_guard lock(mutex);
    expected = acked;
  }
  ASSERT_GT(expected.size(), 0u);
  const auto all_delivered = [&] {
    const auto got = partner.control_ids();
    const std::set<std::string> delivered(got.begin(), got.end());
    return std::includes(delivered.begin(), delivered.end(), expected.begin(), expected.end());
  };
  EXPECT_TRUE(eventually(all_delivered, 60s)) << engine.process().err();
  EXPECT_EQ(engine.stop(), 0);

  // Every acknowledged message is in the journal.
  store::OpenOptions o;
  o.migrate = false;
  auto store = store::open_store(url_, o);
  ASSERT_TRUE(store.ok()) << store.error().message();
  store::JournalFilter filter;
  filter.limit = 1'000'000;
  auto rows = (*store)->list(filter);
  ASSERT_TRUE(rows.ok());
  std::set<std::string> journaled;
  for (const auto& e : *rows) journaled.insert(e.control_id);
  std::size_t lost = 0;
  for (const auto& id : expected) {
    if (!journaled.count(id)) ++lost;
  }
  EXPECT_EQ(lost, 0u) << "acknowledged but not journaled";

  // Delivered: all of them; count duplicates; per connection in order of first arrival.
  const auto got = partner.control_ids();
  std::map<std::string, int> times;
  std::array<int, kConnections> last{};
  last.fill(-1);
  bool in_order = true;
  for (const auto& id : got) {
    if (++times[id] > 1) continue;
    const auto [connection, n] = parse_id(id);
    if (n <= last[static_cast<std::size_t>(connection)]) in_order = false;
    last[static_cast<std::size_t>(connection)] = n;
  }
  std::size_t duplicates = 0;
  std::size_t undelivered = 0;
  for (const auto& [id, n] : times) duplicates += static_cast<std::size_t>(n - 1);
  for (const auto& id : expected) {
    if (!times.count(id)) ++undelivered;
  }
  EXPECT_EQ(undelivered, 0u) << "acknowledged but never delivered";
  EXPECT_TRUE(in_order) << "per connection, the partner saw messages out of order";
  // Duplicates are allowed only for deliveries not yet recorded at a kill: at most a claimed
  // batch per kill. Reported for the closing note.
  RecordProperty("acknowledged", static_cast<int>(expected.size()));
  RecordProperty("journaled", static_cast<int>(journaled.size()));
  RecordProperty("delivered", static_cast<int>(got.size()));
  RecordProperty("duplicates", static_cast<int>(duplicates));
  std::printf(
      "[ crash ] %s: %zu acknowledged, %zu journaled, %zu deliveries, %zu duplicates, "
      "%d kills\n",
      backend_name(GetParam()), expected.size(), journaled.size(), got.size(), duplicates, kKills);
  EXPECT_LE(duplicates, static_cast<std::size_t>(kKills) * 256u);  // DeliveryOptions::max_batch
}

INSTANTIATE_TEST_SUITE_P(Backends, CrashRun, ::testing::Values(Backend::sqlite, Backend::postgres),
                         backend_test_name);

}  // namespace
}  // namespace hims::test
