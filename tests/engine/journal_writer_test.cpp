// The group-commit journal writer against both backends: SQLite on a temporary file and
// PostgreSQL on the server named by HIMS_TEST_POSTGRES_URL (scripts/pg-throwaway.sh; skipped when
// unset), each test in its own database. Completions are awaited with deadlines, the writer's
// lanes are held in place by completions that block on a latch, failures and held commits are
// injected by a driver wrapper, and the duplicate window runs on an injected clock. One test
// waits 200 ms for something that must not happen; no other sleeps.
#include "engine/journal_writer.hpp"

#include <gtest/gtest.h>
#include <sched.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <pqxx/pqxx>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "engine/store_driver.hpp"
#include "tests/support/completions.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/forwarding_driver.hpp"
#include "tests/support/test_store.hpp"

// LeakSanitizer: libpqxx 6.4 leaks libpq's PGresult when BEGIN fails on a connection the server
// has closed (LostDatabase... below; pqxx::dbtransaction::do_begin). Third-party, bounded per
// failed BEGIN. libpqxx has no frame pointers, so the fast unwinder only shows the library: the
// suppression names it, for this executable only (our own allocations are still checked).
extern "C" const char* __lsan_default_suppressions();  // NOLINT(bugprone-reserved-identifier)
extern "C" const char* __lsan_default_suppressions() { return "leak:libpqxx\n"; }

namespace hims::engine {
namespace {

using std::chrono::seconds;
using store::JournalId;
using store::NewJournalEntry;
using store::TimePoint;

using test::Backend;

const TimePoint kT0{seconds(1'700'000'000)};
constexpr seconds kDeadline{60};

NewJournalEntry entry(std::string control_id, std::string raw = "", TimePoint at = kT0,
                      std::string source = "lab-results") {
  if (raw.empty()) raw = "MSH|^~\\&|LAB|ACME|||20240101||ORU^R01|" + control_id + "|P|2.5\r";
  return test::journal_entry(std::move(raw), std::move(control_id), at, std::move(source));
}

using Collector = test::CompletionRecorder<JournalReceipt>;
using Latch = test::CompletionLatch<JournalReceipt>;

// What the tests inject into the store's drivers (FlakyDriver), shared by a writer's lanes.
enum class FailMode { none, commit, multi_row_insert };
struct Injection {
  // Fails commits, or a journal INSERT of more than one entry (the store inserts a batch's rows
  // in one multi-row statement), while set.
  std::atomic<FailMode> mode{FailMode::none};
  // While set, the next commit waits until open_gate() (held counts it), then fails if
  // fail_held was set by then.
  std::atomic<bool> hold_next_commit{false};
  std::atomic<int> held{0};
  std::atomic<bool> fail_held{false};
  std::atomic<int> journal_inserts{0};
  std::atomic<int> commits{0};  // commits begun (the migrations' too)
  std::promise<void> gate_opener;
  std::shared_future<void> gate = gate_opener.get_future().share();
  std::atomic<bool> gate_open{false};
  void open_gate() {
    if (!gate_open.exchange(true)) gate_opener.set_value();
  }
};

// Opens the gate when it goes out of scope: declared after the writer, so a failed assertion
// does not leave a lane waiting in a held commit while the writer's destructor joins it.
struct GateOpener {
  Injection& injection;
  ~GateOpener() { injection.open_gate(); }
};

// Parameters of one journal row in the store's INSERT (engine/store.cpp).
constexpr std::size_t kJournalRowParams = 13;

class FlakyDriver final : public test::ForwardingDriver {
 public:
  FlakyDriver(std::unique_ptr<store::Driver> inner, Injection* injection)
      : ForwardingDriver(std::move(inner)), injection_(injection) {}
  Result<store::Rows> query(std::string_view sql, std::span<const store::Param> params) override {
    if (auto injected = inject(sql, params)) return *injected;
    return ForwardingDriver::query(sql, params);
  }
  Result<store::Rows> query_unprepared(std::string_view sql,
                                       std::span<const store::Param> params) override {
    if (auto injected = inject(sql, params)) return *injected;
    return ForwardingDriver::query_unprepared(sql, params);
  }
  Status commit() override {
    ++injection_->commits;
    if (injection_->hold_next_commit.exchange(false)) {
      ++injection_->held;
      injection_->gate.wait_for(kDeadline);
      if (injection_->fail_held) {
        return Error(store::StoreErrc::query_failed, "commit", "injected: held commit failed");
      }
    }
    if (injection_->mode == FailMode::commit) {
      return Error(store::StoreErrc::query_failed, "commit", "injected: fsync failed");
    }
    return ForwardingDriver::commit();
  }

 private:
  // Counts the journal INSERTs; the error to answer instead of running the statement, if any.
  std::optional<Error> inject(std::string_view sql, std::span<const store::Param> params) {
    if (!sql.starts_with("INSERT INTO journal ")) return std::nullopt;
    ++injection_->journal_inserts;
    if (injection_->mode == FailMode::multi_row_insert && params.size() > kJournalRowParams) {
      return Error(store::StoreErrc::query_failed, "journal", "injected: disk I/O error");
    }
    return std::nullopt;
  }

  Injection* injection_;
};

// Holds every lane of a writer inside a completion, so entries submitted afterwards stay queued:
// one HOLD entry per lane (a lane inside a completion takes no batch, so each HOLD goes to the
// next lane). Each HOLD is journaled. Released at the latest when it goes out of scope.
class LaneHold {
 public:
  [[nodiscard]] bool hold(JournalWriter& w) {
    for (std::size_t i = 0; i < w.lanes(); ++i) {
      auto& latch = *latches_.emplace_back(std::make_unique<Latch>());
      if (!w.submit(entry("HOLD" + std::to_string(i)), latch.blocker()).ok()) return false;
      if (!latch.wait_entered()) return false;
    }
    return true;
  }
  void release() {
    for (auto& latch : latches_) latch->release();
  }
  ~LaneHold() { release(); }

 private:
  std::vector<std::unique_ptr<Latch>> latches_;
};

class JournalWriterTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<test::ThrowawayStore>(GetParam(), "hims_journal_test");
    if (db_->skipped()) GTEST_SKIP() << test::kPostgresSkipped;
    url_ = db_->url();
    path_ = db_->sqlite_path().string();
  }

  void TearDown() override { db_.reset(); }

  void drop_database() { db_->drop(); }

  std::unique_ptr<JournalWriter> writer(JournalWriterOptions options = {}) {
    auto r = JournalWriter::open(url_, std::move(options));
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // A writer with as many lanes as JournalWriter::open gives the backend, on drivers that take
  // `injection`.
  std::unique_ptr<JournalWriter> flaky_writer(Injection* injection,
                                              JournalWriterOptions options = {}) {
    std::vector<std::unique_ptr<store::Store>> stores;
    const std::size_t lanes =
        JournalWriter::lanes_for(GetParam() == Backend::sqlite ? "sqlite" : "postgresql");
    for (std::size_t i = 0; i < lanes; ++i) {
      auto driver = GetParam() == Backend::sqlite ? store::open_sqlite_driver(path_, {})
                                                  : store::open_postgres_driver(url_, {});
      EXPECT_TRUE(driver.ok()) << driver.error().message();
      if (!driver.ok()) return nullptr;
      stores.push_back(std::make_unique<store::Store>(
          std::make_unique<FlakyDriver>(std::move(*driver), injection), "journal-writer-test"));
    }
    auto m = stores.front()->migrate();
    EXPECT_TRUE(m.ok()) << m.error().message();
    return std::make_unique<JournalWriter>(std::move(stores), std::move(options));
  }

  // A writer with a 60 s duplicate window whose clock reads `now_s` (seconds since the epoch).
  std::unique_ptr<JournalWriter> windowed_writer(const std::atomic<std::int64_t>& now_s) {
    JournalWriterOptions o;
    o.duplicate_window = seconds(60);
    o.clock = [&now_s] { return TimePoint{seconds(now_s.load())}; };
    return writer(std::move(o));
  }

  std::unique_ptr<store::Store> reopen() {
    auto r = store::open_store(url_);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
  }

  std::size_t journal_rows(store::Store& s) {
    store::JournalFilter f;
    f.limit = 100'000;
    auto rows = s.list(f);
    EXPECT_TRUE(rows.ok()) << rows.error().message();
    return rows.ok() ? rows->size() : 0;
  }

  std::string url_;
  std::string path_;
  std::unique_ptr<test::ThrowawayStore> db_;
};

TEST(JournalErrc, NamesAreStable) {
  EXPECT_EQ(to_string(JournalErrc::queue_full), "journal_queue_full");
  EXPECT_EQ(to_string(JournalErrc::too_large), "journal_entry_too_large");
  EXPECT_EQ(to_string(JournalErrc::stopped), "journal_stopped");
}

TEST(JournalWriterOpen, BadUrlIsAnError) {
  auto r = JournalWriter::open("mysql://localhost/db");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(store::StoreErrc::bad_url));
}

TEST_P(JournalWriterTest, EveryCompletionIsCalledOnceWithItsId) {
  auto w = writer();
  ASSERT_NE(w, nullptr);
  constexpr std::size_t kN = 50;
  Collector c(kN);
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(w->submit(entry("C" + std::to_string(i)), c.at(i)).ok());
  }
  ASSERT_TRUE(c.wait(kN));
  w->stop();
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  JournalId previous = 0;
  for (std::size_t i = 0; i < kN; ++i) {
    EXPECT_EQ(c.calls(i), 1) << i;
    const auto& r = c.result(i);
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_FALSE(r->duplicate_of.has_value());
    EXPECT_GT(r->id, previous) << "one submitter: ids follow submit order";
    previous = r->id;
    auto got = s->get(r->id);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->control_id, "C" + std::to_string(i));
  }
  EXPECT_EQ(c.done(), kN) << "no completion called twice";
  EXPECT_EQ(w->stats().journaled, kN);
}

TEST_P(JournalWriterTest, ProcessingDecidedAtTheSourceCommitsWithTheEntry) {
  std::mutex mutex;
  std::vector<std::string> woken;
  JournalWriterOptions o;
  o.duplicate_window = std::chrono::seconds(60);
  o.clock = [] { return kT0 + seconds(1); };
  o.on_enqueued = [&](const std::vector<std::string>& destinations) {
    std::lock_guard lock(mutex);
    woken.insert(woken.end(), destinations.begin(), destinations.end());
  };
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  auto item = [](std::string destination, std::string payload) {
    store::NewQueueItem q;
    q.destination = std::move(destination);
    q.payload = std::move(payload);
    q.not_before = kT0;
    q.route = "r";
    q.source = "lab";
    return q;
  };
  Collector c(4);
  ASSERT_TRUE(w->submit(entry("P1"),
                        InlineProcessing{store::MessageState::processed,
                                         "",
                                         {item("ehr", "one"), item("archive", "one")}},
                        c.at(0))
                  .ok());
  ASSERT_TRUE(w->submit(entry("P2"),
                        InlineProcessing{store::MessageState::filtered, "no route matched", {}},
                        c.at(1))
                  .ok());
  ASSERT_TRUE(w->submit(entry("P3"),
                        InlineProcessing{store::MessageState::errored, "bad PID-3", {}}, c.at(2))
                  .ok());
  ASSERT_TRUE(c.wait(3));
  // The same message again: a duplicate, acknowledged but neither journaled nor queued again.
  ASSERT_TRUE(w->submit(entry("P1"),
                        InlineProcessing{store::MessageState::processed, "", {item("ehr", "one")}},
                        c.at(3))
                  .ok());
  ASSERT_TRUE(c.wait(4));
  w->stop();
  for (std::size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.result(i).ok()) << c.result(i).error().message();
    EXPECT_TRUE(c.result(i)->processed) << i;
  }
  ASSERT_TRUE(c.result(3).ok());
  EXPECT_EQ(c.result(3)->duplicate_of, c.result(0)->id);
  EXPECT_FALSE(c.result(3)->processed);

  auto s = reopen();
  ASSERT_NE(s, nullptr);
  const auto state = [&](std::size_t i) { return (*s->get(c.result(i)->id))->state; };
  EXPECT_EQ(state(0), store::MessageState::processed);
  EXPECT_EQ(state(1), store::MessageState::filtered);
  EXPECT_EQ(state(2), store::MessageState::errored);
  EXPECT_EQ((*s->get(c.result(2)->id))->error, "bad PID-3");
  store::QueueFilter f;
  f.with_payload = true;
  auto items = s->list_queue(f);
  ASSERT_TRUE(items.ok());
  ASSERT_EQ(items->size(), 2u) << "the duplicate queued nothing";
  EXPECT_EQ((*items)[0].destination, "ehr");
  EXPECT_EQ((*items)[1].destination, "archive");
  EXPECT_EQ((*items)[0].journal_id, c.result(0)->id);
  EXPECT_EQ((*items)[0].payload, "one");
  EXPECT_EQ((*items)[0].source, "lab");
  std::lock_guard lock(mutex);
  EXPECT_EQ(woken, (std::vector<std::string>{"ehr", "archive"}));
}

TEST_P(JournalWriterTest, IdsAreDurableAfterStopAndReopen) {
  constexpr std::size_t kN = 20;
  Collector c(kN);
  {
    auto w = writer();
    ASSERT_NE(w, nullptr);
    for (std::size_t i = 0; i < kN; ++i) {
      ASSERT_TRUE(
          w->submit(entry("D" + std::to_string(i), "raw-" + std::to_string(i)), c.at(i)).ok());
    }
    ASSERT_TRUE(c.wait(kN));
  }  // destructor: stop()
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), kN);
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(c.result(i).ok());
    auto got = s->get(c.result(i)->id);
    ASSERT_TRUE(got.ok() && got->has_value()) << i;
    EXPECT_EQ((*got)->raw, "raw-" + std::to_string(i));
    EXPECT_EQ((*got)->state, store::MessageState::received);
  }
}

TEST_P(JournalWriterTest, ConcurrentSubmitsShareCommits) {
  metrics::Registry registry;
  JournalWriterOptions o;
  o.metrics = &registry;
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  constexpr std::size_t kThreads = 8;
  constexpr std::size_t kPerThread = 500;
  constexpr std::size_t kN = kThreads * kPerThread;
  Collector c(kN);
  std::atomic<std::size_t> refused{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (std::size_t k = 0; k < kPerThread; ++k) {
        const std::size_t i = t * kPerThread + k;
        if (!w->submit(entry("T" + std::to_string(i)), c.at(i)).ok()) ++refused;
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(refused.load(), 0u);
  ASSERT_TRUE(c.wait(kN));
  std::set<JournalId> ids;
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_EQ(c.calls(i), 1);
    ASSERT_TRUE(c.result(i).ok()) << c.result(i).error().message();
    ids.insert(c.result(i)->id);
  }
  EXPECT_EQ(ids.size(), kN);
  w->stop();
  const auto stats = w->stats();
  EXPECT_EQ(stats.journaled, kN);
  EXPECT_LT(stats.batches, kN) << "group commit: batches must hold several entries";
  std::cout << "[ info ] " << kN << " entries in " << stats.batches << " commits\n";
  const std::string text = registry.render();
  const std::string series = std::string("hims_journal_appended_total{store=\"") +
                             (GetParam() == Backend::sqlite ? "sqlite" : "postgresql") + "\"} " +
                             std::to_string(kN);
  EXPECT_NE(text.find(series), std::string::npos) << text;
  EXPECT_NE(text.find("hims_commit_batch_messages_count"), std::string::npos);
  EXPECT_NE(text.find("hims_journal_queue_depth{store="), std::string::npos);
  // SQLite only: its WAL checkpoints and the WAL's size after the latest commit.
  const bool sqlite = GetParam() == Backend::sqlite;
  EXPECT_EQ(text.find("hims_sqlite_checkpoint_seconds_count{kind=\"inline\"}") != std::string::npos,
            sqlite);
  EXPECT_EQ(text.find("hims_sqlite_wal_pages ") != std::string::npos, sqlite);
  EXPECT_EQ(text.find("hims_sqlite_wal_pages 0\n"), std::string::npos) << "commits grew the WAL";
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), kN);
}

TEST_P(JournalWriterTest, DuplicateWithinTheWindowReturnsTheEarlierId) {
  std::atomic<std::int64_t> now_s{1'700'000'010};
  auto w = windowed_writer(now_s);
  ASSERT_NE(w, nullptr);
  Collector c(3);
  ASSERT_TRUE(w->submit(entry("DUP1"), c.at(0)).ok());
  ASSERT_TRUE(c.wait(1));
  ASSERT_TRUE(w->submit(entry("DUP1", "", kT0 + seconds(5)), c.at(1)).ok());
  ASSERT_TRUE(c.wait(2));
  // Same control id, other bytes: not a duplicate.
  ASSERT_TRUE(w->submit(entry("DUP1", "other bytes"), c.at(2)).ok());
  ASSERT_TRUE(c.wait(3));
  ASSERT_TRUE(c.result(0).ok());
  ASSERT_TRUE(c.result(1).ok());
  ASSERT_TRUE(c.result(2).ok());
  const JournalId first = c.result(0)->id;
  EXPECT_FALSE(c.result(0)->duplicate_of.has_value());
  EXPECT_EQ(c.result(1)->id, first);
  EXPECT_EQ(c.result(1)->duplicate_of, std::optional<JournalId>(first));
  EXPECT_NE(c.result(2)->id, first);
  EXPECT_FALSE(c.result(2)->duplicate_of.has_value());
  w->stop();
  EXPECT_EQ(w->stats().duplicates, 1u);
  EXPECT_EQ(w->stats().journaled, 2u);
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), 2u) << "the duplicate inserted nothing";
}

TEST_P(JournalWriterTest, EachSourceUsesItsOwnDuplicateWindow) {
  JournalWriterOptions o;
  o.duplicate_window = seconds(60);                            // every other source
  o.duplicate_window_by_source.emplace("adt-in", seconds(0));  // off for this one
  o.clock = [] { return TimePoint{seconds(1'700'000'010)}; };
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  Collector c(4);
  ASSERT_TRUE(w->submit(entry("SAME1", "", kT0, "adt-in"), c.at(0)).ok());
  ASSERT_TRUE(c.wait(1));
  ASSERT_TRUE(w->submit(entry("SAME1", "", kT0, "adt-in"), c.at(1)).ok());
  ASSERT_TRUE(c.wait(2));
  ASSERT_TRUE(w->submit(entry("SAME2"), c.at(2)).ok());
  ASSERT_TRUE(c.wait(3));
  ASSERT_TRUE(w->submit(entry("SAME2"), c.at(3)).ok());
  ASSERT_TRUE(c.wait(4));
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(c.result(i).ok());
  EXPECT_FALSE(c.result(1)->duplicate_of.has_value()) << "window off for adt-in";
  EXPECT_EQ(c.result(3)->duplicate_of, std::optional<JournalId>(c.result(2)->id));
  w->stop();
  EXPECT_EQ(w->stats().journaled, 3u);
  EXPECT_EQ(w->stats().duplicates, 1u);
}

TEST_P(JournalWriterTest, DuplicateOutsideTheWindowIsJournaled) {
  std::atomic<std::int64_t> now_s{1'700'000'010};
  auto w = windowed_writer(now_s);
  ASSERT_NE(w, nullptr);
  Collector c(2);
  ASSERT_TRUE(w->submit(entry("OLD1"), c.at(0)).ok());  // received at kT0
  ASSERT_TRUE(c.wait(1));
  now_s = 1'700'000'061;  // kT0 is now 61 s ago
  ASSERT_TRUE(w->submit(entry("OLD1", "", kT0 + seconds(61)), c.at(1)).ok());
  ASSERT_TRUE(c.wait(2));
  ASSERT_TRUE(c.result(0).ok());
  ASSERT_TRUE(c.result(1).ok());
  EXPECT_NE(c.result(1)->id, c.result(0)->id);
  EXPECT_FALSE(c.result(1)->duplicate_of.has_value());
  EXPECT_EQ(w->stats().duplicates, 0u);
}

TEST_P(JournalWriterTest, WindowZeroDisablesDuplicateDetection) {
  auto w = writer();  // duplicate_window 0
  ASSERT_NE(w, nullptr);
  Collector c(2);
  ASSERT_TRUE(w->submit(entry("SAME"), c.at(0)).ok());
  ASSERT_TRUE(c.wait(1));
  ASSERT_TRUE(w->submit(entry("SAME"), c.at(1)).ok());
  ASSERT_TRUE(c.wait(2));
  ASSERT_TRUE(c.result(0).ok() && c.result(1).ok());
  EXPECT_NE(c.result(0)->id, c.result(1)->id);
  EXPECT_FALSE(c.result(1)->duplicate_of.has_value());
}

TEST_P(JournalWriterTest, DuplicateInTheSameBatchReturnsTheFirstId) {
  JournalWriterOptions o;
  o.duplicate_window = seconds(60);
  o.clock = [] { return kT0 + seconds(1); };
  o.max_batch_entries = 4;
  o.max_wait = std::chrono::duration_cast<std::chrono::microseconds>(kDeadline);  // until 4 queued
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  Collector c(4);
  ASSERT_TRUE(w->submit(entry("B1"), c.at(0)).ok());
  ASSERT_TRUE(w->submit(entry("B1"), c.at(1)).ok());
  ASSERT_TRUE(w->submit(entry("B2"), c.at(2)).ok());
  ASSERT_TRUE(w->submit(entry("B1"), c.at(3)).ok());
  ASSERT_TRUE(c.wait(4));
  for (std::size_t i = 0; i < 4; ++i) ASSERT_TRUE(c.result(i).ok()) << i;
  EXPECT_EQ(w->stats().batches, 1u) << "the test relies on one batch";
  const JournalId first = c.result(0)->id;
  EXPECT_FALSE(c.result(0)->duplicate_of.has_value());
  EXPECT_EQ(c.result(1)->duplicate_of, std::optional<JournalId>(first));
  EXPECT_EQ(c.result(3)->duplicate_of, std::optional<JournalId>(first));
  EXPECT_EQ(c.result(3)->id, first);
  EXPECT_FALSE(c.result(2)->duplicate_of.has_value());
  EXPECT_NE(c.result(2)->id, first);
  w->stop();
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), 2u);
}

// Under load (a batch of several entries) the writer thread runs as SCHED_BATCH, so a submit
// does not preempt the thread that submits; a lone entry switches it back to SCHED_OTHER, so a
// quiet engine's message is committed at once. Completions run on the writer thread: each reads
// the policy its batch was committed under.
TEST_P(JournalWriterTest, TheWriterIsABatchThreadOnlyUnderLoad) {
  int allowed = -1;  // can a thread of this process become a batch thread here at all?
  std::thread([&] {
    const sched_param param{};
    allowed = ::pthread_setschedparam(::pthread_self(), SCHED_BATCH, &param);
  }).join();
  if (allowed != 0) GTEST_SKIP() << "SCHED_BATCH refused here (seccomp?)";
  JournalWriterOptions o;
  o.max_batch_entries = 4;
  o.max_wait = std::chrono::milliseconds(200);  // the 4 submits below queue well within it
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  std::vector<std::promise<int>> policies(5);
  auto record = [&](std::size_t i) {
    return
        [&p = policies[i]](const Result<JournalReceipt>&) { p.set_value(::sched_getscheduler(0)); };
  };
  auto policy = [&](std::size_t i) {
    auto f = policies[i].get_future();
    return f.wait_for(kDeadline) == std::future_status::ready ? f.get() : -2;
  };
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(w->submit(entry("L" + std::to_string(i)), record(i)).ok());
  }
  for (std::size_t i = 0; i < 4; ++i) EXPECT_EQ(policy(i), SCHED_BATCH) << i;
  ASSERT_EQ(w->stats().batches, 1u) << "the test relies on one batch of 4";
  ASSERT_TRUE(w->submit(entry("L4"), record(4)).ok());  // alone: max_wait passes, a batch of 1
  EXPECT_EQ(policy(4), SCHED_OTHER);
  EXPECT_EQ(w->stats().batches, 2u);
}

TEST_P(JournalWriterTest, RejectedEntriesAreAlwaysJournaled) {
  JournalWriterOptions o;
  o.duplicate_window = seconds(60);
  o.clock = [] { return kT0 + seconds(1); };
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  Collector c(2);
  for (std::size_t i = 0; i < 2; ++i) {
    auto e = entry("REJ");
    e.state = store::MessageState::rejected;
    e.error = "MSH-12: unsupported version";
    ASSERT_TRUE(w->submit(std::move(e), c.at(i)).ok());
    ASSERT_TRUE(c.wait(i + 1));
  }
  ASSERT_TRUE(c.result(0).ok() && c.result(1).ok());
  EXPECT_NE(c.result(0)->id, c.result(1)->id);
}

TEST_P(JournalWriterTest, FullQueueFailsFast) {
  JournalWriterOptions o;
  o.max_queue_entries = 4;
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  LaneHold hold;
  ASSERT_TRUE(hold.hold(*w));  // every lane is inside a completion
  Collector c(6);
  for (std::size_t i = 0; i < 4; ++i) {
    ASSERT_TRUE(w->submit(entry("Q" + std::to_string(i)), c.at(i)).ok());
  }
  EXPECT_EQ(w->queue_depth(), 4u);
  auto refused = w->submit(entry("Q4"), c.at(4));
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.error().is(JournalErrc::queue_full)) << refused.error().message();
  EXPECT_NE(refused.error().message().find("4 entries"), std::string::npos)
      << refused.error().message();
  hold.release();
  ASSERT_TRUE(c.wait(4));
  ASSERT_TRUE(w->submit(entry("Q5"), c.at(5)).ok()) << "room again once the queue drained";
  ASSERT_TRUE(c.wait(5));
  EXPECT_EQ(c.calls(4), 0) << "a refused entry's completion is never called";
  EXPECT_TRUE(c.result(5).ok());
}

TEST_P(JournalWriterTest, QueueBytesAreBounded) {
  JournalWriterOptions o;
  o.max_queue_bytes = 64 * 1024;
  auto w = writer(o);
  ASSERT_NE(w, nullptr);
  auto too_large = w->submit(entry("BIG", std::string(100 * 1024, 'x')), Completion{});
  ASSERT_FALSE(too_large.ok());
  EXPECT_TRUE(too_large.error().is(JournalErrc::too_large)) << too_large.error().message();

  LaneHold hold;
  ASSERT_TRUE(hold.hold(*w));
  Collector c(3);
  ASSERT_TRUE(w->submit(entry("M0", std::string(30 * 1024, 'a')), c.at(0)).ok());
  ASSERT_TRUE(w->submit(entry("M1", std::string(30 * 1024, 'b')), c.at(1)).ok());
  auto full = w->submit(entry("M2", std::string(30 * 1024, 'c')), c.at(2));
  ASSERT_FALSE(full.ok());
  EXPECT_TRUE(full.error().is(JournalErrc::queue_full)) << full.error().message();
  hold.release();
  ASSERT_TRUE(c.wait(2));
  EXPECT_TRUE(c.result(0).ok());
  EXPECT_TRUE(c.result(1).ok());
}

TEST_P(JournalWriterTest, StopDrainsTheQueue) {
  auto w = writer();
  ASSERT_NE(w, nullptr);
  LaneHold hold;
  ASSERT_TRUE(hold.hold(*w));
  constexpr std::size_t kN = 100;
  Collector c(kN);
  for (std::size_t i = 0; i < kN; ++i) {
    ASSERT_TRUE(w->submit(entry("S" + std::to_string(i)), c.at(i)).ok());
  }
  ASSERT_EQ(w->queue_depth(), kN);
  auto stopper = std::async(std::launch::async, [&] { w->stop(); });
  // stop() refuses new entries before it joins; wait for that (bounded), then let the writer go.
  const auto deadline = std::chrono::steady_clock::now() + kDeadline;
  Status probe;
  std::size_t late = 0;  // accepted before stop() got going: drained like the others
  for (;;) {
    probe = w->submit(entry("LATE" + std::to_string(late)), Completion{});
    if (probe.ok()) ++late;
    // queue_full is possible while stop() has not started yet: keep probing.
    if (!probe.ok() && probe.error().is(JournalErrc::stopped)) break;
    if (std::chrono::steady_clock::now() > deadline) break;
    std::this_thread::yield();
  }
  ASSERT_FALSE(probe.ok());
  ASSERT_TRUE(probe.error().is(JournalErrc::stopped)) << probe.error().message();
  hold.release();
  ASSERT_EQ(stopper.wait_for(kDeadline), std::future_status::ready);
  EXPECT_EQ(c.done(), kN) << "stop() returned after every queued entry completed";
  for (std::size_t i = 0; i < kN; ++i) {
    EXPECT_EQ(c.calls(i), 1);
    EXPECT_TRUE(c.result(i).ok());
  }
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), kN + w->lanes() + late);
}

TEST_P(JournalWriterTest, SubmitAfterStopFails) {
  auto w = writer();
  ASSERT_NE(w, nullptr);
  w->stop();
  w->stop();  // idempotent
  bool called = false;
  auto r = w->submit(entry("AFTER"), [&](Result<JournalReceipt>) { called = true; });
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(JournalErrc::stopped));
  EXPECT_EQ(r.error().message(), "engine.journal_stopped at journal queue: the writer is stopping");
  EXPECT_FALSE(called);
}

TEST_P(JournalWriterTest, FailedCommitFailsTheBatchAndTheWriterContinues) {
  Injection injection;
  std::atomic<FailMode>& mode = injection.mode;
  metrics::Registry registry;
  JournalWriterOptions o;
  o.metrics = &registry;
  auto w = flaky_writer(&injection, o);
  ASSERT_NE(w, nullptr);
  mode = FailMode::commit;
  Collector c(6);
  ASSERT_TRUE(w->submit(entry("F0"), c.at(0)).ok());
  ASSERT_TRUE(w->submit(entry("F1"), c.at(1)).ok());
  ASSERT_TRUE(c.wait(2));
  for (std::size_t i = 0; i < 2; ++i) {
    ASSERT_FALSE(c.result(i).ok());
    EXPECT_TRUE(c.result(i).error().is(store::StoreErrc::query_failed));
    EXPECT_NE(c.result(i).error().message().find("fsync failed"), std::string::npos);
  }
  // Persistent failure: every batch keeps failing, nothing is dropped silently.
  ASSERT_TRUE(w->submit(entry("F2"), c.at(2)).ok());
  ASSERT_TRUE(c.wait(3));
  EXPECT_FALSE(c.result(2).ok());
  // A failure in the middle of a batch rolls back its first entry too.
  mode = FailMode::multi_row_insert;
  LaneHold hold;
  ASSERT_TRUE(hold.hold(*w));  // one row per HOLD: they commit
  ASSERT_TRUE(w->submit(entry("F3"), c.at(3)).ok());
  ASSERT_TRUE(w->submit(entry("F4"), c.at(4)).ok());
  hold.release();
  ASSERT_TRUE(c.wait(5));
  EXPECT_FALSE(c.result(3).ok());
  EXPECT_FALSE(c.result(4).ok());
  EXPECT_NE(c.result(4).error().message().find("disk I/O error"), std::string::npos);
  // The store recovers: the next batch commits.
  mode = FailMode::none;
  ASSERT_TRUE(w->submit(entry("F5"), c.at(5)).ok());
  ASSERT_TRUE(c.wait(6));
  ASSERT_TRUE(c.result(5).ok()) << c.result(5).error().message();
  w->stop();
  EXPECT_EQ(w->stats().failed, 5u);
  EXPECT_EQ(w->stats().journaled, w->lanes() + 1);  // the HOLDs (alone in a batch each) and F5
  EXPECT_NE(registry.render().find("hims_journal_failed_total{store="), std::string::npos);
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), w->lanes() + 1) << "nothing of a failed batch is committed";
}

TEST_P(JournalWriterTest, PostgresHasTwoLanesAndSqliteOne) {
  auto w = writer();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->lanes(), GetParam() == Backend::sqlite ? 1u : 2u);
}

// Lanes: a batch runs its statements while the batch before it waits for its COMMIT, but commits
// only after that COMMIT ended, whatever its outcome.
TEST_P(JournalWriterTest, ABatchCommitsOnlyAfterTheBatchBeforeIt) {
  Injection injection;
  auto w = flaky_writer(&injection);
  ASSERT_NE(w, nullptr);
  if (w->lanes() < 2) GTEST_SKIP() << "one lane: batches cannot overlap";
  GateOpener opener{injection};
  Collector c(2);
  const int commits_before = injection.commits;  // the migrations'
  const int inserts_before = injection.journal_inserts;
  injection.hold_next_commit = true;
  injection.fail_held = true;
  ASSERT_TRUE(w->submit(entry("FIRST"), c.at(0)).ok());
  ASSERT_TRUE(test::eventually([&] { return injection.held == 1; }));
  ASSERT_TRUE(w->submit(entry("SECOND"), c.at(1)).ok());
  // The second batch's INSERT runs on the other lane while the first COMMIT is held...
  ASSERT_TRUE(test::eventually([&] { return injection.journal_inserts == inserts_before + 2; }));
  // ... and its COMMIT waits for that one. (A bounded wait for what must not happen.)
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(injection.commits, commits_before + 1)
      << "the second batch committed before the first one ended";
  EXPECT_EQ(c.done(), 0u);
  injection.open_gate();
  ASSERT_TRUE(c.wait(2));
  ASSERT_FALSE(c.result(0).ok());
  EXPECT_NE(c.result(0).error().message().find("held commit failed"), std::string::npos);
  ASSERT_TRUE(c.result(1).ok()) << "the other lane commits after a failed COMMIT";
  w->stop();
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), 1u);
  auto got = s->get(c.result(1)->id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->control_id, "SECOND");
}

// The second lane cannot see rows the first has not committed: a possible duplicate of them waits
// for that commit and then finds the earlier entry.
TEST_P(JournalWriterTest, ADuplicateOfAnEntryStillCommittingIsFound) {
  Injection injection;
  JournalWriterOptions o;
  o.duplicate_window = seconds(60);
  o.clock = [] { return kT0 + seconds(1); };
  auto w = flaky_writer(&injection, o);
  ASSERT_NE(w, nullptr);
  GateOpener opener{injection};
  Collector c(3);
  injection.hold_next_commit = true;
  ASSERT_TRUE(w->submit(entry("AGAIN"), c.at(0)).ok());
  ASSERT_TRUE(test::eventually([&] { return injection.held == 1; }));
  ASSERT_TRUE(w->submit(entry("AGAIN"), c.at(1)).ok());
  ASSERT_TRUE(w->submit(entry("OTHER"), c.at(2)).ok());
  injection.open_gate();
  ASSERT_TRUE(c.wait(3));
  for (std::size_t i = 0; i < 3; ++i)
    ASSERT_TRUE(c.result(i).ok()) << c.result(i).error().message();
  EXPECT_FALSE(c.result(0)->duplicate_of.has_value());
  EXPECT_EQ(c.result(1)->duplicate_of, c.result(0)->id);
  EXPECT_FALSE(c.result(2)->duplicate_of.has_value());
  w->stop();
  auto s = reopen();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(journal_rows(*s), 2u) << "the duplicate was journaled again";
}

TEST_P(JournalWriterTest, LostDatabaseFailsCompletionsAndTheWriterKeepsRunning) {
  if (GetParam() != Backend::postgres) {
    GTEST_SKIP() << "PostgreSQL only: the server drops the writer's database and connection";
  }
  auto w = writer();
  ASSERT_NE(w, nullptr);
  Collector c(3);
  ASSERT_TRUE(w->submit(entry("L0"), c.at(0)).ok());
  ASSERT_TRUE(c.wait(1));
  ASSERT_TRUE(c.result(0).ok());
  drop_database();
  ASSERT_TRUE(w->submit(entry("L1"), c.at(1)).ok());
  ASSERT_TRUE(c.wait(2));
  ASSERT_FALSE(c.result(1).ok());
  EXPECT_TRUE(c.result(1).error().domain() == ErrorDomain::store) << c.result(1).error().message();
  ASSERT_TRUE(w->submit(entry("L2"), c.at(2)).ok());
  ASSERT_TRUE(c.wait(3));
  EXPECT_FALSE(c.result(2).ok()) << "a persistent failure keeps failing";
  w->stop();
  EXPECT_EQ(w->stats().failed, 2u);
}

INSTANTIATE_TEST_SUITE_P(Backends, JournalWriterTest,
                         ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const auto& param_info) {
                           return param_info.param == Backend::sqlite ? "SQLite" : "PostgreSQL";
                         });

}  // namespace
}  // namespace hims::engine
