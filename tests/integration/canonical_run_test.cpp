// End to end into the HIMS: `hims-engine run` with the shipped sample configuration
// (samples/hims-engine.yaml: its sources, its routes and their mappings; only the addresses, the
// store and the outbox are the test's), every corpus message of the golden cases sent over MLLP
// to the source that takes its kind, and the canonical tables checked afterwards with SQL: every
// message processed (none errored), the rows of each kind there, each golden case's patient
// stored, events correlated with journal entries. On SQLite and on PostgreSQL when
// HIMS_TEST_POSTGRES_URL is set.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "adapters/mllp_client.hpp"
#include "engine/message_file.hpp"
#include "engine/store.hpp"
#include "engine/store_driver.hpp"
#include "tests/integration/backend_run.hpp"
#include "tests/support/corpus.hpp"
#include "tests/support/mllp_receiver.hpp"

namespace hims::test {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

// The source of the sample configuration that takes each mapping's messages.
std::string source_for(const std::string& mapping) {
  if (mapping == "adt" || mapping == "adt-merge") return "adt-in";
  if (mapping == "oru-r01" || mapping == "orm-o01" || mapping == "oml-o21") return "lab-results";
  return "departments-in";
}

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at)) {
    text.replace(at, from.size(), to);
    at += to.size();
  }
}

// A corpus message without MSH-10 gets one, as a sender's counter gives it (MLLP needs it).
std::string with_control_id(std::string message, std::size_t n) {
  const std::size_t end = std::min(message.find_first_of("\r\n"), message.size());
  std::size_t at = 0;
  int field = 0;  // "MSH|" is field 1's separator: MSH-10 follows the 9th '|'
  while (field < 9 && at < end) {
    at = message.find('|', at);
    if (at == std::string::npos || at >= end) break;
    ++at;
    ++field;
  }
  if (field < 9) {
    message.insert(end, std::string(9 - field, '|') + "E2E-" + std::to_string(n));
  } else if (at >= end || message[at] == '|' || message[at] == '\r' || message[at] == '\n') {
    message.insert(at, "E2E-" + std::to_string(n));
  }
  return message;
}

class CanonicalRun : public BackendRun {
 protected:
  CanonicalRun() : BackendRun("hims_canonical_run") {}

  // The sample configuration with the test's store, free ports, the EHR receiver's port, the
  // outbox in the temp dir and the mapping paths made absolute (the file is written elsewhere).
  std::string sample_config(std::uint16_t ehr_port) const {
    std::string text = slurp(source_dir() / "samples" / "hims-engine.yaml");
    replace_all(text, "store: sqlite:var/hims.db", "store: " + url_);
    for (const char* port : {"2575", "2577", "2578", "8080"}) {
      replace_all(text, std::string("listen: 127.0.0.1:") + port, "listen: 127.0.0.1:0");
    }
    replace_all(text, "connect: 127.0.0.1:2576", "connect: 127.0.0.1:" + std::to_string(ehr_port));
    replace_all(text, "dir: var/outbox/adt-archive", "dir: " + (dir_ / "outbox").string());
    replace_all(text, "map: ../mappings/", "map: " + (source_dir() / "mappings").string() + "/");
    return text;
  }

  store::Rows query(const std::string& sql) const {
    store::OpenOptions o;
    o.migrate = false;
    auto s = store::open_store(url_, o);
    EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message());
    return s.ok() ? test::query(**s, sql) : store::Rows{};
  }

  std::int64_t count(const std::string& sql) const {
    const store::Rows rows = query(sql);
    return rows.empty() || !rows[0][0] ? -1 : std::stoll(*rows[0][0]);
  }
};

TEST_P(CanonicalRun, SampleConfigPutsTheCorpusIntoTheCanonicalTables) {
  MllpReceiver ehr;
  ASSERT_TRUE(ehr.start());
  RunningEngine engine(dir_, sample_config(ehr.port()));
  ASSERT_TRUE(engine.ready());

  // Every corpus file of the golden cases, once, to its source; the MRN each case's patient has.
  const fs::path golden = source_dir() / "tests" / "data" / "golden" / "hl7v2";
  std::map<std::string, std::vector<std::string>> by_source;  // source -> messages
  std::set<std::string> files;
  std::set<std::string> mrns;
  for (const fs::path& input : files_under(golden, {".input"})) {
    std::string rel = slurp(input);
    while (!rel.empty() && (rel.back() == '\n' || rel.back() == '\r')) rel.pop_back();
    const std::string expected = slurp(fs::path(input).replace_extension(".json"));
    // The first patient's mrn in the golden rows: "mrn": "..." after "table": "patients".
    const auto table = expected.find("\"table\": \"patients\"");
    const auto key = expected.find("\"mrn\": \"", table);
    if (table != std::string::npos && key != std::string::npos) {
      const auto begin = key + 8;
      mrns.insert(expected.substr(begin, expected.find('"', begin) - begin));
    }
    if (!files.insert(rel).second) continue;
    auto split = engine::split_message_file(slurp(corpus_dir() / rel));
    ASSERT_TRUE(split.ok()) << rel;
    auto& out = by_source[source_for(input.parent_path().filename().string())];
    out.insert(out.end(), split->begin(), split->end());
  }
  std::size_t sent = 0;
  for (const auto& [source, messages] : by_source) {
    adapters::MllpClientConfig c;
    c.host = "127.0.0.1";
    c.port = engine.port(source);
    c.ack_timeout = 20s;
    auto client = adapters::MllpClient::create(c);
    ASSERT_TRUE(client.ok()) << source;
    for (const std::string& m : messages) {
      auto ack = client->send(with_control_id(m, sent));
      ASSERT_TRUE(ack.ok()) << source << ": " << (ack.ok() ? "" : ack.error().message());
      EXPECT_TRUE(ack->code == "AA" || ack->code == "CA") << source << ": " << ack->code;
      ++sent;
    }
  }
  ASSERT_GE(sent, 60u);
  // Processed, as the routes say: none left `received`.
  ASSERT_TRUE(eventually(
      [&] { return count("SELECT COUNT(*) FROM journal WHERE state = 'received'") == 0; }, 60s))
      << engine.process().err();
  EXPECT_EQ(engine.stop(), 0) << engine.process().err();

  const std::string errored = [&] {
    std::string out;
    for (const auto& row : query("SELECT id, error FROM journal WHERE state = 'errored'")) {
      out += *row[0] + ": " + row[1].value_or("") + "\n";
    }
    return out;
  }();
  EXPECT_EQ(errored, "") << "every corpus message of the golden cases maps and is stored";
  EXPECT_EQ(count("SELECT COUNT(*) FROM journal WHERE state = 'processed'"),
            count("SELECT COUNT(*) FROM journal"));
  for (const char* table :
       {"patients", "patient_identifiers", "organizations", "healthcare_providers", "consultations",
        "insurance_providers", "patient_insurance", "medical_records", "medical_conditions",
        "lab_orders", "lab_results", "vitals", "notifications", "prescriptions", "appointments",
        "billing_records"}) {
    EXPECT_GT(count(std::string("SELECT COUNT(*) FROM ") + table), 0) << table;
  }
  for (const std::string& mrn : mrns) {
    EXPECT_EQ(count("SELECT COUNT(*) FROM patients WHERE mrn = '" + mrn + "'"), 1) << mrn;
  }
  EXPECT_GT(count("SELECT COUNT(*) FROM patients WHERE merged_into_id IS NOT NULL"), 0);
  EXPECT_GT(count("SELECT COUNT(*) FROM prescriptions WHERE status = 'dispensed'"), 0);
  EXPECT_GT(count("SELECT COUNT(*) FROM medical_records WHERE record_type = 'note'"), 0);
  // Each row's message and each event's correlation name journal entries.
  EXPECT_EQ(count("SELECT COUNT(*) FROM patients WHERE source_message_id NOT IN (SELECT id FROM "
                  "journal)"),
            0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM domain_events WHERE correlation_id IS NULL OR "
                  "correlation_id NOT IN (SELECT id FROM journal)"),
            0);
  // The pass-through route still delivers every ADT to the EHR.
  EXPECT_EQ(static_cast<std::int64_t>(ehr.count()),
            count("SELECT COUNT(*) FROM journal WHERE message_type = 'ADT'"));
}

// A message the mapping cannot map is `errored` with the rule in its error (ACK AE with
// on-processed) and leaves no row; once the mapping is fixed, `replay --errored` on a restarted
// engine writes its rows.
TEST_P(CanonicalRun, ErroredMappingIsFixedThenReplayed) {
  const fs::path mapping = dir_ / "patients.yaml";
  const std::string strict = R"(mapping: patients
from: hl7v2
messages: ['ADT^*']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: PID-3.1, required: true}
      last_name: {path: PID-5.1, required: true}
      first_name: {path: PID-5.2, required: true}
)";
  std::string relaxed = strict;
  replace_all(relaxed, "first_name: {path: PID-5.2, required: true}",
              "first_name: {path: PID-5.2, insert_default: \"\"}");
  spit(mapping, strict);
  const std::string config = "store: " + url_ +
                             "\nsources:\n  adt-in:\n    type: mllp\n    listen: 127.0.0.1:0\n"
                             "    ack_mode: on-processed\nroutes:\n  - name: adt into hims\n"
                             "    map: " +
                             mapping.string() + "\n";
  const std::string newborn =
      "MSH|^~\\&|ADT|HOSP|HIMS|HOSP|20240101120000||ADT^A04|NB-1|P|2.5.1\r"
      "PID|1||NB100^^^HOSP^MR||BABYBOY\r";
  {
    RunningEngine engine(dir_, config);
    ASSERT_TRUE(engine.ready());
    adapters::MllpClientConfig c;
    c.host = "127.0.0.1";
    c.port = engine.port("adt-in");
    c.ack_timeout = 20s;
    auto client = adapters::MllpClient::create(c);
    ASSERT_TRUE(client.ok());
    auto ack = client->send(newborn);
    ASSERT_TRUE(ack.ok()) << ack.error().message();
    EXPECT_EQ(ack->code, "AE");
    EXPECT_EQ(engine.stop(), 0) << engine.process().err();
    EXPECT_EQ(engine.process().err().find("BABYBOY"), std::string::npos) << "no PHI in logs";
  }
  const store::Rows errored = query("SELECT error FROM journal WHERE state = 'errored'");
  ASSERT_EQ(errored.size(), 1u);
  EXPECT_NE(errored[0][0].value_or("").find("patient.first_name: PID-5.2 is empty"),
            std::string::npos)
      << errored[0][0].value_or("");
  EXPECT_EQ(count("SELECT COUNT(*) FROM patients"), 0);

  spit(mapping, relaxed);
  RunningEngine engine(dir_, config);
  ASSERT_TRUE(engine.ready());
  const RunResult replay =
      run_process({engine_binary().string(), "replay", "--errored", "--store", url_}, dir_);
  EXPECT_EQ(replay.status, 0) << replay.out << replay.err;
  ASSERT_TRUE(eventually(
      [&] { return count("SELECT COUNT(*) FROM journal WHERE state = 'processed'") == 1; }, 30s))
      << engine.process().err();
  EXPECT_EQ(count("SELECT COUNT(*) FROM patients WHERE mrn = 'NB100' AND first_name = ''"), 1);
  EXPECT_EQ(engine.stop(), 0) << engine.process().err();
}

INSTANTIATE_TEST_SUITE_P(Backends, CanonicalRun,
                         ::testing::Values(Backend::sqlite, Backend::postgres), backend_test_name);

}  // namespace
}  // namespace hims::test
