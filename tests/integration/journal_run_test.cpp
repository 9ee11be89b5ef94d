// End to end: `hims-engine run` journals every MLLP message before acknowledging it. The real
// binary receives messages, is stopped with SIGTERM, and the journal is then read with the store
// API: every ACKed control id is there with its state (AA: filtered, as no route is configured; AR:
// rejected) and its raw bytes exactly as sent; a message re-sent within the duplicate window is
// ACKed again but journaled once. On SQLite in a temp dir, and on PostgreSQL when
// HIMS_TEST_POSTGRES_URL is set (a throwaway database per test, as in tests/engine/store_test.cpp).
#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "adapters/mllp_client.hpp"
#include "engine/store.hpp"
#include "tests/integration/backend_run.hpp"

namespace hims::test {
namespace {

std::string message(const std::string& control_id, const std::string& version = "2.5.1") {
  return "MSH|^~\\&|LAB-APP|LAB-FAC|HIMS|HOSP|20240101120000||ORU^R01^ORU_R01|" + control_id +
         "|P|" + version + "\rPID|1||12345^^^HOSP^MR||DOE^JANE\rOBR|1\rOBX|1|NM|GLU||5.4|mmol/L\r";
}

class JournalRun : public BackendRun {
 protected:
  JournalRun() : BackendRun("hims_journal_run") {}

  std::string config() const {
    return "store: " + url_ +
           "\n"
           "log: {format: json, level: debug}\n"
           "sources:\n"
           "  lab:\n"
           "    type: mllp\n"
           "    listen: 127.0.0.1:0\n"
           "    ack_mode: on-commit\n"
           "    duplicate_window: 5m\n";
  }
};

TEST_P(JournalRun, EveryAckedMessageIsJournaledRawWithItsState) {
  RunningEngine engine(dir_, config());
  ASSERT_TRUE(engine.ready());
  const std::uint16_t port = engine.port("lab");

  struct Sent {
    std::string bytes;
    std::string code;
  };
  std::map<std::string, Sent> sent;  // control id -> what was sent and the ACK code
  constexpr int kClients = 4;
  constexpr int kPerClient = 25;
  std::vector<adapters::MllpClient> clients;
  for (int c = 0; c < kClients; ++c) {
    auto client = adapters::MllpClient::create(mllp_client_config(port));
    ASSERT_TRUE(client.ok()) << client.error().message();
    clients.push_back(std::move(*client));
  }
  for (int i = 0; i < kPerClient; ++i) {
    for (int c = 0; c < kClients; ++c) {
      const std::string id = "J-" + std::to_string(c) + "-" + std::to_string(i);
      // Every tenth message names an unsupported version: AR, journaled as rejected.
      const std::string bytes = message(id, i % 10 == 9 ? "2.999" : "2.5.1");
      auto ack = clients[static_cast<std::size_t>(c)].send(bytes);
      ASSERT_TRUE(ack.ok()) << id << ": " << ack.error().message();
      EXPECT_EQ(ack->control_id, id);
      sent[id] = {bytes, ack->code};
    }
  }
  // The same message twice within the duplicate window: ACKed AA both times, journaled once.
  const std::string dup = message("DUP-1");
  for (int k = 0; k < 2; ++k) {
    auto ack = clients[0].send(dup);
    ASSERT_TRUE(ack.ok()) << ack.error().message();
    EXPECT_EQ(ack->code, "AA");
  }
  for (auto& c : clients) c.close();

  EXPECT_EQ(engine.stop(SIGTERM), 0) << engine.process().err();
  const std::string log = engine.process().err();
  EXPECT_NE(log.find("\"msg\":\"duplicate message acknowledged again\""), std::string::npos);
  EXPECT_EQ(log.find("DOE"), std::string::npos) << "no PHI in logs";

  auto store = store::open_store(url_);
  ASSERT_TRUE(store.ok()) << store.error().message();
  store::JournalFilter filter;
  filter.limit = 10'000;
  filter.with_raw = true;
  auto rows = (*store)->list(filter);
  ASSERT_TRUE(rows.ok()) << rows.error().message();

  std::map<std::string, int> count;
  std::size_t accepted = 0;
  std::size_t rejected = 0;
  for (const store::JournalEntry& e : *rows) {
    ++count[e.control_id];
    EXPECT_EQ(e.source, "lab");
    EXPECT_FALSE(e.peer.empty());
    if (e.control_id == "DUP-1") {
      EXPECT_EQ(e.raw, dup);
      EXPECT_EQ(e.state, store::MessageState::filtered);
      continue;
    }
    auto it = sent.find(e.control_id);
    ASSERT_NE(it, sent.end()) << "journaled but not sent: " << e.control_id;
    EXPECT_EQ(e.raw, it->second.bytes) << e.control_id;
    EXPECT_EQ(e.size, static_cast<std::int64_t>(it->second.bytes.size()));
    EXPECT_EQ(e.message_type, "ORU");
    EXPECT_EQ(e.trigger_event, "R01");
    EXPECT_EQ(e.sending_application, "LAB-APP");
    EXPECT_EQ(e.sending_facility, "LAB-FAC");
    if (it->second.code == "AA") {
      ++accepted;
      EXPECT_EQ(e.state, store::MessageState::filtered) << e.control_id;
      EXPECT_TRUE(e.error.empty());
    } else {
      ++rejected;
      EXPECT_EQ(it->second.code, "AR") << e.control_id;
      EXPECT_EQ(e.state, store::MessageState::rejected) << e.control_id;
      EXPECT_FALSE(e.error.empty()) << e.control_id;
    }
  }
  for (const auto& [id, s] : sent) EXPECT_EQ(count[id], 1) << "ACKed, not journaled once: " << id;
  EXPECT_EQ(count["DUP-1"], 1);
  EXPECT_EQ(accepted, static_cast<std::size_t>(kClients * (kPerClient - 2)));
  EXPECT_EQ(rejected, static_cast<std::size_t>(kClients * 2));
  EXPECT_EQ(rows->size(), sent.size() + 1);
}

INSTANTIATE_TEST_SUITE_P(Backends, JournalRun,
                         ::testing::Values(Backend::sqlite, Backend::postgres), backend_test_name);

TEST(JournalRunStart, UnopenableStoreExitsWith2) {
  TempDir dir;
  spit(dir / "not-a-dir", "x");
  spit(dir / "engine.yaml", "store: sqlite:" + (dir / "not-a-dir" / "hims.db").string() +
                                "\nsources:\n  lab: {type: mllp, listen: 127.0.0.1:0}\n");
  RunResult r = run_process({engine(), "run", "--config", (dir / "engine.yaml").string(),
                             "--ready-file", (dir / "ready.json").string()},
                            dir);
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("store cannot be opened"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "ready.json"));
}

}  // namespace
}  // namespace hims::test
