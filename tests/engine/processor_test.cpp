// The processing stage: route_message (no store) and the Processor against both backends (SQLite
// on a temporary file, PostgreSQL on the server HIMS_TEST_POSTGRES_URL names; skipped when unset),
// each test in its own database. Entries are appended with a store of the test's own, then handed
// over with submit() or left for the start-up scan. No test sleeps to assert: completions and
// store states are awaited with deadlines; commit failures are injected by a driver wrapper.
#include "engine/processor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "engine/mapping.hpp"
#include "engine/store_driver.hpp"
#include "tests/support/completions.hpp"
#include "tests/support/forwarding_driver.hpp"
#include "tests/support/test_store.hpp"

namespace hims::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using store::JournalId;
using store::MessageState;
using store::TimePoint;
using test::Backend;

const TimePoint kT0{seconds(1'700'000'000)};
constexpr seconds kDeadline{30};

std::string oru(const std::string& control_id, const std::string& terminator = "\r") {
  return "MSH|^~\\&|LAB|ACME|HIMS|HIMS|20240101||ORU^R01|" + control_id + "|P|2.5" + terminator +
         "PID|1||123^^^H^MR" + terminator + "OBX|1|NM|GLU^Glucose||5.5" + terminator;
}

std::string adt(const std::string& control_id) {
  return "MSH|^~\\&|REG|ACME|HIMS|HIMS|20240101||ADT^A01|" + control_id + "|P|2.5\rPID|1||9\r";
}

const char* const kNotHl7 = "this is not an HL7 message";

// A route's mapping (compiled, as the config loader sets RouteSpec::compiled_mapping) of the
// patient of an ORU^R01; `with_gender` takes PID-8 as sent, so the store's CHECK refuses an
// unknown code. The patient entity is at line 5.
std::shared_ptr<const Mapping> patient_mapping(const std::string& name, const std::string& file,
                                               bool with_gender) {
  std::string text = "mapping: " + name + R"(
from: hl7v2
messages: ['ORU^R01']
entities:
  - as: patient
    table: patients
    key: [mrn]
    columns:
      mrn: {path: PID-3.1, required: true}
      last_name: {path: PID-5.1, required: true}
      first_name: {path: PID-5.2, default: X}
)";
  if (with_gender) text += "      gender: PID-8\n";
  auto m = load_mapping_text(text, file);
  EXPECT_TRUE(m.ok()) << (m.ok() ? "" : m.error().message());
  return m.ok() ? std::make_shared<const Mapping>(std::move(*m)) : nullptr;
}

RouteSpec route(std::string name, std::vector<std::string> message,
                std::vector<std::string> destinations, std::vector<std::string> from = {}) {
  RouteSpec r;
  r.name = std::move(name);
  r.message = std::move(message);
  r.destinations = std::move(destinations);
  r.from = std::move(from);
  return r;
}

std::shared_ptr<const Router> make_router(std::vector<RouteSpec> routes) {
  RouterBuild built = Router::build(std::move(routes));
  for (const RouteProblem& p : built.problems) ADD_FAILURE() << p.to_string();
  if (!built.router) return std::make_shared<const Router>();
  return std::make_shared<const Router>(std::move(*built.router));
}

// ORU^R01 to lab-mllp and archive; every message from the `adt` source to ehr and archive.
std::shared_ptr<const Router> lab_router() {
  return make_router({route("lab results", {"ORU^R01"}, {"lab-mllp", "archive"}),
                      route("adt feed", {"ADT^*"}, {"ehr", "archive"}, {"adt"})});
}

std::vector<std::string> destinations_of(const RoutedMessage& r) {
  std::vector<std::string> out;
  for (const auto& item : r.items) out.push_back(item.destination);
  return out;
}

// --- route_message -------------------------------------------------------------------------

TEST(RouteMessage, FilteredWhenNoRouteMatches) {
  auto router = lab_router();
  const RoutedMessage r = route_message(*router, "lab", adt("A1"), kT0);  // adt feed: source adt
  EXPECT_EQ(r.outcome.state, MessageState::filtered);
  EXPECT_EQ(r.outcome.detail, "no route matched");
  EXPECT_TRUE(r.items.empty());
  EXPECT_TRUE(r.routes.empty());
}

TEST(RouteMessage, FilteredWithNoRoutesAtAll) {
  auto router = make_router({});
  const RoutedMessage r = route_message(*router, "lab", oru("C1"), kT0);
  EXPECT_EQ(r.outcome.state, MessageState::filtered);
  EXPECT_TRUE(r.items.empty());
}

TEST(RouteMessage, ErroredWhenTheMessageDoesNotParse) {
  auto router = lab_router();
  for (const std::string& raw :
       {std::string(kNotHl7), std::string(), "PID|1||123\r" + oru("C1"), std::string("MSH")}) {
    const RoutedMessage r = route_message(*router, "lab", raw, kT0);
    EXPECT_EQ(r.outcome.state, MessageState::errored) << raw;
    EXPECT_TRUE(r.outcome.detail.starts_with("the message does not parse: ")) << r.outcome.detail;
    EXPECT_GT(r.outcome.detail.size(), std::string("the message does not parse: ").size());
    EXPECT_TRUE(r.items.empty());
    EXPECT_TRUE(r.routes.empty());
  }
  // The reason names what is wrong.
  const RoutedMessage r = route_message(*router, "lab", "PID|1||123\r" + oru("C1"), kT0);
  EXPECT_NE(r.outcome.detail.find("not MSH"), std::string::npos) << r.outcome.detail;
}

TEST(RouteMessage, ProcessedWithOneItemPerDestination) {
  auto router = lab_router();
  const RoutedMessage r = route_message(*router, "lab", oru("C1"), kT0);
  EXPECT_EQ(r.outcome.state, MessageState::processed);
  EXPECT_EQ(r.outcome.detail, "");
  EXPECT_EQ(destinations_of(r), (std::vector<std::string>{"lab-mllp", "archive"}));
  EXPECT_EQ(r.routes, (std::vector<std::uint32_t>{0}));
  for (const auto& item : r.items) {
    EXPECT_EQ(item.route, "lab results");
    EXPECT_EQ(item.source, "lab");
    EXPECT_EQ(item.not_before, kT0);
    EXPECT_EQ(item.payload, oru("C1"));
  }
}

TEST(RouteMessage, TwoRoutesToOneDestinationGiveOneItemNamedAfterTheFirstRoute) {
  auto router = make_router({route("lab results", {"ORU^R01"}, {"lab-mllp", "archive"}),
                             route("everything", {}, {"archive", "ehr"}),
                             route("lab again", {"ORU^*"}, {"lab-mllp"})});
  const RoutedMessage r = route_message(*router, "lab", oru("C1"), kT0);
  EXPECT_EQ(r.outcome.state, MessageState::processed);
  EXPECT_EQ(r.routes, (std::vector<std::uint32_t>{0, 1, 2}));
  ASSERT_EQ(destinations_of(r), (std::vector<std::string>{"lab-mllp", "archive", "ehr"}));
  EXPECT_EQ(r.items[0].route, "lab results");
  EXPECT_EQ(r.items[1].route, "lab results") << "archive: the first route naming it";
  EXPECT_EQ(r.items[2].route, "everything");
}

TEST(RouteMessage, SourceFilterSelectsTheRoute) {
  auto router = lab_router();
  const RoutedMessage r = route_message(*router, "adt", adt("A1"), kT0);
  EXPECT_EQ(r.outcome.state, MessageState::processed);
  EXPECT_EQ(r.routes, (std::vector<std::uint32_t>{1}));
  ASSERT_EQ(destinations_of(r), (std::vector<std::string>{"ehr", "archive"}));
  EXPECT_EQ(r.items[0].source, "adt");
  EXPECT_EQ(r.items[0].route, "adt feed");
}

TEST(RouteMessage, PayloadHasCrTerminators) {
  auto router = lab_router();
  const std::string expected = oru("C1", "\r");
  const std::string inputs[] = {
      oru("C1", "\n"),
      oru("C1", "\r\n"),
      // mixed, and no final terminator
      "MSH|^~\\&|LAB|ACME|HIMS|HIMS|20240101||ORU^R01|C1|P|2.5\nPID|1||123^^^H^MR\r\n"
      "OBX|1|NM|GLU^Glucose||5.5",
      // a UTF-8 BOM and leading blank lines before MSH are dropped
      "\xEF\xBB\xBF\r\n\r\n" + oru("C1", "\r\n"),
  };
  for (const std::string& raw : inputs) {
    const RoutedMessage r = route_message(*router, "lab", raw, kT0);
    ASSERT_EQ(r.outcome.state, MessageState::processed) << r.outcome.detail;
    ASSERT_EQ(r.items.size(), 2u);
    for (const auto& item : r.items) EXPECT_EQ(item.payload, expected);
  }
}

// --- Processor -----------------------------------------------------------------------------

using Outcomes = test::CompletionRecorder<ProcessOutcome>;
using Latch = test::CompletionLatch<ProcessOutcome>;

// Every call of on_enqueued, in order.
class Enqueued {
 public:
  std::function<void(const std::vector<std::string>&)> callback() {
    return [this](const std::vector<std::string>& destinations) {
      std::lock_guard lock(mutex_);
      calls_.push_back(destinations);
      cv_.notify_all();
    };
  }
  bool wait(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kDeadline, [&] { return calls_.size() >= n; });
  }
  std::vector<std::vector<std::string>> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::vector<std::string>> calls_;
};

// What the driver wrapper below is told and counts: fail every commit while set; statements run.
struct Faults {
  std::atomic<bool> fail_commits{false};
  std::atomic<int> queries{0};
};

// Counts the statements and fails every commit while told to.
class FlakyDriver final : public test::ForwardingDriver {
 public:
  FlakyDriver(std::unique_ptr<store::Driver> inner, Faults* faults)
      : ForwardingDriver(std::move(inner)), faults_(faults) {}
  Result<store::Rows> query(std::string_view sql, std::span<const store::Param> params) override {
    auto rows = ForwardingDriver::query(sql, params);
    ++faults_->queries;
    return rows;
  }
  Result<store::Rows> query_unprepared(std::string_view sql,
                                       std::span<const store::Param> params) override {
    auto rows = ForwardingDriver::query_unprepared(sql, params);
    ++faults_->queries;
    return rows;
  }
  Status commit() override {
    if (faults_->fail_commits) {
      return Error(store::StoreErrc::query_failed, "commit", "injected: fsync failed");
    }
    return ForwardingDriver::commit();
  }

 private:
  Faults* faults_;
};

class ProcessorTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<test::ThrowawayStore>(GetParam(), "hims_processor_test");
    if (db_->skipped()) GTEST_SKIP() << test::kPostgresSkipped;
    url_ = db_->url();
    store_ = open();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  std::unique_ptr<store::Store> open() {
    auto r = store::open_store(url_);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // No idle rescans unless a test asks: entries appended during a test reach the processor only
  // through submit().
  static ProcessorOptions quiet() {
    ProcessorOptions o;
    o.rescan_interval = seconds(600);
    return o;
  }

  // A processor on its own connection (the real backend behind a driver wrapper that counts
  // statements and can fail commits). With `after_scan`, returns once its start-up scan read the
  // journal, so entries appended afterwards are not seen by that scan.
  std::unique_ptr<Processor> processor(ProcessorOptions options = quiet(), bool after_scan = true,
                                       std::shared_ptr<const Router> router = lab_router()) {
    auto driver = GetParam() == Backend::sqlite
                      ? store::open_sqlite_driver(db_->sqlite_path().string(), {})
                      : store::open_postgres_driver(url_, {});
    EXPECT_TRUE(driver.ok()) << driver.error().message();
    if (!driver.ok()) return nullptr;
    auto s = std::make_unique<store::Store>(
        std::make_unique<FlakyDriver>(std::move(*driver), &faults_), "processor-test");
    auto p = std::make_unique<Processor>(std::move(s), std::move(router), std::move(options));
    if (after_scan) {
      const auto deadline = std::chrono::steady_clock::now() + kDeadline;
      while (faults_.queries == 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(milliseconds(1));
      }
      EXPECT_GT(faults_.queries, 0) << "the start-up scan did not run";
    }
    return p;
  }

  // Journals `raw` as received; returns its id.
  JournalId append(std::string raw, std::string source = "lab") {
    store::NewJournalEntry e;
    e.raw = std::move(raw);
    e.source = std::move(source);
    e.peer = "127.0.0.1:50000";
    e.received_at = kT0;
    auto ids = store_->append(std::span(&e, 1));
    EXPECT_TRUE(ids.ok()) << ids.error().message();
    return ids.ok() && ids->size() == 1 ? (*ids)[0] : 0;
  }

  std::optional<store::JournalEntry> entry(JournalId id) {
    auto e = store_->get(id);
    EXPECT_TRUE(e.ok()) << e.error().message();
    return e.ok() ? *e : std::nullopt;
  }

  MessageState state(JournalId id) {
    auto e = entry(id);
    return e ? e->state : MessageState::rejected;
  }

  // Waits until every entry left `received`.
  bool wait_processed(const std::vector<JournalId>& ids) {
    const auto deadline = std::chrono::steady_clock::now() + kDeadline;
    for (;;) {
      const bool all = std::all_of(ids.begin(), ids.end(), [&](JournalId id) {
        return state(id) != MessageState::received;
      });
      if (all) return true;
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(milliseconds(5));
    }
  }

  std::vector<store::QueueItem> queue(const std::string& destination) {
    store::QueueFilter f;
    f.destination = destination;
    f.limit = 10'000;
    f.with_payload = true;
    auto items = store_->list_queue(f);
    EXPECT_TRUE(items.ok()) << items.error().message();
    return items.ok() ? *items : std::vector<store::QueueItem>{};
  }

  std::string url_;
  std::unique_ptr<test::ThrowawayStore> db_;
  std::unique_ptr<store::Store> store_;
  Faults faults_;  // of the processors' connections
};

TEST_P(ProcessorTest, SubmittedEntriesGetTheirStateAndQueueItems) {
  Outcomes o(3);
  auto p = processor();
  ASSERT_NE(p, nullptr);
  const JournalId lab = append(oru("C1", "\n"));
  const JournalId other = append(adt("A1"));  // source lab: no route
  const JournalId bad = append(kNotHl7);
  p->submit(lab, "lab", oru("C1", "\n"), o.at(0));
  p->submit(other, "lab", adt("A1"), o.at(1));
  p->submit(bad, "lab", kNotHl7, o.at(2));
  ASSERT_TRUE(o.wait(3));

  ASSERT_TRUE(o.result(0).ok()) << o.result(0).error().message();
  EXPECT_EQ(o.result(0)->state, MessageState::processed);
  ASSERT_TRUE(o.result(1).ok());
  EXPECT_EQ(o.result(1)->state, MessageState::filtered);
  EXPECT_EQ(o.result(1)->detail, "no route matched");
  ASSERT_TRUE(o.result(2).ok());
  EXPECT_EQ(o.result(2)->state, MessageState::errored);
  EXPECT_TRUE(o.result(2)->detail.starts_with("the message does not parse")) << o.result(2)->detail;

  // The completion runs after the commit: the store already holds the outcome.
  EXPECT_EQ(state(lab), MessageState::processed);
  EXPECT_EQ(state(other), MessageState::filtered);
  auto errored = entry(bad);
  ASSERT_TRUE(errored.has_value());
  EXPECT_EQ(errored->state, MessageState::errored);
  EXPECT_EQ(errored->error, o.result(2)->detail);
  auto history = store_->history(other);
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 2u);
  EXPECT_EQ(history->back().to, MessageState::filtered);
  EXPECT_EQ(history->back().detail, "no route matched");

  for (const char* destination : {"lab-mllp", "archive"}) {
    const auto items = queue(destination);
    ASSERT_EQ(items.size(), 1u) << destination;
    EXPECT_EQ(items[0].journal_id, lab);
    EXPECT_EQ(items[0].payload, oru("C1", "\r")) << "LF terminators become CR";
    EXPECT_EQ(items[0].route, "lab results");
    EXPECT_EQ(items[0].source, "lab");
    EXPECT_EQ(items[0].status, store::QueueItemStatus::pending);
  }
  EXPECT_TRUE(queue("ehr").empty());

  p->stop();
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(o.calls(i), 1) << i;
  const auto stats = p->stats();
  EXPECT_EQ(stats.processed, 1u);
  EXPECT_EQ(stats.filtered, 1u);
  EXPECT_EQ(stats.errored, 1u);
  EXPECT_EQ(stats.skipped, 0u);
  EXPECT_EQ(stats.failed_batches, 0u);
}

// A route with a mapping: the rows commit with the entry's state and queue items; a message the
// mapping cannot map, or whose row the store refuses, is errored with the rule in the detail,
// queues nothing and leaves no row; an entry processed twice writes nothing twice.
TEST_P(ProcessorTest, MappedRouteWritesCanonicalRowsWithTheState) {
  RouteSpec mapped = route("lab results", {"ORU^R01"}, {"archive"});
  mapped.mapping = "lab.yaml";
  mapped.compiled_mapping = patient_mapping("lab-patients", "lab.yaml", true);
  ASSERT_NE(mapped.compiled_mapping, nullptr);
  auto p = processor(quiet(), true, make_router({mapped}));
  ASSERT_NE(p, nullptr);
  std::string good =
      "MSH|^~\\&|LAB|ACME|HIMS|HIMS|20240101||ORU^R01|C1|P|2.5\rPID|1||123||DOE^JANE\r";
  std::string no_name = "MSH|^~\\&|LAB|ACME|HIMS|HIMS|20240101||ORU^R01|C2|P|2.5\rPID|1||124\r";
  std::string bad_gender =
      "MSH|^~\\&|LAB|ACME|HIMS|HIMS|20240101||ORU^R01|C3|P|2.5\rPID|1||125||ROE^RICK|||Q\r";
  Outcomes o(4);
  const JournalId a = append(good);
  const JournalId b = append(no_name);
  const JournalId c = append(bad_gender);
  p->submit(a, "lab", good, o.at(0));
  p->submit(b, "lab", no_name, o.at(1));
  p->submit(c, "lab", bad_gender, o.at(2));
  p->submit(a, "lab", good, o.at(3));  // twice
  ASSERT_TRUE(o.wait(4));
  ASSERT_TRUE(o.result(0).ok());
  EXPECT_EQ(o.result(0)->state, MessageState::processed);
  ASSERT_TRUE(o.result(1).ok());
  EXPECT_EQ(o.result(1)->state, MessageState::errored);
  EXPECT_NE(o.result(1)->detail.find("route 'lab results', mapping 'lab-patients'"),
            std::string::npos)
      << o.result(1)->detail;
  EXPECT_NE(o.result(1)->detail.find("patient.last_name: PID-5.1 is empty"), std::string::npos)
      << o.result(1)->detail;
  ASSERT_TRUE(o.result(2).ok());
  EXPECT_EQ(o.result(2)->state, MessageState::errored);
  EXPECT_NE(o.result(2)->detail.find("lab.yaml:5 patient (patients)"), std::string::npos)
      << o.result(2)->detail;
  EXPECT_EQ(entry(c)->error, o.result(2)->detail);
  EXPECT_EQ(queue("archive").size(), 1u);  // only the processed one
  const std::int64_t patients = test::count(*store_, "SELECT COUNT(*) FROM patients");
  const std::int64_t events = test::count(
      *store_, "SELECT COUNT(*) FROM domain_events WHERE correlation_id = " + std::to_string(a));
  EXPECT_EQ(patients, 1);
  EXPECT_EQ(events, 1);
  p->stop();
  EXPECT_EQ(p->stats().canonical_rows, 1u);
}

// Two routes map one message: when the second route's row is refused, the first route's rows go
// too (the message is errored and leaves nothing).
TEST_P(ProcessorTest, SeveralMappedRoutesWriteAllTheirRowsOrNone) {
  RouteSpec first = route("patients", {"ORU^R01"}, {"archive"});
  first.mapping = "patients.yaml";
  first.compiled_mapping = patient_mapping("patients", "patients.yaml", false);
  RouteSpec second = route("genders", {"ORU^R01"}, {});
  second.mapping = "genders.yaml";
  second.compiled_mapping = patient_mapping("genders", "genders.yaml", true);
  ASSERT_TRUE(first.compiled_mapping && second.compiled_mapping);
  auto p = processor(quiet(), true, make_router({first, second}));
  ASSERT_NE(p, nullptr);
  const std::string good =
      "MSH|^~\\&|LAB|ACME|HIMS|HIMS|20240101||ORU^R01|C1|P|2.5\rPID|1||200||DOE^JANE|||female\r";
  const std::string bad =
      "MSH|^~\\&|LAB|ACME|HIMS|HIMS|20240101||ORU^R01|C2|P|2.5\rPID|1||201||ROE^RICK|||Q\r";
  Outcomes o(2);
  const JournalId a = append(good);
  const JournalId b = append(bad);
  p->submit(a, "lab", good, o.at(0));
  p->submit(b, "lab", bad, o.at(1));
  ASSERT_TRUE(o.wait(2));
  ASSERT_TRUE(o.result(0).ok() && o.result(1).ok());
  EXPECT_EQ(o.result(0)->state, MessageState::processed);
  EXPECT_EQ(o.result(1)->state, MessageState::errored);
  EXPECT_NE(o.result(1)->detail.find("genders.yaml"), std::string::npos) << o.result(1)->detail;
  std::vector<std::string> mrns;
  for (const auto& row : test::query(*store_, "SELECT mrn FROM patients ORDER BY mrn")) {
    mrns.push_back(row[0].value_or(""));
  }
  EXPECT_EQ(mrns, std::vector<std::string>{"200"});
  EXPECT_EQ(queue("archive").size(), 1u);
}

TEST_P(ProcessorTest, CountsOutcomesInMetrics) {
  metrics::Registry registry;
  ProcessorOptions options = quiet();
  options.metrics = &registry;
  Outcomes o(2);
  auto p = processor(options);
  ASSERT_NE(p, nullptr);
  const JournalId lab = append(oru("C1"));
  const JournalId other = append(adt("A1"));
  p->submit(lab, "lab", oru("C1"), o.at(0));
  p->submit(other, "lab", adt("A1"), o.at(1));
  ASSERT_TRUE(o.wait(2));
  p->stop();
  const std::string text = registry.render();
  EXPECT_NE(text.find("hims_processed_total{outcome=\"processed\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("hims_processed_total{outcome=\"filtered\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("hims_route_received_total{route=\"lab results\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hims_route_queued_total{route=\"lab results\"} 2"), std::string::npos)
      << text;
}

TEST_P(ProcessorTest, EntrySubmittedTwiceIsProcessedOnce) {
  Outcomes o(3);
  auto p = processor();
  ASSERT_NE(p, nullptr);
  const JournalId id = append(oru("C1"));
  p->submit(id, "lab", oru("C1"), o.at(0));
  p->submit(id, "lab", oru("C1"), o.at(1));  // most likely the same batch
  ASSERT_TRUE(o.wait(2));
  p->submit(id, "lab", oru("C1"), o.at(2));  // a later batch
  ASSERT_TRUE(o.wait(3));
  p->stop();
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(o.calls(i), 1) << i;
    ASSERT_TRUE(o.result(i).ok()) << i;
    EXPECT_EQ(o.result(i)->state, MessageState::processed) << i;
  }
  EXPECT_EQ(queue("lab-mllp").size(), 1u);
  EXPECT_EQ(queue("archive").size(), 1u);
  const auto stats = p->stats();
  EXPECT_EQ(stats.processed, 1u);
  EXPECT_EQ(stats.skipped, 2u);
  auto history = store_->history(id);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u) << "received, processed: one state change";
}

TEST_P(ProcessorTest, ScanAtStartRecoversReceivedEntries) {
  std::vector<JournalId> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(append(oru("R" + std::to_string(i))));
  const JournalId bad = append(kNotHl7);
  ids.push_back(bad);
  ProcessorOptions options = quiet();  // only the start-up scan (and its follow-ups) run
  options.max_batch = 3;               // the scan takes several batches
  auto p = processor(options, /*after_scan=*/false);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(wait_processed(ids));
  for (std::size_t i = 0; i + 1 < ids.size(); ++i) {
    EXPECT_EQ(state(ids[i]), MessageState::processed) << i;
  }
  EXPECT_EQ(state(bad), MessageState::errored);
  const auto items = queue("lab-mllp");
  ASSERT_EQ(items.size(), 7u);
  for (std::size_t i = 0; i < items.size(); ++i) {
    EXPECT_EQ(items[i].journal_id, ids[i]) << "queue items follow the journal order";
    EXPECT_EQ(items[i].payload, oru("R" + std::to_string(i)));
  }
  p->stop();
  EXPECT_EQ(p->stats().processed, 7u);
  EXPECT_EQ(p->stats().errored, 1u);
}

TEST_P(ProcessorTest, RescanPicksUpEntriesPutBackByReplay) {
  const JournalId id = append(adt("A1"));
  ProcessorOptions options;
  options.rescan_interval = milliseconds(20);
  auto p = processor(options, /*after_scan=*/false);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(wait_processed({id}));
  ASSERT_EQ(state(id), MessageState::filtered);
  // `hims-engine replay`: back to received; the next idle scan routes it again.
  auto back = store_->reprocess(id, kT0 + seconds(1), "replay");
  ASSERT_TRUE(back.ok()) << back.error().message();
  ASSERT_EQ(*back, 1);
  ASSERT_TRUE(wait_processed({id}));
  EXPECT_EQ(state(id), MessageState::filtered);
  p->stop();
  EXPECT_EQ(p->stats().filtered, 2u);
}

TEST_P(ProcessorTest, EntrySubmittedAndFoundByTheScanIsProcessedOnce) {
  constexpr std::size_t kN = 5;
  std::vector<JournalId> ids;
  for (std::size_t i = 0; i < kN; ++i) ids.push_back(append(oru("S" + std::to_string(i))));
  Outcomes o(kN);
  auto p = processor(quiet(), /*after_scan=*/false);
  ASSERT_NE(p, nullptr);
  // The start-up scan runs before the submitted work is looked at: each entry is seen twice.
  for (std::size_t i = 0; i < kN; ++i)
    p->submit(ids[i], "lab", oru("S" + std::to_string(i)), o.at(i));
  ASSERT_TRUE(o.wait(kN));
  p->stop();
  for (std::size_t i = 0; i < kN; ++i) {
    EXPECT_EQ(o.calls(i), 1) << i;
    ASSERT_TRUE(o.result(i).ok());
    EXPECT_EQ(o.result(i)->state, MessageState::processed);
    EXPECT_EQ(state(ids[i]), MessageState::processed);
  }
  EXPECT_EQ(queue("lab-mllp").size(), kN);
  EXPECT_EQ(queue("archive").size(), kN);
  const auto stats = p->stats();
  EXPECT_EQ(stats.processed, kN);
  EXPECT_EQ(stats.skipped, kN);
}

// An entry already processed by a scan, then submitted: the completion must tell what the store
// recorded (the on-processed ACK answers AE for an errored message), not "processed".
// Fails today: Processor::process() answers a skipped entry with ProcessOutcome{processed, ""}.
// Proposed fix (engine/processor.cpp, the `!d.applied` branch): report the recorded state, e.g.
// `batch[i].done(d.routed.outcome)` (routing is pure: the same router gives the same outcome), or
// read the entry back with store_->get() and pass its state and error.
TEST_P(ProcessorTest, SkippedEntryReportsItsRecordedOutcome) {
  const JournalId bad = append(kNotHl7);
  const JournalId other = append(adt("A1"));
  Outcomes o(2);
  auto p = processor(quiet(), /*after_scan=*/false);
  ASSERT_NE(p, nullptr);
  ASSERT_TRUE(wait_processed({bad, other}));  // the start-up scan
  p->submit(bad, "lab", kNotHl7, o.at(0));
  p->submit(other, "lab", adt("A1"), o.at(1));
  ASSERT_TRUE(o.wait(2));
  p->stop();
  EXPECT_EQ(p->stats().skipped, 2u);
  ASSERT_TRUE(o.result(0).ok());
  EXPECT_EQ(o.result(0)->state, MessageState::errored);
  EXPECT_TRUE(o.result(0)->detail.starts_with("the message does not parse")) << o.result(0)->detail;
  ASSERT_TRUE(o.result(1).ok());
  EXPECT_EQ(o.result(1)->state, MessageState::filtered);
}

TEST_P(ProcessorTest, OnEnqueuedGetsTheDestinationsOfEachCommit) {
  Enqueued enqueued;
  ProcessorOptions options = quiet();
  options.on_enqueued = enqueued.callback();
  Outcomes o(2);
  auto p = processor(options);
  ASSERT_NE(p, nullptr);
  const JournalId lab = append(oru("C1"));
  const JournalId adt_entry = append(adt("A1"), "adt");
  const JournalId other = append(adt("A2"));  // filtered
  Latch latch;  // hold the first batch, so the other two share the next one
  p->submit(lab, "lab", oru("C1"), latch.blocker());
  ASSERT_TRUE(latch.wait_entered());
  p->submit(adt_entry, "adt", adt("A1"), o.at(0));
  p->submit(other, "lab", adt("A2"), o.at(1));
  latch.release();
  ASSERT_TRUE(o.wait(2));
  p->stop();  // on_enqueued runs after the completions: join before looking
  const auto calls = enqueued.calls();
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0], (std::vector<std::string>{"lab-mllp", "archive"}));
  EXPECT_EQ(calls[1], (std::vector<std::string>{"ehr", "archive"})) << "each destination once";
}

TEST_P(ProcessorTest, OnEnqueuedIsNotCalledWhenNothingWasQueued) {
  Enqueued enqueued;
  ProcessorOptions options = quiet();
  options.on_enqueued = enqueued.callback();
  Outcomes o(2);
  auto p = processor(options);
  ASSERT_NE(p, nullptr);
  const JournalId other = append(adt("A1"));
  const JournalId bad = append(kNotHl7);
  p->submit(other, "lab", adt("A1"), o.at(0));
  p->submit(bad, "lab", kNotHl7, o.at(1));
  ASSERT_TRUE(o.wait(2));
  p->stop();
  EXPECT_TRUE(enqueued.calls().empty());
}

// stop() finishes the batch in hand and leaves the queued rest `received` (the next start's scan
// takes it), answering each completion with ProcessErrc::stopped instead of draining a backlog.
TEST_P(ProcessorTest, StopFinishesTheBatchInHandAndLeavesTheRestReceived) {
  constexpr std::size_t kN = 20;
  ProcessorOptions options = quiet();
  options.max_batch = 4;
  Outcomes o(kN);
  auto p = processor(options);
  ASSERT_NE(p, nullptr);
  // Hold the processing thread in a completion while the work piles up.
  const JournalId hold = append(adt("HOLD"));
  Latch latch;
  p->submit(hold, "lab", adt("HOLD"), latch.blocker());
  ASSERT_TRUE(latch.wait_entered());
  std::vector<JournalId> fresh;
  for (std::size_t i = 0; i < kN; ++i) fresh.push_back(append(adt("F" + std::to_string(i))));
  for (std::size_t i = 0; i < kN; ++i)
    p->submit(fresh[i], "lab", adt("F" + std::to_string(i)), o.at(i));
  auto stopper = std::async(std::launch::async, [&] { p->stop(); });
  // Give stop() a moment to mark the processor stopping (not an assertion), then let it go.
  EXPECT_EQ(stopper.wait_for(milliseconds(50)), std::future_status::timeout)
      << "stop() returned while the processing thread was held";
  latch.release();
  ASSERT_EQ(stopper.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(state(hold), MessageState::filtered) << "the batch in hand was committed";
  EXPECT_EQ(o.done(), kN) << "every queued completion was answered before stop() returned";
  for (std::size_t i = 0; i < kN; ++i) {
    EXPECT_EQ(o.calls(i), 1) << i;
    ASSERT_FALSE(o.result(i).ok()) << i;
    EXPECT_TRUE(o.result(i).error().is(ProcessErrc::stopped)) << o.result(i).error().message();
    EXPECT_EQ(state(fresh[i]), MessageState::received) << i;
  }
  p->stop();  // idempotent

  // The next start's scan takes them.
  auto again = processor(options);
  ASSERT_NE(again, nullptr);
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  while (state(fresh[kN - 1]) == MessageState::received &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(10));
  }
  again->stop();
  for (std::size_t i = 0; i < kN; ++i) EXPECT_EQ(state(fresh[i]), MessageState::filtered) << i;
}

TEST_P(ProcessorTest, FailedCommitReportsTheErrorOnceAndIsRetried) {
  ProcessorOptions options = quiet();
  options.retry_pause = milliseconds(20);
  Outcomes o(1);
  auto p = processor(options);
  ASSERT_NE(p, nullptr);
  faults_.fail_commits = true;
  const JournalId id = append(oru("C1"));
  p->submit(id, "lab", oru("C1"), o.at(0));
  ASSERT_TRUE(o.wait(1));
  ASSERT_FALSE(o.result(0).ok());
  EXPECT_TRUE(o.result(0).error().is(store::StoreErrc::query_failed));
  EXPECT_NE(o.result(0).error().message().find("fsync failed"), std::string::npos);
  EXPECT_EQ(state(id), MessageState::received) << "nothing of a failed batch is committed";
  EXPECT_TRUE(queue("lab-mllp").empty());
  // The store recovers: the batch is tried again and commits.
  faults_.fail_commits = false;
  ASSERT_TRUE(wait_processed({id}));
  EXPECT_EQ(state(id), MessageState::processed);
  p->stop();
  EXPECT_EQ(o.calls(0), 1) << "the completion is called once, with the error";
  EXPECT_GE(p->stats().failed_batches, 1u);
  EXPECT_EQ(p->stats().processed, 1u);
  EXPECT_EQ(queue("lab-mllp").size(), 1u);
}

TEST_P(ProcessorTest, ItemsAreDueAtTheProcessingTime) {
  ProcessorOptions options = quiet();
  options.clock = [] { return kT0 + seconds(5); };
  Outcomes o(1);
  auto p = processor(options);
  ASSERT_NE(p, nullptr);
  const JournalId id = append(oru("C1"));
  p->submit(id, "lab", oru("C1"), o.at(0));
  ASSERT_TRUE(o.wait(1));
  p->stop();
  const auto items = queue("archive");
  ASSERT_EQ(items.size(), 1u);
  EXPECT_EQ(items[0].not_before, kT0 + seconds(5));
  EXPECT_EQ(items[0].enqueued_at, kT0 + seconds(5));
  auto e = entry(id);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->updated_at, kT0 + seconds(5));
}

INSTANTIATE_TEST_SUITE_P(Backends, ProcessorTest,
                         ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const auto& param_info) {
                           return param_info.param == Backend::sqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace hims::engine
