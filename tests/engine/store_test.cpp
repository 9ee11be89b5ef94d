// The store suite, run against both backends: SQLite on a temporary file and PostgreSQL on the
// server named by HIMS_TEST_POSTGRES_URL (scripts/pg-throwaway.sh; skipped when unset), each test
// in its own database. Times are injected: no test sleeps.
#include "engine/store.hpp"
#include "engine/store_driver.hpp"
#include "tests/support/eventually.hpp"
#include "tests/support/forwarding_driver.hpp"
#include "tests/support/test_store.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <pqxx/pqxx>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

namespace hims::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using test::Backend;
using test::journal_entry;

const TimePoint kT0{seconds(1'700'000'000)};
constexpr milliseconds kLease{30'000};

NewQueueItem item(std::string destination, std::string payload, TimePoint not_before,
                  std::string route = "") {
  return NewQueueItem{std::move(destination), std::move(payload), not_before, std::move(route)};
}

std::vector<std::string> payloads(const std::vector<QueueItem>& items) {
  std::vector<std::string> out;
  for (const auto& q : items) out.push_back(q.payload);
  return out;
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<test::ThrowawayStore>(GetParam(), "hims_store_test");
    if (db_->skipped()) GTEST_SKIP() << test::kPostgresSkipped;
    url_ = db_->url();
    store_ = open();
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    store_.reset();
    db_.reset();
  }

  std::unique_ptr<Store> open(const OpenOptions& options = {}) {
    auto r = open_store(url_, options);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // Closes the store and opens it again with `options`; store_ is null when that failed.
  void reopen(const OpenOptions& options) {
    store_.reset();
    store_ = open(options);
  }

  JournalId append_one(NewJournalEntry e) {
    auto ids = store_->append(std::span(&e, 1));
    EXPECT_TRUE(ids.ok()) << ids.error().message();
    return ids.ok() && ids->size() == 1 ? (*ids)[0] : 0;
  }

  QueueItem claim(std::string_view destination, TimePoint now) {
    auto r = store_->next_due(destination, now, kLease);
    EXPECT_TRUE(r.ok()) << r.error().message();
    EXPECT_TRUE(r.ok() && r->has_value()) << "nothing due on " << destination;
    return r.ok() && r->has_value() ? **r : QueueItem{};
  }

  bool nothing_due(std::string_view destination, TimePoint now) {
    auto r = store_->next_due(destination, now, kLease);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() && !r->has_value();
  }

  std::string url_;
  std::unique_ptr<test::ThrowawayStore> db_;
  std::unique_ptr<Store> store_;
};

TEST(StoreHash, Sha256HexMatchesTheStandardVector) {
  EXPECT_EQ(sha256_hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(StoreOpen, UnknownSchemeIsBadUrl) {
  auto r = open_store("mysql://localhost/db");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::bad_url));
  EXPECT_NE(r.error().message().find("sqlite:PATH"), std::string::npos) << r.error().message();
}

TEST(StoreOpen, SqliteWithoutPathIsBadUrl) {
  auto r = open_store("sqlite:");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::bad_url));
}

TEST(StoreOpen, SqliteUnderAFileCannotOpen) {
  auto r = open_store("sqlite:/dev/null/var/hims.db");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::cannot_open)) << r.error().message();
}

// SQLite: a background thread copies the WAL back into the database file once it holds
// wal_checkpoint_pages, without the committing connection doing it (its inline limit is out of
// reach here, and the hook replaces SQLite's automatic checkpoint): the file grows by what was
// committed while the store is open.
TEST(StoreSqliteCheckpoint, ABackgroundThreadCopiesTheWalIntoTheFile) {
  test::ThrowawayStore db(test::Backend::sqlite, "hims_store_checkpoint");
  OpenOptions options;
  options.wal_checkpoint_pages = 4;
  options.wal_limit_pages = 1'000'000;
  auto store = open_store(db.url(), options);
  ASSERT_TRUE(store.ok()) << store.error().message();
  const auto file_size = [&] {
    std::error_code ec;
    const auto size = std::filesystem::file_size(db.sqlite_path(), ec);
    return ec ? std::uintmax_t{0} : size;
  };
  // The migrations' checkpoints settle first (bounded).
  std::uintmax_t before = file_size();
  for (int i = 0; i < 100; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const std::uintmax_t now = file_size();
    if (now == before) break;
    before = now;
  }
  const std::string raw = "MSH|^~\\&|LAB|ACME\r" + std::string(8000, 'x');
  for (int i = 0; i < 50; ++i) {
    auto ids = (*store)->append(std::vector<NewJournalEntry>{test::journal_entry(
        raw, "CP" + std::to_string(i), TimePoint{std::chrono::seconds(1 + i)})});
    ASSERT_TRUE(ids.ok()) << ids.error().message();
  }
  std::uintmax_t after = file_size();
  for (int i = 0; i < 250 && after < before + 300'000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    after = file_size();
  }
  EXPECT_GE(after, before + 300'000) << "50 entries of 8 KB reached the database file";
}

// Appends `commits` group commits of `per_commit` entries of about 8 KB each (a few WAL pages
// per entry).
void append_large(Store& store, int commits, std::string_view prefix, int per_commit = 1) {
  const std::string raw = "MSH|^~\\&|LAB|ACME\r" + std::string(8000, 'x');
  for (int c = 0; c < commits; ++c) {
    std::vector<NewJournalEntry> batch;
    for (int i = 0; i < per_commit; ++i) {
      batch.push_back(test::journal_entry(raw,
                                          std::string(prefix) + std::to_string(c * per_commit + i),
                                          TimePoint{std::chrono::seconds(1 + c)}));
    }
    auto ids = store.append(batch);
    ASSERT_TRUE(ids.ok()) << ids.error().message();
  }
}

// The last wal_checkpoint_pages before the inline limit are copied back pass after pass (each
// commit there asks for one), so the inline checkpoint at the limit finds little left to copy.
// Here that stretch starts at 4 pages: 1,000 pages apart, the passes every wal_checkpoint_pages
// alone would never come in this test.
TEST(StoreSqliteCheckpoint, BackgroundPassesRunBackToBackBeforeTheInlineLimit) {
  test::ThrowawayStore db(test::Backend::sqlite, "hims_store_checkpoint_eager");
  OpenOptions options;
  options.wal_checkpoint_pages = 1'000;
  options.wal_limit_pages = 1'004;
  auto store = open_store(db.url(), options);
  ASSERT_TRUE(store.ok()) << store.error().message();
  const WalCheckpoints at_open = (*store)->wal_checkpoints();
  ASSERT_TRUE(at_open.on);
  append_large(**store, 20, "EG");
  WalCheckpoints now = (*store)->wal_checkpoints();
  for (int i = 0; i < 250 && now.background == at_open.background; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    now = (*store)->wal_checkpoints();
  }
  EXPECT_GT(now.background, at_open.background) << "a pass ran at " << now.wal_pages << " pages";
  EXPECT_EQ(now.inline_count, at_open.inline_count) << "the WAL stayed far below the limit";
  EXPECT_GT(now.wal_pages, 0u);
}

// Store::wal_checkpoints counts the inline ones: with the limit at 8 pages (a few commits), the
// committing connection checkpoints itself whenever no background pass is running just then.
TEST(StoreSqliteCheckpoint, CountsInlineCheckpoints) {
  test::ThrowawayStore db(test::Backend::sqlite, "hims_store_checkpoint_counts");
  OpenOptions options;
  options.wal_checkpoint_pages = 4;
  options.wal_limit_pages = 8;
  auto store = open_store(db.url(), options);
  ASSERT_TRUE(store.ok()) << store.error().message();
  const WalCheckpoints at_open = (*store)->wal_checkpoints();
  append_large(**store, 60, "CT");
  const WalCheckpoints now = (*store)->wal_checkpoints();
  EXPECT_TRUE(now.on);
  EXPECT_GT(now.inline_count, at_open.inline_count);
  EXPECT_GE(now.inline_us, at_open.inline_us);
}

// The database file's resident pages (mincore over a read-only mapping, which faults none in) in
// [0, end), and how many pages that range has.
std::pair<std::size_t, std::size_t> resident_pages(const std::filesystem::path& file,
                                                   std::uint64_t end) {
  const int fd = ::open(file.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return {0, 0};
  const auto page = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  const std::size_t length = end / page * page;
  std::pair<std::size_t, std::size_t> counted{0, length / page};
  void* map = length > 0 ? ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, 0) : MAP_FAILED;
  if (map != MAP_FAILED) {
    std::vector<unsigned char> in_core(counted.second);
    if (::mincore(map, length, in_core.data()) == 0) {
      for (unsigned char c : in_core) counted.first += c & 1;
    }
    ::munmap(map, length);
  }
  ::close(fd);
  return counted;
}

// After its background checkpoints, the file's pages older than page_cache_window_bytes from its
// end are out of the OS page cache: of 8 MB appended with a 1 MiB window, the dropped range has
// few pages resident (the file's first pages, b-tree pages written again after their range was
// dropped, now and then a 2 MiB block read back: 20-536 of 2,048 with the ASan suite running
// beside it). Without the drop every page just written stays cached (2,296 of 2,296 here, with
// 22 GB free).
TEST(StoreSqliteCheckpoint, DropsTheFilesOlderPagesFromThePageCache) {
  test::ThrowawayStore db(test::Backend::sqlite, "hims_store_page_cache");
  OpenOptions options;
  options.wal_checkpoint_pages = 4;
  options.wal_limit_pages = 1'000'000;
  options.page_cache_window_bytes = std::uint64_t{1} << 20;
  auto store = open_store(db.url(), options);
  ASSERT_TRUE(store.ok()) << store.error().message();
  append_large(**store, 100, "PC", 10);
  // Until the background passes settle: 100 ms without a new one.
  WalCheckpoints now = (*store)->wal_checkpoints();
  auto settled_since = std::chrono::steady_clock::now();
  test::eventually([&] {
    const WalCheckpoints later = (*store)->wal_checkpoints();
    if (later.background != now.background) settled_since = std::chrono::steady_clock::now();
    now = later;
    return std::chrono::steady_clock::now() - settled_since >= std::chrono::milliseconds(100);
  });
  ASSERT_GE(now.page_cache_dropped_bytes, 4'000'000u) << "8 MB appended, 1 MiB kept cached";
  const auto [resident, pages] = resident_pages(db.sqlite_path(), now.page_cache_dropped_bytes);
  ASSERT_GT(pages, 0u);
  EXPECT_LT(resident * 2, pages) << resident << " of " << pages << " pages still cached";
}

// page_cache_window_bytes 0 leaves the page cache to the kernel.
TEST(StoreSqliteCheckpoint, AWindowOfZeroDropsNothing) {
  test::ThrowawayStore db(test::Backend::sqlite, "hims_store_page_cache_off");
  OpenOptions options;
  options.wal_checkpoint_pages = 4;
  options.wal_limit_pages = 1'000'000;
  options.page_cache_window_bytes = 0;
  auto store = open_store(db.url(), options);
  ASSERT_TRUE(store.ok()) << store.error().message();
  const WalCheckpoints at_open = (*store)->wal_checkpoints();
  append_large(**store, 20, "PZ", 10);
  WalCheckpoints now;
  test::eventually([&] {
    now = (*store)->wal_checkpoints();
    return now.background >= at_open.background + 3;
  });
  EXPECT_GE(now.background, at_open.background + 3);
  EXPECT_EQ(now.page_cache_dropped_bytes, 0u);
}

TEST(StoreOpen, UnreachablePostgresIsAValueWithAClearMessage) {
  auto r = open_store("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::cannot_open));
  EXPECT_NE(r.error().message().find("cannot connect"), std::string::npos) << r.error().message();
}

TEST_P(StoreTest, AppendReturnsIdsInBatchOrderAndKeepsEveryField) {
  std::string binary("MSH|^~\\&|LAB|ACME\r\0\xff\x01 end", 25);
  std::vector<NewJournalEntry> batch{journal_entry(binary, "C1", kT0),
                                     journal_entry("second", "C2", kT0),
                                     journal_entry("third", "C3", kT0 + milliseconds(1))};
  auto ids = store_->append(batch);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  ASSERT_EQ(ids->size(), 3u);
  EXPECT_LT((*ids)[0], (*ids)[1]);
  EXPECT_LT((*ids)[1], (*ids)[2]);

  auto got = store_->get((*ids)[0]);
  ASSERT_TRUE(got.ok()) << got.error().message();
  ASSERT_TRUE(got->has_value());
  const JournalEntry& e = **got;
  EXPECT_EQ(e.raw, binary);
  EXPECT_EQ(e.size, 25);
  EXPECT_EQ(e.content_hash, sha256_hex(binary));
  EXPECT_EQ(e.source, "lab-results");
  EXPECT_EQ(e.peer, "127.0.0.1:50000");
  EXPECT_EQ(e.received_at, kT0);
  EXPECT_EQ(e.message_type, "ORU");
  EXPECT_EQ(e.trigger_event, "R01");
  EXPECT_EQ(e.control_id, "C1");
  EXPECT_EQ(e.sending_application, "LAB");
  EXPECT_EQ(e.sending_facility, "ACME");
  EXPECT_EQ(e.state, MessageState::received);
  EXPECT_EQ(e.error, "");
  auto third = store_->get((*ids)[2]);
  ASSERT_TRUE(third.ok() && third->has_value());
  EXPECT_EQ((*third)->received_at, kT0 + milliseconds(1));
}

TEST_P(StoreTest, EmptyBatchAppendsNothing) {
  auto ids = store_->append({});
  ASSERT_TRUE(ids.ok());
  EXPECT_TRUE(ids->empty());
}

TEST_P(StoreTest, RejectedAtIntakeKeepsItsError) {
  auto e = journal_entry("garbage", "", kT0);
  e.state = MessageState::rejected;
  e.error = "hl7v2.bad_segment at MSH";
  const JournalId id = append_one(e);
  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::rejected);
  EXPECT_EQ((*got)->error, "hl7v2.bad_segment at MSH");
}

TEST_P(StoreTest, WhatAppendReturnedSurvivesReopen) {
  std::vector<NewJournalEntry> batch{journal_entry("one", "C1", kT0),
                                     journal_entry("two", "C2", kT0)};
  auto ids = store_->append(batch);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  store_.reset();  // close the connection
  store_ = open();
  ASSERT_NE(store_, nullptr);
  for (std::size_t i = 0; i < 2; ++i) {
    auto got = store_->get((*ids)[i]);
    ASSERT_TRUE(got.ok()) << got.error().message();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->raw, batch[i].raw);
  }
}

TEST_P(StoreTest, GetUnknownIdIsEmpty) {
  auto got = store_->get(424242);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

TEST_P(StoreTest, DuplicateIsFoundOnlyWithinTheWindow) {
  const JournalId first = append_one(journal_entry("same bytes", "C1", kT0));
  const JournalId second = append_one(journal_entry("same bytes", "C1", kT0 + seconds(10)));
  append_one(journal_entry("other bytes", "C1", kT0 + seconds(11)));
  append_one(journal_entry("same bytes", "C1", kT0 + seconds(12), "other-source"));
  const std::string hash = sha256_hex("same bytes");

  auto dup = store_->find_duplicate({"lab-results", "C1", hash, kT0 - seconds(50), second});
  ASSERT_TRUE(dup.ok()) << dup.error().message();
  ASSERT_TRUE(dup->has_value());
  EXPECT_EQ(**dup, first);

  // The window starts after the first copy: no duplicate.
  dup = store_->find_duplicate({"lab-results", "C1", hash, kT0 + seconds(5), second});
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->has_value());
  // Same control id, other bytes: not a duplicate.
  dup = store_->find_duplicate({"lab-results", "C1", sha256_hex("new"), kT0, 0});
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->has_value());
  // Other control id.
  dup = store_->find_duplicate({"lab-results", "C2", hash, kT0, 0});
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->has_value());
  // The first copy has no earlier duplicate.
  dup = store_->find_duplicate({"lab-results", "C1", hash, kT0 - seconds(50), first});
  ASSERT_TRUE(dup.ok());
  EXPECT_FALSE(dup->has_value());
}

TEST_P(StoreTest, SetStateRecordsHistoryAndError) {
  const JournalId id = append_one(journal_entry("m", "C1", kT0));
  ASSERT_TRUE(
      store_->set_state(id, MessageState::errored, "mapping failed at PID-3", kT0 + seconds(1))
          .ok());
  ASSERT_TRUE(store_->set_state(id, MessageState::processed, "replayed", kT0 + seconds(2)).ok());

  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::processed);
  EXPECT_EQ((*got)->error, "");  // cleared by the successful replay
  EXPECT_EQ((*got)->updated_at, kT0 + seconds(2));

  auto history = store_->history(id);
  ASSERT_TRUE(history.ok()) << history.error().message();
  ASSERT_EQ(history->size(), 3u);
  EXPECT_FALSE((*history)[0].from.has_value());
  EXPECT_EQ((*history)[0].to, MessageState::received);
  EXPECT_EQ((*history)[0].at, kT0);
  EXPECT_EQ((*history)[1].from, MessageState::received);
  EXPECT_EQ((*history)[1].to, MessageState::errored);
  EXPECT_EQ((*history)[1].detail, "mapping failed at PID-3");
  EXPECT_EQ((*history)[2].from, MessageState::errored);
  EXPECT_EQ((*history)[2].to, MessageState::processed);
  EXPECT_EQ((*history)[2].at, kT0 + seconds(2));
}

// The append's history row is written at the first change; until then history() reads it from
// the journal row (state, received time, error), so a group commit writes no history rows.
TEST_P(StoreTest, TheFirstHistoryRowIsWrittenAtTheFirstChange) {
  NewJournalEntry e = journal_entry("m", "C1", kT0);
  e.state = MessageState::rejected;
  e.error = "207 Application internal error";
  const JournalId id = append_one(std::move(e));
  const std::string rows_of_id =
      "SELECT COUNT(*) FROM journal_history WHERE journal_id = " + std::to_string(id);
  EXPECT_EQ(test::count(*store_, rows_of_id), 0);

  auto before = store_->history(id);
  ASSERT_TRUE(before.ok()) << before.error().message();
  ASSERT_EQ(before->size(), 1u);
  EXPECT_EQ((*before)[0].journal_id, id);
  EXPECT_FALSE((*before)[0].from.has_value());
  EXPECT_EQ((*before)[0].to, MessageState::rejected);
  EXPECT_EQ((*before)[0].at, kT0);
  EXPECT_EQ((*before)[0].detail, "207 Application internal error");

  ASSERT_TRUE(store_->set_state(id, MessageState::processed, "by hand", kT0 + seconds(3)).ok());
  EXPECT_EQ(test::count(*store_, rows_of_id), 2);
  auto after = store_->history(id);
  ASSERT_TRUE(after.ok()) << after.error().message();
  ASSERT_EQ(after->size(), 2u);
  EXPECT_FALSE((*after)[0].from.has_value());  // the same first row, now stored
  EXPECT_EQ((*after)[0].to, MessageState::rejected);
  EXPECT_EQ((*after)[0].at, kT0);
  EXPECT_EQ((*after)[0].detail, "207 Application internal error");
  EXPECT_EQ((*after)[1].from, MessageState::rejected);
  EXPECT_EQ((*after)[1].to, MessageState::processed);

  // Processing an entry appended `received` stores its first row once, before its change.
  const JournalId received = append_one(journal_entry("n", "C2", kT0 + seconds(1)));
  auto done =
      store_->commit_processing(received, MessageState::processed, "1 route", kT0 + seconds(4), {});
  ASSERT_TRUE(done.ok() && *done);
  done =
      store_->commit_processing(received, MessageState::processed, "1 route", kT0 + seconds(5), {});
  ASSERT_TRUE(done.ok());
  EXPECT_FALSE(*done);
  auto processed = store_->history(received);
  ASSERT_TRUE(processed.ok()) << processed.error().message();
  ASSERT_EQ(processed->size(), 2u);
  EXPECT_FALSE((*processed)[0].from.has_value());
  EXPECT_EQ((*processed)[0].to, MessageState::received);
  EXPECT_EQ((*processed)[0].at, kT0 + seconds(1));
  EXPECT_EQ((*processed)[0].detail, "");
  EXPECT_EQ((*processed)[1].from, MessageState::received);
  EXPECT_EQ((*processed)[1].to, MessageState::processed);
  EXPECT_EQ((*processed)[1].at, kT0 + seconds(4));

  auto none = store_->history(987654);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// SQLite (migration 6): one partial index per state looked up, none on (state, id); list() by
// state reads the state's index, and an entry journaled `processed` is in none of them.
TEST_P(StoreTest, SqliteListsByStateThroughPartialIndexes) {
  if (GetParam() != Backend::sqlite) GTEST_SKIP() << "PostgreSQL keeps (state, id)";
  const auto indexes = test::query(
      *store_,
      "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'journal' AND name "
      "LIKE 'journal_state%' ORDER BY name");
  std::vector<std::string> names;
  for (const auto& row : indexes) names.push_back(row[0].value_or(""));
  EXPECT_EQ(names,
            (std::vector<std::string>{"journal_state_errored_idx", "journal_state_received_idx",
                                      "journal_state_rejected_idx"}));
  for (const char* state : {"received", "errored", "rejected"}) {
    const auto plan = test::query(
        *store_,
        std::string("EXPLAIN QUERY PLAN SELECT id FROM journal WHERE id > 0 AND state = '") +
            state + "' ORDER BY id LIMIT 10");
    std::string text;
    for (const auto& row : plan) text += row.back().value_or("") + "\n";
    EXPECT_NE(text.find(std::string("journal_state_") + state + "_idx"), std::string::npos) << text;
  }

  NewJournalEntry e = journal_entry("m", "C1", kT0);
  e.state = MessageState::processed;
  const JournalId processed = append_one(std::move(e));
  const JournalId received = append_one(journal_entry("n", "C2", kT0));
  EXPECT_EQ(test::count(*store_,
                        "SELECT COUNT(*) FROM journal INDEXED BY "
                        "journal_state_received_idx WHERE state = 'received'"),
            1);
  JournalFilter filter;
  filter.state = MessageState::received;
  auto listed = store_->list(filter);
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, received);
  filter.state = MessageState::processed;  // no index: a scan, same answer
  listed = store_->list(filter);
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ((*listed)[0].id, processed);
}

TEST_P(StoreTest, SetStateOfUnknownIdIsNotFound) {
  auto s = store_->set_state(99999, MessageState::processed, "", kT0);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(StoreErrc::not_found)) << s.error().message();
}

TEST_P(StoreTest, UnprocessedIsOldestFirstWithRaw) {
  std::vector<NewJournalEntry> batch{journal_entry("a", "C1", kT0), journal_entry("b", "C2", kT0),
                                     journal_entry("c", "C3", kT0)};
  auto ids = store_->append(batch);
  ASSERT_TRUE(ids.ok());
  ASSERT_TRUE(store_->set_state((*ids)[1], MessageState::processed, "", kT0).ok());

  auto pending = store_->unprocessed(10);
  ASSERT_TRUE(pending.ok()) << pending.error().message();
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, (*ids)[0]);
  EXPECT_EQ((*pending)[0].raw, "a");
  EXPECT_EQ((*pending)[1].id, (*ids)[2]);
  auto one = store_->unprocessed(1);
  ASSERT_TRUE(one.ok());
  ASSERT_EQ(one->size(), 1u);
  EXPECT_EQ((*one)[0].id, (*ids)[0]);
}

TEST_P(StoreTest, ListFiltersByStateSourceTimeAndControlId) {
  const JournalId a = append_one(journal_entry("a", "C1", kT0));
  const JournalId b = append_one(journal_entry("b", "C2", kT0 + seconds(10), "adt-in"));
  const JournalId c = append_one(journal_entry("c", "C3", kT0 + seconds(20)));
  ASSERT_TRUE(store_->set_state(c, MessageState::errored, "boom", kT0 + seconds(21)).ok());

  auto ids_of = [&](const JournalFilter& f) {
    std::vector<JournalId> out;
    auto r = store_->list(f);
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (r.ok()) {
      for (const auto& e : *r) {
        EXPECT_TRUE(e.raw.empty() || f.with_raw);
        out.push_back(e.id);
      }
    }
    return out;
  };
  JournalFilter f;
  EXPECT_EQ(ids_of(f), (std::vector<JournalId>{a, b, c}));
  f.state = MessageState::errored;
  EXPECT_EQ(ids_of(f), (std::vector<JournalId>{c}));
  f = {};
  f.source = "adt-in";
  EXPECT_EQ(ids_of(f), (std::vector<JournalId>{b}));
  f = {};
  f.received_from = kT0 + seconds(5);
  f.received_until = kT0 + seconds(20);
  EXPECT_EQ(ids_of(f), (std::vector<JournalId>{b}));
  f = {};
  f.control_id = "C3";
  EXPECT_EQ(ids_of(f), (std::vector<JournalId>{c}));
  f = {};
  f.after_id = a;
  f.limit = 1;
  EXPECT_EQ(ids_of(f), (std::vector<JournalId>{b}));
}

TEST_P(StoreTest, HeadNotDueBlocksItsDestinationOnly) {
  const JournalId id = append_one(journal_entry("m", "C1", kT0));
  auto a1 = store_->enqueue(item("acme-lab", "A1", kT0 + seconds(60)), id, kT0);
  auto a2 = store_->enqueue(item("acme-lab", "A2", kT0), id, kT0);
  auto b1 = store_->enqueue(item("payer-blue", "B1", kT0), id, kT0);
  ASSERT_TRUE(a1.ok() && a2.ok() && b1.ok()) << (a1.ok() ? "" : a1.error().message());

  EXPECT_TRUE(nothing_due("acme-lab", kT0));  // A2 is due but waits behind A1
  QueueItem b = claim("payer-blue", kT0);
  EXPECT_EQ(b.payload, "B1");
  EXPECT_EQ(b.journal_id, id);
  QueueItem head = claim("acme-lab", kT0 + seconds(60));
  EXPECT_EQ(head.id, *a1);
  EXPECT_EQ(head.payload, "A1");
  ASSERT_TRUE(store_->mark_delivered(head, kT0 + seconds(61)).ok());
  QueueItem next = claim("acme-lab", kT0 + seconds(61));
  EXPECT_EQ(next.id, *a2);
}

TEST_P(StoreTest, RetryStoresAttemptsBackoffAndError) {
  auto id = store_->enqueue(item("acme-lab", "P", kT0), 0, kT0);
  ASSERT_TRUE(id.ok()) << id.error().message();
  QueueItem q = claim("acme-lab", kT0);
  EXPECT_EQ(q.attempts, 0);
  EXPECT_EQ(q.lease_owner, store_->lease_owner());
  EXPECT_EQ(q.lease_until, kT0 + kLease);
  ASSERT_TRUE(store_->mark_retry(q, kT0 + seconds(2), "connect timed out").ok());

  auto stored = store_->get_queue_item(*id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->attempts, 1);
  EXPECT_EQ((*stored)->not_before, kT0 + seconds(2));
  EXPECT_EQ((*stored)->last_error, "connect timed out");
  EXPECT_EQ((*stored)->lease_owner, "");  // released

  EXPECT_TRUE(nothing_due("acme-lab", kT0 + seconds(1)));
  q = claim("acme-lab", kT0 + seconds(2));
  EXPECT_EQ(q.id, *id);
  ASSERT_TRUE(store_->mark_retry(q, kT0 + seconds(6), "AE from partner").ok());
  stored = store_->get_queue_item(*id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->attempts, 2);
  EXPECT_EQ((*stored)->not_before, kT0 + seconds(6));
  // A retry of an item no longer leased is refused.
  auto again = store_->mark_retry(q, kT0 + seconds(9), "late");
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().is(StoreErrc::lease_lost));
}

TEST_P(StoreTest, DeadLetterUnblocksTheQueueAndCanBeRequeued) {
  auto first = store_->enqueue(item("acme-lab", "first", kT0), 0, kT0);
  auto second = store_->enqueue(item("acme-lab", "second", kT0), 0, kT0);
  ASSERT_TRUE(first.ok() && second.ok());
  QueueItem q = claim("acme-lab", kT0);
  ASSERT_TRUE(store_->mark_dead(q, "AR: unknown patient", kT0 + seconds(1)).ok());

  auto stats = store_->queue_stats("acme-lab", kT0 + seconds(1));
  ASSERT_TRUE(stats.ok()) << stats.error().message();
  EXPECT_EQ(stats->depth, 1);
  EXPECT_EQ(stats->dead, 1);
  auto dead = store_->get_queue_item(*first);
  ASSERT_TRUE(dead.ok() && dead->has_value());
  EXPECT_EQ((*dead)->status, QueueItemStatus::dead);
  EXPECT_EQ((*dead)->attempts, 1);
  EXPECT_EQ((*dead)->last_error, "AR: unknown patient");

  QueueItem next = claim("acme-lab", kT0 + seconds(1));
  EXPECT_EQ(next.id, *second);
  ASSERT_TRUE(store_->mark_delivered(next, kT0 + seconds(2)).ok());

  auto none = store_->requeue_dead({std::string("payer-blue"), std::nullopt}, kT0 + seconds(3));
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, 0);
  auto requeued = store_->requeue_dead({std::string("acme-lab"), std::nullopt}, kT0 + seconds(3));
  ASSERT_TRUE(requeued.ok()) << requeued.error().message();
  EXPECT_EQ(*requeued, 1);
  EXPECT_TRUE(nothing_due("acme-lab", kT0 + seconds(2)));  // due again only from "now"
  QueueItem back = claim("acme-lab", kT0 + seconds(3));
  EXPECT_EQ(back.id, *first);
  EXPECT_EQ(back.attempts, 0);
  EXPECT_EQ(back.last_error, "AR: unknown patient");
  stats = store_->queue_stats("acme-lab", kT0 + seconds(3));
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->dead, 0);
  EXPECT_EQ(stats->depth, 1);
}

TEST_P(StoreTest, QueueStatsGiveDepthAndOldestAge) {
  auto empty = store_->queue_stats("acme-lab", kT0);
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_EQ(empty->depth, 0);
  EXPECT_FALSE(empty->oldest_age.has_value());
  EXPECT_EQ(empty->dead, 0);

  ASSERT_TRUE(store_->enqueue(item("acme-lab", "1", kT0), 0, kT0).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "2", kT0), 0, kT0 + seconds(5)).ok());
  ASSERT_TRUE(store_->enqueue(item("payer-blue", "3", kT0), 0, kT0 - seconds(100)).ok());
  auto stats = store_->queue_stats("acme-lab", kT0 + seconds(10));
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->depth, 2);
  ASSERT_TRUE(stats->oldest_age.has_value());
  EXPECT_EQ(*stats->oldest_age, std::chrono::microseconds(seconds(10)));
}

TEST_P(StoreTest, TwoDestinationsAreIndependent) {
  for (const char* p : {"a1", "a2"}) {
    ASSERT_TRUE(store_->enqueue(item("acme-lab", p, kT0), 0, kT0).ok());
  }
  for (const char* p : {"b1", "b2", "b3"}) {
    ASSERT_TRUE(store_->enqueue(item("payer-blue", p, kT0), 0, kT0).ok());
  }
  // acme-lab keeps failing; payer-blue delivers everything, in order.
  QueueItem a = claim("acme-lab", kT0);
  ASSERT_TRUE(store_->mark_retry(a, kT0 + seconds(300), "refused").ok());
  std::vector<std::string> delivered;
  for (int i = 0; i < 3; ++i) {
    QueueItem b = claim("payer-blue", kT0 + seconds(1));
    delivered.push_back(b.payload);
    ASSERT_TRUE(store_->mark_delivered(b, kT0 + seconds(1)).ok());
  }
  EXPECT_EQ(delivered, (std::vector<std::string>{"b1", "b2", "b3"}));
  EXPECT_TRUE(nothing_due("payer-blue", kT0 + seconds(1)));
  EXPECT_TRUE(nothing_due("acme-lab", kT0 + seconds(1)));
  auto stats = store_->queue_stats("acme-lab", kT0 + seconds(1));
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->depth, 2);
}

TEST_P(StoreTest, CommitProcessingChangesStateAndEnqueuesAtomically) {
  const JournalId id = append_one(journal_entry("m", "C1", kT0));
  std::vector<NewQueueItem> items{item("acme-lab", "out1", kT0), item("payer-blue", "out2", kT0)};
  auto done =
      store_->commit_processing(id, MessageState::processed, "2 routes", kT0 + seconds(1), items);
  ASSERT_TRUE(done.ok()) << done.error().message();
  EXPECT_TRUE(*done);
  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::processed);
  EXPECT_EQ(claim("acme-lab", kT0 + seconds(1)).payload, "out1");
  EXPECT_EQ(claim("payer-blue", kT0 + seconds(1)).payload, "out2");
}

TEST_P(StoreTest, CommitProcessingFailureRollsBackEverything) {
  const JournalId id = append_one(journal_entry("m", "C1", kT0));
  std::vector<NewQueueItem> items{item("acme-lab", "out1", kT0), item("", "bad", kT0)};
  auto s = store_->commit_processing(id, MessageState::processed, "", kT0 + seconds(1), items);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(StoreErrc::bad_argument)) << s.error().message();

  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::received);
  auto history = store_->history(id);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 1u);
  auto stats = store_->queue_stats("acme-lab", kT0);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->depth, 0);
  // The store is usable afterwards.
  EXPECT_TRUE(store_->set_state(id, MessageState::filtered, "no route", kT0).ok());
}

TEST_P(StoreTest, TransactCommitsAllOrNothing) {
  JournalId kept = 0;
  ASSERT_TRUE(store_
                  ->transact([&]() -> Status {
                    kept = append_one(journal_entry("kept", "C1", kT0));
                    auto q = store_->enqueue(item("acme-lab", "kept", kT0), kept, kT0);
                    if (!q.ok()) return q.take_error();
                    return {};
                  })
                  .ok());
  // The body fails after two successful writes: both are rolled back.
  auto failed = store_->transact([&]() -> Status {
    append_one(journal_entry("dropped", "C2", kT0));
    EXPECT_TRUE(store_->enqueue(item("acme-lab", "dropped", kT0), 0, kT0).ok());
    return Error(StoreErrc::bad_argument, "test", "route failed");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().detail(), "route failed");
  // A failing store call inside fails the transaction even if the body ignores it.
  auto ignored = store_->transact([&]() -> Status {
    append_one(journal_entry("dropped too", "C3", kT0));
    (void)store_->set_state(987654, MessageState::processed, "", kT0);
    return {};
  });
  ASSERT_FALSE(ignored.ok());
  EXPECT_TRUE(ignored.error().is(StoreErrc::not_found));

  auto all = store_->list({});
  ASSERT_TRUE(all.ok()) << all.error().message();
  ASSERT_EQ(all->size(), 1u);
  EXPECT_EQ((*all)[0].id, kept);
  auto stats = store_->queue_stats("acme-lab", kT0);
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->depth, 1);
}

TEST_P(StoreTest, MigrationsAreRecordedAndIdempotent) {
  auto applied = store_->applied_migrations();
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  const auto known = Store::known_migrations();
  ASSERT_FALSE(known.empty());
  ASSERT_EQ(applied->size(), known.size());
  for (std::size_t i = 0; i < known.size(); ++i) {
    EXPECT_EQ((*applied)[i].version, known[i].version);
    EXPECT_EQ((*applied)[i].name, known[i].name);
  }
  const JournalId id = append_one(journal_entry("m", "C1", kT0));
  ASSERT_TRUE(store_->migrate().ok());
  ASSERT_TRUE(store_->migrate().ok());
  store_.reset();
  store_ = open();  // migrates at open again
  ASSERT_NE(store_, nullptr);
  auto again = store_->applied_migrations();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->size(), known.size());
  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());  // data untouched
}

TEST_P(StoreTest, LeaseKeepsTheHeadFromAnotherStoreUntilItExpires) {
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "1", kT0), 0, kT0).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "2", kT0), 0, kT0).ok());
  auto other = open();
  ASSERT_NE(other, nullptr);
  ASSERT_NE(other->lease_owner(), store_->lease_owner());

  QueueItem mine = claim("acme-lab", kT0);
  auto theirs = other->next_due("acme-lab", kT0 + seconds(1), kLease);
  ASSERT_TRUE(theirs.ok()) << theirs.error().message();
  EXPECT_FALSE(theirs->has_value());  // neither the head nor the item behind it

  // The lease expires (this store died): the other store takes the same head over.
  theirs = other->next_due("acme-lab", kT0 + kLease, kLease);
  ASSERT_TRUE(theirs.ok());
  ASSERT_TRUE(theirs->has_value());
  EXPECT_EQ((*theirs)->id, mine.id);
  auto late = store_->mark_delivered(mine, kT0 + kLease);
  ASSERT_FALSE(late.ok());
  EXPECT_TRUE(late.error().is(StoreErrc::lease_lost));
  EXPECT_TRUE(other->mark_delivered(**theirs, kT0 + kLease).ok());
}

TEST_P(StoreTest, SkipLockedClaimDoesNotWaitForAnotherClaimer) {
  if (GetParam() != Backend::postgres) {
    GTEST_SKIP() << "SQLite serializes writers; SKIP LOCKED is a PostgreSQL feature";
  }
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "1", kT0), 0, kT0).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "2", kT0), 0, kT0).ok());
  auto other = open();
  ASSERT_NE(other, nullptr);
  QueueItem mine;
  const auto started = std::chrono::steady_clock::now();
  auto s = store_->transact([&]() -> Status {
    mine = claim("acme-lab", kT0);  // head row locked until this transaction ends
    auto theirs = other->next_due("acme-lab", kT0, kLease);
    EXPECT_TRUE(theirs.ok()) << theirs.error().message();
    EXPECT_FALSE(theirs.ok() && theirs->has_value()) << "claimed a locked or later item";
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - started, seconds(5));
  auto after = other->next_due("acme-lab", kT0, kLease);  // now leased by store_
  ASSERT_TRUE(after.ok());
  EXPECT_FALSE(after->has_value());
  EXPECT_TRUE(store_->mark_delivered(mine, kT0).ok());
  auto next = other->next_due("acme-lab", kT0, kLease);
  ASSERT_TRUE(next.ok() && next->has_value());
  EXPECT_EQ((*next)->payload, "2");
}

TEST_P(StoreTest, AppendOfManyChunksReturnsEveryIdInBatchOrder) {
  std::vector<NewJournalEntry> batch;
  // Two full 64-row chunks, then 16, 4 and 2 rows (PostgreSQL: 22 rows padded to 32).
  for (int i = 0; i < 150; ++i) {
    auto e =
        journal_entry("raw " + std::to_string(i), "C" + std::to_string(i), kT0 + milliseconds(i));
    if (i == 70) {
      e.state = MessageState::rejected;
      e.error = "hl7v2.bad_segment";
    }
    batch.push_back(std::move(e));
  }
  auto ids = store_->append(batch);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  ASSERT_EQ(ids->size(), batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (i > 0) {
      EXPECT_LT((*ids)[i - 1], (*ids)[i]);
    }
    auto got = store_->get((*ids)[i]);
    ASSERT_TRUE(got.ok() && got->has_value()) << i;
    EXPECT_EQ((*got)->raw, batch[i].raw);
    EXPECT_EQ((*got)->control_id, batch[i].control_id);
    EXPECT_EQ((*got)->received_at, batch[i].received_at);
    EXPECT_EQ((*got)->content_hash, sha256_hex(batch[i].raw));
    auto history = store_->history((*ids)[i]);
    ASSERT_TRUE(history.ok() && history->size() == 1u) << i;
    EXPECT_EQ((*history)[0].to, batch[i].state);
    EXPECT_EQ((*history)[0].at, batch[i].received_at);
    EXPECT_EQ((*history)[0].detail, batch[i].error);
  }
}

TEST_P(StoreTest, FindDuplicatesAnswersLikeFindDuplicateInQueryOrder) {
  const JournalId first = append_one(journal_entry("same bytes", "C1", kT0));
  const JournalId second = append_one(journal_entry("same bytes", "C1", kT0 + seconds(10)));
  const JournalId other = append_one(journal_entry("other bytes", "C2", kT0 + seconds(11)));
  const std::string hash = sha256_hex("same bytes");
  std::vector<DuplicateQuery> queries{
      {"lab-results", "C1", hash, kT0 - seconds(50), second},  // first
      {"lab-results", "C1", hash, kT0 + seconds(5), second},   // outside the window
      {"lab-results", "C1", sha256_hex("new"), kT0, 0},        // other bytes
      {"lab-results", "C1", hash, kT0 - seconds(50), first},   // nothing earlier
      {"lab-results", "C1", hash, kT0 - seconds(50), 0},       // first, any id
      {"other-source", "C1", hash, kT0, 0},
      {"lab-results", "C2", sha256_hex("other bytes"), kT0, 0},  // other
  };
  for (int i = 0; i < 70; ++i) {  // more than one statement's worth
    queries.push_back({"lab-results", i % 2 == 0 ? "C1" : "C9", hash, kT0 + seconds(5), 0});
  }
  auto found = store_->find_duplicates(queries);
  ASSERT_TRUE(found.ok()) << found.error().message();
  ASSERT_EQ(found->size(), queries.size());
  EXPECT_EQ((*found)[0], std::optional<JournalId>(first));
  EXPECT_EQ((*found)[1], std::nullopt);
  EXPECT_EQ((*found)[2], std::nullopt);
  EXPECT_EQ((*found)[3], std::nullopt);
  EXPECT_EQ((*found)[4], std::optional<JournalId>(first));
  EXPECT_EQ((*found)[5], std::nullopt);
  EXPECT_EQ((*found)[6], std::optional<JournalId>(other));
  for (std::size_t i = 0; i < queries.size(); ++i) {
    auto one = store_->find_duplicate(queries[i]);
    ASSERT_TRUE(one.ok()) << one.error().message();
    EXPECT_EQ((*found)[i], *one) << "query " << i;
  }
  auto none = store_->find_duplicates({});
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

// OpenOptions::duplicate_horizon: SQLite answers look-ups inside the horizon from memory (the
// journal has no control id index there); PostgreSQL reads its index. Same answers on both.
TEST_P(StoreTest, DuplicateLookUpsInsideTheHorizonGiveTheSameAnswersAsTheJournal) {
  OpenOptions options;
  options.duplicate_horizon = std::chrono::minutes(5);
  reopen(options);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->duplicate_memory().on, GetParam() == Backend::sqlite);

  const TimePoint now = Clock::now();
  const std::string hash = sha256_hex("same bytes");
  const JournalId old = append_one(journal_entry("same bytes", "C1", now - std::chrono::hours(2)));
  const JournalId first = append_one(journal_entry("same bytes", "C1", now - seconds(20)));
  const JournalId second = append_one(journal_entry("same bytes", "C1", now - seconds(10)));
  append_one(journal_entry("same bytes", "", now - seconds(10)));  // no control id: never asked
  const std::vector<DuplicateQuery> queries{
      {"lab-results", "C1", hash, now - seconds(60), 0},                 // first
      {"lab-results", "C1", hash, now - seconds(15), 0},                 // second
      {"lab-results", "C1", hash, now - seconds(60), first},             // nothing before first
      {"lab-results", "C1", hash, now - seconds(60), second},            // first
      {"lab-results", "C1", sha256_hex("other"), now - seconds(60), 0},  // other bytes
      {"other-source", "C1", hash, now - seconds(60), 0},                // other source
      {"lab-results", "C1", hash, now - std::chrono::hours(3), 0},       // before the horizon: old
  };
  const std::vector<std::optional<JournalId>> expected{
      first, second, std::nullopt, first, std::nullopt, std::nullopt, old};
  auto found = store_->find_duplicates(queries);
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(*found, expected);

  // A new store on the same journal reads the window back.
  reopen(options);
  ASSERT_NE(store_, nullptr);
  if (GetParam() == Backend::sqlite) {
    EXPECT_EQ(store_->duplicate_memory().entries, 2u);  // the two C1 entries inside the window
  }
  found = store_->find_duplicates(queries);
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(*found, expected);

  // An append rolled back is not remembered; one earlier in the same transaction is found.
  const std::string other_hash = sha256_hex("new bytes");
  const DuplicateQuery new_query{"lab-results", "C7", other_hash, now - seconds(60), 0};
  Status rolled_back = store_->transact([&]() -> Status {
    append_one(journal_entry("new bytes", "C7", now));
    return Error(StoreErrc::bad_argument, "test", "roll back");
  });
  EXPECT_FALSE(rolled_back.ok());
  auto after = store_->find_duplicate(new_query);
  ASSERT_TRUE(after.ok()) << after.error().message();
  EXPECT_EQ(*after, std::nullopt);
  JournalId in_tx = 0;
  Status committed = store_->transact([&]() -> Status {
    in_tx = append_one(journal_entry("new bytes", "C7", now));
    auto same_tx = store_->find_duplicate(new_query);
    if (!same_tx.ok()) return same_tx.take_error();
    EXPECT_EQ(*same_tx, std::optional<JournalId>(in_tx));
    return {};
  });
  ASSERT_TRUE(committed.ok()) << committed.error().message();
  after = store_->find_duplicate(new_query);
  ASSERT_TRUE(after.ok()) << after.error().message();
  EXPECT_EQ(*after, std::optional<JournalId>(in_tx));
}

TEST_P(StoreTest, DuplicateMemoryKeepsAtMostItsLimitAndCountsWhatItDropped) {
  if (GetParam() != Backend::sqlite) GTEST_SKIP() << "PostgreSQL keeps no duplicate memory";
  OpenOptions options;
  options.duplicate_horizon = std::chrono::minutes(5);
  options.duplicate_memory_limit = 2;
  reopen(options);
  ASSERT_NE(store_, nullptr);
  const TimePoint now = Clock::now();
  for (int i = 0; i < 3; ++i) append_one(journal_entry("m", "C" + std::to_string(i), now));
  EXPECT_EQ(store_->duplicate_memory().entries, 2u);
  EXPECT_EQ(store_->duplicate_memory().evicted, 1u);
  // The oldest is no longer found: the window is shorter by what the limit dropped.
  auto dropped = store_->find_duplicate({"lab-results", "C0", sha256_hex("m"), now, 0});
  ASSERT_TRUE(dropped.ok()) << dropped.error().message();
  EXPECT_EQ(*dropped, std::nullopt);
  auto kept = store_->find_duplicate({"lab-results", "C2", sha256_hex("m"), now, 0});
  ASSERT_TRUE(kept.ok()) << kept.error().message();
  EXPECT_TRUE(kept->has_value());
}

// SQLite reads the duplicate window back newest first by id (no received-time index since
// migration 7): in pages, past more than a page of entries committed late with an old time, to
// the first page wholly older than the window, and up to the memory's limit, keeping the newest.
TEST_P(StoreTest, SqliteReadsTheWindowBackNewestFirstAcrossPagesAndLateEntries) {
  if (GetParam() != Backend::sqlite) GTEST_SKIP() << "PostgreSQL keeps no duplicate memory";
  const TimePoint now = Clock::now();
  std::vector<NewJournalEntry> old;
  for (int i = 0; i < 5000; ++i) {
    old.push_back(journal_entry("old", "O" + std::to_string(i), now - std::chrono::hours(2)));
  }
  ASSERT_TRUE(store_->append(old).ok());
  const JournalId first = append_one(journal_entry("a", "C1", now - seconds(30)));
  std::vector<NewJournalEntry> late;  // committed late: a page and more with an old time
  for (int i = 0; i < 5000; ++i) {
    late.push_back(journal_entry("late", "L" + std::to_string(i), now - std::chrono::hours(3)));
  }
  ASSERT_TRUE(store_->append(late).ok());
  const JournalId third = append_one(journal_entry("b", "C3", now - seconds(20)));
  append_one(journal_entry("c", "", now - seconds(10)));  // no control id: not remembered

  OpenOptions options;
  options.duplicate_horizon = std::chrono::minutes(5);
  reopen(options);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->duplicate_memory().entries, 2u);
  auto found = store_->find_duplicates(
      std::vector<DuplicateQuery>{{"lab-results", "C1", sha256_hex("a"), now - seconds(60), 0},
                                  {"lab-results", "C3", sha256_hex("b"), now - seconds(60), 0}});
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(*found, (std::vector<std::optional<JournalId>>{first, third}));

  options.duplicate_memory_limit = 1;
  reopen(options);
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->duplicate_memory().entries, 1u);
  auto newest =
      store_->find_duplicate({"lab-results", "C3", sha256_hex("b"), now - seconds(60), 0});
  ASSERT_TRUE(newest.ok()) << newest.error().message();
  EXPECT_EQ(*newest, std::optional<JournalId>(third));
}

// PostgreSQL (migration 8): on a journal with no statistics yet, the generic plan of the
// duplicate look-up (a prepared statement, planned once) reads journal_duplicate_idx. With the
// stats index led by `source` it took that one and read every entry of the source per look-up.
TEST_P(StoreTest, PostgresDuplicateLookUpUsesItsIndexOnANewJournal) {
  if (GetParam() != Backend::postgres) GTEST_SKIP() << "SQLite looks duplicates up in memory";
  auto driver = open_postgres_driver(url_, {});
  ASSERT_TRUE(driver.ok()) << driver.error().message();
  Driver& d = **driver;
  ASSERT_TRUE(d.begin().ok());
  ASSERT_TRUE(d.script("SET LOCAL plan_cache_mode = force_generic_plan; PREPARE look_up(bigint, "
                       "text, text, text, bigint, bigint) AS " +
                       duplicates_select_sql(1))
                  .ok());
  auto plan = d.query("EXPLAIN EXECUTE look_up(0, 'lab-results', 'C1', 'h', 0, 0)", {});
  ASSERT_TRUE(plan.ok()) << plan.error().message();
  std::string text;
  for (const Row& row : *plan) text += row[0].value_or("") + "\n";
  EXPECT_NE(text.find("journal_duplicate_idx"), std::string::npos) << text;
  d.rollback();
}

// PostgreSQL (migration 9): one state index, (state, id) INCLUDE (source), answers the stats
// count alone; no index has `state` without `id`.
TEST_P(StoreTest, PostgresCountsTheJournalFromItsOneStateIndex) {
  if (GetParam() != Backend::postgres) GTEST_SKIP() << "SQLite has partial state indexes";
  const auto indexes = test::query(
      *store_, "SELECT indexname FROM pg_indexes WHERE tablename = 'journal' ORDER BY indexname");
  std::vector<std::string> names;
  for (const auto& row : indexes) names.push_back(row[0].value_or(""));
  EXPECT_EQ(names, (std::vector<std::string>{"journal_duplicate_idx", "journal_pkey",
                                             "journal_received_idx", "journal_state_idx"}));
  // Its key and included column hold all that journal_counts reads (an index-only scan once
  // VACUUM has marked the pages all-visible).
  const auto definition =
      test::query(*store_, "SELECT indexdef FROM pg_indexes WHERE indexname = 'journal_state_idx'");
  ASSERT_EQ(definition.size(), 1u);
  EXPECT_NE(definition[0][0].value_or("").find("(state, id) INCLUDE (source)"), std::string::npos)
      << definition[0][0].value_or("");
}

// Counts the statements (query, query_unprepared) it runs.
class CountingDriver final : public test::ForwardingDriver {
 public:
  CountingDriver(std::unique_ptr<Driver> inner, int& statements)
      : ForwardingDriver(std::move(inner)), statements_(statements) {}
  Result<Rows> query(std::string_view sql, std::span<const Param> params) override {
    ++statements_;
    return ForwardingDriver::query(sql, params);
  }
  Result<Rows> query_unprepared(std::string_view sql, std::span<const Param> params) override {
    ++statements_;
    return ForwardingDriver::query_unprepared(sql, params);
  }

 private:
  int& statements_;
};

// PostgreSQL: every statement is a round trip to the server, so a batch of fewer than 64 rows is
// one statement, padded up to a power of two, not 16 + 8 + 4 + 1 rows in four. The padding rows
// leave nothing behind and answer nothing.
TEST_P(StoreTest, PostgresRunsABatchOf29RowsAsOneStatement) {
  if (GetParam() != Backend::postgres) GTEST_SKIP() << "SQLite has no round trip to save";
  auto driver = open_postgres_driver(url_, {});
  ASSERT_TRUE(driver.ok()) << driver.error().message();
  int statements = 0;
  Store store(std::make_unique<CountingDriver>(std::move(*driver), statements), "counting");
  constexpr std::size_t kRows = 29;
  std::vector<NewJournalEntry> batch;
  for (std::size_t i = 0; i < kRows; ++i) {
    batch.push_back(
        journal_entry("raw " + std::to_string(i), "C" + std::to_string(i), kT0 + milliseconds(i)));
  }
  auto ids = store.append(batch);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  EXPECT_EQ(statements, 1);
  ASSERT_EQ(ids->size(), kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    auto got = store.get((*ids)[i]);
    ASSERT_TRUE(got.ok() && got->has_value()) << i;
    EXPECT_EQ((*got)->raw, batch[i].raw) << i;
  }

  std::vector<DuplicateQuery> queries;
  for (std::size_t i = 0; i < kRows; ++i) {
    queries.push_back({"lab-results", batch[i].control_id, sha256_hex(batch[i].raw), kT0, 0});
  }
  statements = 0;
  auto found = store.find_duplicates(queries);
  ASSERT_TRUE(found.ok()) << found.error().message();
  EXPECT_EQ(statements, 1);
  ASSERT_EQ(found->size(), kRows);
  for (std::size_t i = 0; i < kRows; ++i) EXPECT_EQ((*found)[i], (*ids)[i]) << i;

  std::vector<std::vector<NewQueueItem>> items(kRows);
  std::vector<JournalQueueItems> queued;
  for (std::size_t i = 0; i < kRows; ++i) {
    items[i].push_back(item("acme-lab", std::to_string(i), kT0));
    queued.push_back({(*ids)[i], items[i]});
  }
  statements = 0;
  ASSERT_TRUE(store.enqueue_batch(queued, kT0).ok());
  EXPECT_EQ(statements, 1);

  EXPECT_EQ(test::count(store, "SELECT count(*) FROM journal"), 29);
  EXPECT_EQ(test::count(store, "SELECT count(*) FROM queue_items"), 29);
  auto head = store.next_due_batch("acme-lab", kT0, kLease, 64);
  ASSERT_TRUE(head.ok()) << head.error().message();
  ASSERT_EQ(head->size(), kRows);
  for (std::size_t i = 0; i < kRows; ++i) {
    EXPECT_EQ((*head)[i].payload, std::to_string(i));
    EXPECT_EQ((*head)[i].journal_id, (*ids)[i]);
  }
}

TEST_P(StoreTest, NextDueBatchClaimsTheHeadUpToMaxInOrder) {
  for (const char* p : {"1", "2", "3", "4", "5"}) {
    ASSERT_TRUE(store_->enqueue(item("acme-lab", p, kT0, "lab-results"), 0, kT0).ok());
  }
  ASSERT_TRUE(store_->enqueue(item("payer-blue", "b", kT0), 0, kT0).ok());
  auto batch = store_->next_due_batch("acme-lab", kT0, kLease, 3);
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  EXPECT_EQ(payloads(*batch), (std::vector<std::string>{"1", "2", "3"}));
  for (const auto& q : *batch) {
    EXPECT_EQ(q.lease_owner, store_->lease_owner());
    EXPECT_EQ(q.lease_until, kT0 + kLease);
    EXPECT_EQ(q.route, "lab-results");
    auto stored = store_->get_queue_item(q.id);
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_EQ((*stored)->lease_owner, store_->lease_owner());
    EXPECT_EQ((*stored)->lease_until, kT0 + kLease);
  }
  auto fourth = store_->get_queue_item((*batch)[2].id + 1);
  ASSERT_TRUE(fourth.ok() && fourth->has_value());
  EXPECT_EQ((*fourth)->payload, "4");
  EXPECT_EQ((*fourth)->lease_owner, "");  // not claimed
  for (const auto& q : *batch) ASSERT_TRUE(store_->mark_delivered(q, kT0).ok());
  batch = store_->next_due_batch("acme-lab", kT0, kLease, 10);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(payloads(*batch), (std::vector<std::string>{"4", "5"}));
  auto nothing = store_->next_due_batch("acme-lab", kT0, kLease, 0);
  ASSERT_TRUE(nothing.ok());
  EXPECT_TRUE(nothing->empty());
  auto unknown = store_->next_due_batch("nowhere", kT0, kLease, 10);
  ASSERT_TRUE(unknown.ok());
  EXPECT_TRUE(unknown->empty());
}

TEST_P(StoreTest, NextDueBatchStopsAtAnItemNotYetDue) {
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "1", kT0), 0, kT0).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "2", kT0 + seconds(60)), 0, kT0).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "3", kT0), 0, kT0).ok());
  auto batch = store_->next_due_batch("acme-lab", kT0, kLease, 10);
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  EXPECT_EQ(payloads(*batch), (std::vector<std::string>{"1"}));  // 3 is due but waits behind 2
  auto third = store_->get_queue_item((*batch)[0].id + 2);
  ASSERT_TRUE(third.ok() && third->has_value());
  EXPECT_EQ((*third)->lease_owner, "");
  // Once 2 is due the whole head comes, 1 again since this store holds its lease.
  batch = store_->next_due_batch("acme-lab", kT0 + seconds(60), kLease, 10);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(payloads(*batch), (std::vector<std::string>{"1", "2", "3"}));
}

TEST_P(StoreTest, NextDueBatchStopsAtAnItemLeasedByAnotherStore) {
  auto first = store_->enqueue(item("acme-lab", "1", kT0), 0, kT0);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "2", kT0), 0, kT0).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "3", kT0), 0, kT0).ok());
  auto other = open();
  ASSERT_NE(other, nullptr);
  // 1 goes dead, the other store claims 2, then 1 is requeued: a free head, a leased item behind.
  QueueItem one = claim("acme-lab", kT0);
  ASSERT_TRUE(store_->mark_dead(one, "AR", kT0).ok());
  auto two = other->next_due("acme-lab", kT0, kLease);
  ASSERT_TRUE(two.ok() && two->has_value());
  EXPECT_EQ((*two)->payload, "2");
  DeadLetterFilter dead;
  dead.id = *first;
  auto requeued = store_->requeue_dead(dead, kT0 + seconds(1));
  ASSERT_TRUE(requeued.ok() && *requeued == 1);

  auto batch = store_->next_due_batch("acme-lab", kT0 + seconds(1), kLease, 10);
  ASSERT_TRUE(batch.ok()) << batch.error().message();
  EXPECT_EQ(payloads(*batch), (std::vector<std::string>{"1"}));  // never 3 without 2
  auto theirs = other->next_due_batch("acme-lab", kT0 + seconds(1), kLease, 10);
  ASSERT_TRUE(theirs.ok());
  EXPECT_TRUE(theirs->empty());  // the head (1) is leased by store_

  // The other store's lease on 2 expires: this store gets 1, 2 and 3.
  batch = store_->next_due_batch("acme-lab", kT0 + kLease, kLease, 10);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(payloads(*batch), (std::vector<std::string>{"1", "2", "3"}));
  auto late = other->mark_delivered(**two, kT0 + kLease);
  ASSERT_FALSE(late.ok());
  EXPECT_TRUE(late.error().is(StoreErrc::lease_lost));
}

TEST_P(StoreTest, NextDueBatchLeaseExpiresForTheWholeBatch) {
  for (const char* p : {"1", "2", "3"}) {
    ASSERT_TRUE(store_->enqueue(item("acme-lab", p, kT0), 0, kT0).ok());
  }
  auto other = open();
  ASSERT_NE(other, nullptr);
  auto mine = store_->next_due_batch("acme-lab", kT0, kLease, 10);
  ASSERT_TRUE(mine.ok() && mine->size() == 3u);
  auto theirs = other->next_due_batch("acme-lab", kT0 + kLease - milliseconds(1), kLease, 10);
  ASSERT_TRUE(theirs.ok());
  EXPECT_TRUE(theirs->empty());
  theirs = other->next_due_batch("acme-lab", kT0 + kLease, kLease, 10);
  ASSERT_TRUE(theirs.ok());
  EXPECT_EQ(payloads(*theirs), (std::vector<std::string>{"1", "2", "3"}));
  for (const auto& q : *theirs) EXPECT_EQ(q.lease_owner, other->lease_owner());
  auto late = store_->mark_delivered((*mine)[1], kT0 + kLease);
  ASSERT_FALSE(late.ok());
  EXPECT_TRUE(late.error().is(StoreErrc::lease_lost));
}

TEST_P(StoreTest, NextDueBatchDoesNotClaimBehindAHeadLockedByAnotherClaimer) {
  if (GetParam() != Backend::postgres) {
    GTEST_SKIP() << "SQLite serializes writers; SKIP LOCKED is a PostgreSQL feature";
  }
  for (const char* p : {"1", "2", "3"}) {
    ASSERT_TRUE(store_->enqueue(item("acme-lab", p, kT0), 0, kT0).ok());
  }
  auto other = open();
  ASSERT_NE(other, nullptr);
  auto s = store_->transact([&]() -> Status {
    QueueItem head = claim("acme-lab", kT0);  // row locked until this transaction ends
    EXPECT_EQ(head.payload, "1");
    auto theirs = other->next_due_batch("acme-lab", kT0, kLease, 10);
    EXPECT_TRUE(theirs.ok()) << theirs.error().message();
    EXPECT_TRUE(theirs.ok() && theirs->empty()) << "claimed behind a locked head";
    return {};
  });
  ASSERT_TRUE(s.ok()) << s.error().message();
}

TEST_P(StoreTest, CommitProcessingAppliesOnlyOnce) {
  const JournalId id = append_one(journal_entry("m", "C1", kT0));
  std::vector<NewQueueItem> items{item("acme-lab", "out1", kT0, "lab-results")};
  auto first = store_->commit_processing(id, MessageState::processed, "1 route", kT0, items);
  ASSERT_TRUE(first.ok()) << first.error().message();
  EXPECT_TRUE(*first);
  std::vector<NewQueueItem> more{item("acme-lab", "again", kT0), item("payer-blue", "b", kT0)};
  auto second =
      store_->commit_processing(id, MessageState::errored, "late", kT0 + seconds(1), more);
  ASSERT_TRUE(second.ok()) << second.error().message();
  EXPECT_FALSE(*second);

  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::processed);
  EXPECT_EQ((*got)->updated_at, kT0);
  auto history = store_->history(id);
  ASSERT_TRUE(history.ok());
  EXPECT_EQ(history->size(), 2u);
  QueueFilter all;
  all.with_payload = true;
  auto queued = store_->list_queue(all);
  ASSERT_TRUE(queued.ok()) << queued.error().message();
  EXPECT_EQ(payloads(*queued), (std::vector<std::string>{"out1"}));
  EXPECT_EQ((*queued)[0].route, "lab-results");
  EXPECT_EQ((*queued)[0].journal_id, id);

  auto unknown = store_->commit_processing(987654, MessageState::processed, "", kT0, {});
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.error().is(StoreErrc::not_found)) << unknown.error().message();
}

TEST_P(StoreTest, ReprocessSendsErroredAndFilteredEntriesBack) {
  const JournalId errored = append_one(journal_entry("e", "C1", kT0));
  const JournalId filtered = append_one(journal_entry("f", "C2", kT0));
  const JournalId processed = append_one(journal_entry("p", "C3", kT0));
  const JournalId received = append_one(journal_entry("r", "C4", kT0));
  ASSERT_TRUE(store_->set_state(errored, MessageState::errored, "PID-3 missing", kT0).ok());
  ASSERT_TRUE(store_->set_state(filtered, MessageState::filtered, "no route", kT0).ok());
  ASSERT_TRUE(store_->set_state(processed, MessageState::processed, "", kT0).ok());

  const std::string detail = "replayed by hims-engine replay";
  auto n = store_->reprocess(errored, kT0 + seconds(5), detail);
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 1);
  auto got = store_->get(errored);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::received);
  EXPECT_EQ((*got)->error, "");
  EXPECT_EQ((*got)->updated_at, kT0 + seconds(5));
  auto history = store_->history(errored);
  ASSERT_TRUE(history.ok() && history->size() == 3u);
  EXPECT_EQ((*history)[2].from, MessageState::errored);
  EXPECT_EQ((*history)[2].to, MessageState::received);
  EXPECT_EQ((*history)[2].at, kT0 + seconds(5));
  EXPECT_EQ((*history)[2].detail, detail);

  n = store_->reprocess(filtered, kT0 + seconds(5), detail);
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  for (JournalId other : {processed, received, errored}) {  // errored is received by now
    n = store_->reprocess(other, kT0 + seconds(6), detail);
    ASSERT_TRUE(n.ok()) << n.error().message();
    EXPECT_EQ(*n, 0) << other;
  }
  auto p = store_->history(processed);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->size(), 2u);  // nothing recorded
  auto unknown = store_->reprocess(987654, kT0, detail);
  ASSERT_FALSE(unknown.ok());
  EXPECT_TRUE(unknown.error().is(StoreErrc::not_found));

  // Processing runs again: the replayed entry can be committed once more.
  auto done = store_->commit_processing(errored, MessageState::processed, "", kT0 + seconds(7), {});
  ASSERT_TRUE(done.ok());
  EXPECT_TRUE(*done);
  auto pending = store_->unprocessed(10);
  ASSERT_TRUE(pending.ok());
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].id, filtered);
  EXPECT_EQ((*pending)[1].id, received);
}

TEST_P(StoreTest, ListQueueFiltersAndPages) {
  const JournalId j1 = append_one(journal_entry("m1", "C1", kT0));
  const JournalId j2 = append_one(journal_entry("m2", "C2", kT0));
  std::vector<QueueItemId> ids;
  for (auto [dest, journal] : {std::pair{"acme-lab", j1}, std::pair{"acme-lab", j1},
                               std::pair{"payer-blue", j2}, std::pair{"acme-lab", j2}}) {
    auto id = store_->enqueue(item(dest, "payload " + std::to_string(ids.size()), kT0, "r"),
                              journal, kT0);
    ASSERT_TRUE(id.ok()) << id.error().message();
    ids.push_back(*id);
  }
  QueueItem a = claim("acme-lab", kT0);
  ASSERT_TRUE(store_->mark_dead(a, "AR: unknown patient", kT0 + seconds(1)).ok());
  QueueItem b = claim("payer-blue", kT0);
  ASSERT_TRUE(store_->mark_delivered(b, kT0 + seconds(1)).ok());

  auto ids_of = [&](const QueueFilter& f) {
    std::vector<QueueItemId> out;
    auto r = store_->list_queue(f);
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (r.ok()) {
      for (const auto& q : *r) {
        EXPECT_EQ(q.payload.empty(), !f.with_payload);
        out.push_back(q.id);
      }
    }
    return out;
  };
  QueueFilter f;
  EXPECT_EQ(ids_of(f), ids);
  f.status = QueueItemStatus::dead;
  EXPECT_EQ(ids_of(f), (std::vector<QueueItemId>{ids[0]}));
  f.destination = "payer-blue";
  EXPECT_TRUE(ids_of(f).empty());
  f = {};
  f.destination = "acme-lab";
  EXPECT_EQ(ids_of(f), (std::vector<QueueItemId>{ids[0], ids[1], ids[3]}));
  f.status = QueueItemStatus::pending;
  EXPECT_EQ(ids_of(f), (std::vector<QueueItemId>{ids[1], ids[3]}));
  f = {};
  f.journal_id = j2;
  EXPECT_EQ(ids_of(f), (std::vector<QueueItemId>{ids[2], ids[3]}));
  f = {};
  f.id = ids[2];
  f.with_payload = true;
  EXPECT_EQ(ids_of(f), (std::vector<QueueItemId>{ids[2]}));
  f = {};
  f.limit = 2;
  EXPECT_EQ(ids_of(f), (std::vector<QueueItemId>{ids[0], ids[1]}));
  f.after_id = ids[1];
  EXPECT_EQ(ids_of(f), (std::vector<QueueItemId>{ids[2], ids[3]}));
  f.after_id = ids[3];
  EXPECT_TRUE(ids_of(f).empty());

  f = {};
  f.status = QueueItemStatus::dead;
  f.with_payload = true;
  auto dead = store_->list_queue(f);
  ASSERT_TRUE(dead.ok() && dead->size() == 1u);
  EXPECT_EQ((*dead)[0].payload, "payload 0");
  EXPECT_EQ((*dead)[0].destination, "acme-lab");
  EXPECT_EQ((*dead)[0].journal_id, j1);
  EXPECT_EQ((*dead)[0].last_error, "AR: unknown patient");
  EXPECT_EQ((*dead)[0].attempts, 1);
  EXPECT_EQ((*dead)[0].route, "r");
}

TEST_P(StoreTest, RequeueDeadByJournalId) {
  const JournalId j1 = append_one(journal_entry("m1", "C1", kT0));
  const JournalId j2 = append_one(journal_entry("m2", "C2", kT0));
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "1", kT0), j1, kT0).ok());
  ASSERT_TRUE(store_->enqueue(item("payer-blue", "2", kT0), j2, kT0).ok());
  ASSERT_TRUE(store_->mark_dead(claim("acme-lab", kT0), "AR", kT0).ok());
  ASSERT_TRUE(store_->mark_dead(claim("payer-blue", kT0), "AR", kT0).ok());
  DeadLetterFilter f;
  f.journal_id = j2;
  auto n = store_->requeue_dead(f, kT0 + seconds(1));
  ASSERT_TRUE(n.ok()) << n.error().message();
  EXPECT_EQ(*n, 1);
  EXPECT_EQ(claim("payer-blue", kT0 + seconds(1)).payload, "2");
  EXPECT_TRUE(nothing_due("acme-lab", kT0 + seconds(1)));
}

TEST_P(StoreTest, JournalCountsPerSourceAndState) {
  auto empty = store_->journal_counts();
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_TRUE(empty->empty());
  const JournalId a = append_one(journal_entry("a", "C1", kT0));
  append_one(journal_entry("b", "C2", kT0));
  append_one(journal_entry("c", "C3", kT0, "adt-in"));
  auto rejected = journal_entry("d", "C4", kT0, "adt-in");
  rejected.state = MessageState::rejected;
  append_one(rejected);
  ASSERT_TRUE(store_->set_state(a, MessageState::errored, "boom", kT0).ok());
  auto counts = store_->journal_counts();
  ASSERT_TRUE(counts.ok()) << counts.error().message();
  ASSERT_EQ(counts->size(), 4u);
  auto at = [&](std::size_t i) {
    const StateCount& c = (*counts)[i];
    return std::tuple(c.source, c.state, c.count);
  };
  EXPECT_EQ(at(0), std::tuple(std::string("adt-in"), MessageState::received, std::int64_t{1}));
  EXPECT_EQ(at(1), std::tuple(std::string("adt-in"), MessageState::rejected, std::int64_t{1}));
  EXPECT_EQ(at(2), std::tuple(std::string("lab-results"), MessageState::errored, std::int64_t{1}));
  EXPECT_EQ(at(3), std::tuple(std::string("lab-results"), MessageState::received, std::int64_t{1}));
}

TEST_P(StoreTest, QueueSummaryCountsEachDestination) {
  auto empty = store_->queue_summary(kT0);
  ASSERT_TRUE(empty.ok()) << empty.error().message();
  EXPECT_TRUE(empty->empty());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "1", kT0), 0, kT0 - seconds(30)).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "2", kT0), 0, kT0 - seconds(20)).ok());
  ASSERT_TRUE(store_->enqueue(item("acme-lab", "3", kT0), 0, kT0 - seconds(10)).ok());
  ASSERT_TRUE(store_->enqueue(item("payer-blue", "4", kT0), 0, kT0).ok());
  ASSERT_TRUE(store_->mark_delivered(claim("acme-lab", kT0), kT0).ok());  // the oldest goes
  ASSERT_TRUE(store_->mark_dead(claim("acme-lab", kT0), "AR", kT0).ok());
  ASSERT_TRUE(store_->mark_delivered(claim("payer-blue", kT0), kT0).ok());

  auto summary = store_->queue_summary(kT0 + seconds(5));
  ASSERT_TRUE(summary.ok()) << summary.error().message();
  ASSERT_EQ(summary->size(), 2u);
  const DestinationStats& acme = (*summary)[0];
  EXPECT_EQ(acme.destination, "acme-lab");
  EXPECT_EQ(acme.pending, 1);
  EXPECT_EQ(acme.delivered, 1);
  EXPECT_EQ(acme.dead, 1);
  ASSERT_TRUE(acme.oldest_pending_age.has_value());
  EXPECT_EQ(*acme.oldest_pending_age, std::chrono::microseconds(seconds(15)));
  const DestinationStats& payer = (*summary)[1];
  EXPECT_EQ(payer.destination, "payer-blue");
  EXPECT_EQ(payer.pending, 0);
  EXPECT_EQ(payer.delivered, 1);
  EXPECT_EQ(payer.dead, 0);
  EXPECT_FALSE(payer.oldest_pending_age.has_value());
}

// A database made by migration 1 only (an older engine), with a journal entry and a queue item.
Status create_version_one(const std::string& url) {
  const bool sqlite = url.starts_with("sqlite:");
  auto driver = sqlite ? open_sqlite_driver(std::string_view(url).substr(7), {})
                       : open_postgres_driver(url, {});
  if (!driver.ok()) return driver.take_error();
  Driver& d = **driver;
  if (auto s = d.begin(); !s.ok()) return s;
  const auto step = migration_steps()[0];
  if (auto s = d.script(migrations_table_sql(d.dialect())); !s.ok()) return s;
  if (auto s = d.script(migration_sql(step, d.dialect())); !s.ok()) return s;
  const std::vector<Param> version{Param::of(step.version), Param::text(step.name)};
  auto r = d.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version);
  if (!r.ok()) return r.take_error();
  r = d.query(
      "INSERT INTO journal (source, peer, received_at_us, message_type, trigger_event, "
      "control_id, sending_application, sending_facility, size, content_hash, state, error, "
      "updated_at_us, raw) VALUES ('lab-results', '', 1, 'ORU', 'R01', 'C1', '', '', 1, '', "
      "'processed', '', 1, $1)",
      std::vector<Param>{Param::blob("m")});
  if (!r.ok()) return r.take_error();
  r = d.query(
      "INSERT INTO queue_items (destination, journal_id, payload, status, enqueued_at_us, "
      "not_before_us) VALUES ('acme-lab', 1, $1, 'pending', 1, 1)",
      std::vector<Param>{Param::blob("old item")});
  if (!r.ok()) return r.take_error();
  return d.commit();
}

TEST_P(StoreTest, LaterMigrationsUpgradeAVersionOneDatabase) {
  store_.reset();
  db_ = std::make_unique<test::ThrowawayStore>(GetParam(), "hims_store_v1");
  url_ = db_->url();
  auto made = create_version_one(url_);
  ASSERT_TRUE(made.ok()) << made.error().message();

  OpenOptions no_migrate;
  no_migrate.migrate = false;
  auto old = open_store(url_, no_migrate);
  ASSERT_TRUE(old.ok()) << old.error().message();
  auto applied = (*old)->applied_migrations();
  ASSERT_TRUE(applied.ok());
  ASSERT_EQ(applied->size(), 1u);
  old->reset();

  store_ = open();  // applies migration 2 and every later one
  ASSERT_NE(store_, nullptr);
  applied = store_->applied_migrations();
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  const auto known = Store::known_migrations();
  ASSERT_EQ(applied->size(), known.size());
  for (std::size_t i = 0; i < known.size(); ++i) {
    EXPECT_EQ((*applied)[i].version, known[i].version);
    EXPECT_EQ((*applied)[i].name, known[i].name);
  }

  QueueItem old_item = claim("acme-lab", kT0);
  EXPECT_EQ(old_item.payload, "old item");
  EXPECT_EQ(old_item.route, "");
  ASSERT_TRUE(store_->mark_delivered(old_item, kT0).ok());
  auto id = store_->enqueue(item("acme-lab", "new item", kT0, "lab-results"), 1, kT0);
  ASSERT_TRUE(id.ok()) << id.error().message();
  EXPECT_EQ(claim("acme-lab", kT0).route, "lab-results");
  auto counts = store_->journal_counts();
  ASSERT_TRUE(counts.ok() && counts->size() == 1u);
  EXPECT_EQ((*counts)[0].state, MessageState::processed);
  auto summary = store_->queue_summary(kT0);
  ASSERT_TRUE(summary.ok() && summary->size() == 1u);
  EXPECT_EQ((*summary)[0].pending, 1);
  EXPECT_EQ((*summary)[0].delivered, 1);
  EXPECT_EQ(append_one(journal_entry("m", "C2", kT0)), 2);  // after the old entry's id

  if (GetParam() != Backend::sqlite) return;
  // Migration 7 rebuilt the engine's tables: the same rows, no AUTOINCREMENT, no received-time
  // index, and the foreign keys still hold (on the store's own connection, switched back on).
  std::vector<std::string> names;
  for (const Row& row :
       test::query(*store_,
                   "SELECT name, sql FROM sqlite_schema WHERE tbl_name IN "
                   "('journal', 'journal_history', 'queue_items') ORDER BY name")) {
    names.push_back(row[0].value_or(""));
    if (row[1]) {
      EXPECT_EQ(row[1]->find("AUTOINCREMENT"), std::string::npos) << *row[1];
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "journal", "journal_history", "journal_history_journal_idx",
                       "journal_source_state_idx", "journal_state_errored_idx",
                       "journal_state_received_idx", "journal_state_rejected_idx", "queue_items",
                       "queue_items_dead_idx", "queue_items_journal_idx", "queue_items_pending_idx",
                       "queue_items_summary_idx"}));
  Status orphan = store_->transact([&]() -> Status {
    auto r = store_->execute(
        "INSERT INTO journal_history (journal_id, to_state, at_us) VALUES (999, 'processed', 1)",
        {});
    return r.ok() ? Status{} : r.take_error();
  });
  EXPECT_FALSE(orphan.ok());
}

// --- batch forms of commit_processing and mark_delivered ---

ProcessingCommit commit(JournalId id, MessageState to, std::string detail,
                        std::vector<NewQueueItem> items = {}) {
  return ProcessingCommit{id, to, std::move(detail), std::move(items)};
}

// PostgreSQL keeps one generic plan for a prepared statement from about its sixth run on, chosen
// for the tables as they were then. On a new journal that plan could look the processor's ids up
// through a state index alone and read every entry still `received`: a batch's commit then grew
// with the backlog. The processing statements are planned at each run (Driver::query_unprepared).
// The heap rows read come from pg_stat_xact_user_tables: this connection's counts not yet sent to
// the server's statistics (a second at most), so a test takes the difference around its calls.
std::int64_t rows_fetched(Store& store, std::string_view table) {
  return test::count(store,
                     "SELECT idx_tup_fetch + seq_tup_read FROM pg_stat_xact_user_tables WHERE "
                     "relname = '" +
                         std::string(table) + "'");
}

// Runs `body` in one transaction; the heap rows it read from `table` (-1 when it failed).
std::int64_t rows_read_in(Store& store, std::string_view table,
                          const std::function<Status()>& body) {
  std::int64_t fetched = -1;
  Status s = store.transact([&]() -> Status {
    const std::int64_t before = rows_fetched(store, table);
    if (Status b = body(); !b.ok()) return b;
    fetched = rows_fetched(store, table) - before;
    return {};
  });
  EXPECT_TRUE(s.ok()) << s.error().message();
  return fetched;
}

TEST_P(StoreTest, PostgresProcessingLooksItsIdsUpAfterTheJournalGrew) {
  if (GetParam() != Backend::postgres) GTEST_SKIP() << "SQLite's plans do not follow table sizes";
  std::vector<NewJournalEntry> few;
  for (int i = 0; i < 8; ++i) few.push_back(journal_entry("m", "F" + std::to_string(i), kT0));
  auto small = store_->append(few);
  ASSERT_TRUE(small.ok()) << small.error().message();
  for (const JournalId id : *small) {  // eight runs of each statement on an almost empty journal
    ASSERT_TRUE(store_->still_received(std::array{id}).ok());
    auto done = store_->commit_processing_batch(
        std::array{commit(id, MessageState::processed, "1 route")}, kT0);
    ASSERT_TRUE(done.ok() && done->front()) << (done.ok() ? "" : done.error().message());
  }
  std::vector<NewJournalEntry> backlog;
  for (int i = 0; i < 4096; ++i) backlog.push_back(journal_entry("m", std::to_string(i), kT0));
  auto ids = store_->append(backlog);
  ASSERT_TRUE(ids.ok()) << ids.error().message();

  const std::int64_t fetched = rows_read_in(*store_, "journal", [&]() -> Status {
    const std::array two{(*ids)[100], (*ids)[4000]};
    auto still = store_->still_received(two);
    if (!still.ok()) return still.take_error();
    EXPECT_EQ(*still, (std::vector<bool>{true, true}));
    auto done = store_->commit_processing_batch(
        std::array{commit(two[0], MessageState::processed, "1 route"),
                   commit(two[1], MessageState::filtered, "no route matched")},
        kT0 + seconds(1));
    if (!done.ok()) return done.take_error();
    EXPECT_EQ(*done, (std::vector<bool>{true, true}));
    return {};
  });
  // A few per id (the look-up, the update, the first history row); the backlog is 4,096.
  EXPECT_GE(fetched, 0);
  EXPECT_LT(fetched, 64);
}

TEST_P(StoreTest, PostgresDeliveryLooksItsIdsUpAfterTheQueueGrew) {
  if (GetParam() != Backend::postgres) GTEST_SKIP() << "SQLite's plans do not follow table sizes";
  for (int i = 0; i < 8; ++i) {  // eight claims and deliveries on an almost empty queue
    ASSERT_TRUE(store_->enqueue(item("acme-lab", "p", kT0), 0, kT0).ok());
    auto batch = store_->next_due_batch("acme-lab", kT0, kLease, 4);
    ASSERT_TRUE(batch.ok() && batch->size() == 1);
    ASSERT_TRUE(store_->mark_delivered_batch(*batch, kT0).ok());
  }
  const std::vector<NewQueueItem> backlog(4096, item("acme-lab", "q", kT0));
  ASSERT_TRUE(store_->enqueue_batch(std::array{JournalQueueItems{0, backlog}}, kT0).ok());

  const std::int64_t fetched = rows_read_in(*store_, "queue_items", [&]() -> Status {
    auto batch = store_->next_due_batch("acme-lab", kT0, kLease, 4);
    if (!batch.ok()) return batch.take_error();
    EXPECT_EQ(batch->size(), 4u);
    if (Status m = store_->mark_delivered_batch(*batch, kT0); !m.ok()) return m;
    auto retry = store_->next_due("acme-lab", kT0, kLease);
    if (!retry.ok()) return retry.take_error();
    EXPECT_TRUE(retry->has_value());
    if (retry->has_value()) {
      if (Status m = store_->mark_retry(**retry, kT0 + seconds(1), "AE"); !m.ok()) return m;
    }
    return {};
  });
  // The claims read the head (a few rows each), the updates their ids; the backlog is 4,096.
  EXPECT_GE(fetched, 0);
  EXPECT_LT(fetched, 64);
}

TEST_P(StoreTest, CommitProcessingBatchAppliesEntriesStillReceived) {
  const JournalId routed = append_one(journal_entry("m1", "C1", kT0));
  const JournalId filtered = append_one(journal_entry("m2", "C2", kT0));
  const JournalId errored = append_one(journal_entry("m3", "C3", kT0));
  const JournalId done = append_one(journal_entry("m4", "C4", kT0));
  const JournalId last = append_one(journal_entry("m5", "C5", kT0));
  auto earlier = store_->commit_processing(done, MessageState::processed, "1 route", kT0, {});
  ASSERT_TRUE(earlier.ok() && *earlier);

  NewQueueItem routed_b = item("payer-blue", "r-b", kT0 + seconds(5), "claims");
  routed_b.source = "lab-results";
  const std::vector<ProcessingCommit> batch{
      commit(routed, MessageState::processed, "2 routes",
             {item("acme-lab", "r-a", kT0, "results"), routed_b}),
      commit(filtered, MessageState::filtered, "no route matched"),
      commit(errored, MessageState::errored, "PID-3 missing",
             {item("acme-lab", "e-a", kT0)}),  // enqueued like any applied entry's
      commit(done, MessageState::errored, "late", {item("acme-lab", "late", kT0)}),
      commit(last, MessageState::processed, "1 route", {item("acme-lab", "l-a", kT0)}),
      commit(routed, MessageState::filtered, "listed twice"),
  };
  const TimePoint at = kT0 + seconds(1);
  auto applied = store_->commit_processing_batch(batch, at);
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_EQ(*applied, (std::vector<bool>{true, true, true, false, true, false}));

  auto state_of = [&](JournalId id) {
    auto got = store_->get(id);
    EXPECT_TRUE(got.ok() && got->has_value());
    return got.ok() && got->has_value() ? **got : JournalEntry{};
  };
  EXPECT_EQ(state_of(routed).state, MessageState::processed);
  EXPECT_EQ(state_of(routed).error, "");
  EXPECT_EQ(state_of(routed).updated_at, at);
  EXPECT_EQ(state_of(filtered).state, MessageState::filtered);
  EXPECT_EQ(state_of(filtered).error, "");
  EXPECT_EQ(state_of(errored).state, MessageState::errored);
  EXPECT_EQ(state_of(errored).error, "PID-3 missing");
  EXPECT_EQ(state_of(done).state, MessageState::processed);  // left alone
  EXPECT_EQ(state_of(done).error, "");
  EXPECT_EQ(state_of(done).updated_at, kT0);

  auto expect_history = [&](JournalId id, MessageState to, const std::string& detail) {
    auto h = store_->history(id);
    ASSERT_TRUE(h.ok()) << h.error().message();
    ASSERT_EQ(h->size(), 2u) << "entry " << id;
    EXPECT_EQ((*h)[1].from, MessageState::received);
    EXPECT_EQ((*h)[1].to, to);
    EXPECT_EQ((*h)[1].detail, detail);
    EXPECT_EQ((*h)[1].journal_id, id);
  };
  expect_history(routed, MessageState::processed, "2 routes");
  expect_history(filtered, MessageState::filtered, "no route matched");
  expect_history(errored, MessageState::errored, "PID-3 missing");
  expect_history(done, MessageState::processed, "1 route");  // only the earlier commit
  expect_history(last, MessageState::processed, "1 route");

  QueueFilter all;
  all.with_payload = true;
  auto queued = store_->list_queue(all);
  ASSERT_TRUE(queued.ok()) << queued.error().message();
  // Ascending ids follow the batch: entry order, then item order; none for the entry left alone.
  EXPECT_EQ(payloads(*queued), (std::vector<std::string>{"r-a", "r-b", "e-a", "l-a"}));
  ASSERT_EQ(queued->size(), 4u);
  for (std::size_t i = 1; i < queued->size(); ++i) {
    EXPECT_LT((*queued)[i - 1].id, (*queued)[i].id);
  }
  EXPECT_EQ((*queued)[0].journal_id, routed);
  EXPECT_EQ((*queued)[0].destination, "acme-lab");
  EXPECT_EQ((*queued)[0].route, "results");
  EXPECT_EQ((*queued)[0].status, QueueItemStatus::pending);
  EXPECT_EQ((*queued)[0].attempts, 0);
  EXPECT_EQ((*queued)[0].enqueued_at, at);
  EXPECT_EQ((*queued)[1].journal_id, routed);
  EXPECT_EQ((*queued)[1].destination, "payer-blue");
  EXPECT_EQ((*queued)[1].route, "claims");
  EXPECT_EQ((*queued)[1].source, "lab-results");
  EXPECT_EQ((*queued)[1].not_before, kT0 + seconds(5));
  EXPECT_EQ((*queued)[2].journal_id, errored);
  EXPECT_EQ((*queued)[3].journal_id, last);
  // FIFO per destination follows the batch.
  EXPECT_EQ(claim("acme-lab", kT0 + seconds(5)).payload, "r-a");
}

TEST_P(StoreTest, CommitProcessingBatchOfManyChunksKeepsBatchOrder) {
  // Chunks of 64, 64, 16, 4 and 2 entries (PostgreSQL: 64, 64 and 22 padded to 32).
  constexpr std::size_t kEntries = 150;
  std::vector<NewJournalEntry> entries;
  for (std::size_t i = 0; i < kEntries; ++i) {
    entries.push_back(journal_entry("m" + std::to_string(i), "C" + std::to_string(i), kT0));
  }
  auto ids = store_->append(entries);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  // Every seventh entry was processed before: left alone, no items.
  for (std::size_t i = 0; i < kEntries; i += 7) {
    auto r = store_->commit_processing((*ids)[i], MessageState::filtered, "", kT0, {});
    ASSERT_TRUE(r.ok() && *r);
  }
  std::vector<ProcessingCommit> batch;
  std::vector<std::string> expected_payloads;
  std::vector<bool> expected_applied;
  for (std::size_t i = 0; i < kEntries; ++i) {
    const std::string n = std::to_string(i);
    batch.push_back(commit((*ids)[i], MessageState::processed, "2 routes",
                           {item("acme-lab", n + "a", kT0), item("acme-lab", n + "b", kT0)}));
    expected_applied.push_back(i % 7 != 0);
    if (i % 7 != 0) expected_payloads.insert(expected_payloads.end(), {n + "a", n + "b"});
  }
  auto applied = store_->commit_processing_batch(batch, kT0 + seconds(1));
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_EQ(*applied, expected_applied);

  QueueFilter all;
  all.with_payload = true;
  all.limit = 1000;
  auto queued = store_->list_queue(all);
  ASSERT_TRUE(queued.ok()) << queued.error().message();
  EXPECT_EQ(payloads(*queued), expected_payloads);
  JournalFilter processed;
  processed.state = MessageState::processed;
  processed.limit = 1000;
  auto listed = store_->list(processed);
  ASSERT_TRUE(listed.ok());
  EXPECT_EQ(listed->size(), expected_payloads.size() / 2);
  auto h = store_->history((*ids)[kEntries - 1]);
  ASSERT_TRUE(h.ok() && h->size() == 2u);
  EXPECT_EQ((*h)[1].to, MessageState::processed);
  EXPECT_EQ((*h)[1].detail, "2 routes");
}

TEST_P(StoreTest, EnqueueBatchQueuesItemsInEntryOrderAcrossChunks) {
  // 200 items: chunks of 64, 64, 64 and 8 (PostgreSQL the same, nothing to pad).
  constexpr std::size_t kEntries = 100;
  std::vector<NewJournalEntry> entries;
  for (std::size_t i = 0; i < kEntries; ++i) {
    NewJournalEntry e = journal_entry("m" + std::to_string(i), "Q" + std::to_string(i), kT0);
    e.state = MessageState::processed;  // appended in its outcome state, as run does
    entries.push_back(std::move(e));
  }
  auto ids = store_->append(entries);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  std::vector<std::vector<NewQueueItem>> items(kEntries);
  std::vector<JournalQueueItems> batch;
  std::vector<std::string> expected;
  for (std::size_t i = 0; i < kEntries; ++i) {
    const std::string n = std::to_string(i);
    items[i] = {item("ehr", n + "a", kT0, "adt"), item("archive", n + "b", kT0, "adt")};
    items[i][0].source = "adt-in";
    batch.push_back(JournalQueueItems{(*ids)[i], items[i]});
    expected.insert(expected.end(), {n + "a", n + "b"});
  }
  ASSERT_TRUE(store_->enqueue_batch(batch, kT0 + seconds(1)).ok());
  QueueFilter all;
  all.with_payload = true;
  all.limit = 1000;
  auto queued = store_->list_queue(all);
  ASSERT_TRUE(queued.ok()) << queued.error().message();
  EXPECT_EQ(payloads(*queued), expected) << "ids ascend in entry, then item order";
  EXPECT_EQ((*queued)[0].journal_id, (*ids)[0]);
  EXPECT_EQ((*queued)[0].route, "adt");
  EXPECT_EQ((*queued)[0].source, "adt-in");
  EXPECT_EQ((*queued)[0].enqueued_at, kT0 + seconds(1));
  auto head = store_->next_due_batch("ehr", kT0 + seconds(2), kLease, 3);
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(payloads(*head), (std::vector<std::string>{"0a", "1a", "2a"}));
  auto h = store_->history((*ids)[0]);
  ASSERT_TRUE(h.ok() && h->size() == 1u) << "its history starts at its outcome";
  EXPECT_EQ((*h)[0].to, MessageState::processed);

  // An empty destination refuses the whole batch; nothing of it is queued.
  std::vector<NewQueueItem> bad{item("ehr", "x", kT0), item("", "y", kT0)};
  const std::vector<JournalQueueItems> refused{JournalQueueItems{(*ids)[0], bad}};
  auto r = store_->enqueue_batch(refused, kT0);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::bad_argument));
  queued = store_->list_queue(all);
  ASSERT_TRUE(queued.ok());
  EXPECT_EQ(queued->size(), expected.size());
  EXPECT_TRUE(store_->enqueue_batch({}, kT0).ok());
}

TEST_P(StoreTest, PostgresConnectionClosedByTheServerIsOpenedAgain) {
  if (GetParam() != Backend::postgres) GTEST_SKIP() << "PostgreSQL only: a server-side disconnect";
  const std::vector<NewJournalEntry> first{journal_entry("a", "R1", kT0)};
  ASSERT_TRUE(store_->append(first).ok());
  ASSERT_GE(db_->disconnect_clients(), 1);  // a server restart or a network cut, as seen by us
  // The statement that meets the closed connection fails (its batch is not acknowledged) ...
  const std::vector<NewJournalEntry> second{journal_entry("b", "R2", kT0)};
  auto lost = store_->append(second);
  // ... and the next transaction runs on a new connection, prepared statements and all.
  if (!lost.ok()) {
    EXPECT_TRUE(lost.error().is(StoreErrc::cannot_open) || lost.error().is(StoreErrc::query_failed))
        << lost.error().message();
    ASSERT_TRUE(store_->append(second).ok());
  }
  const std::vector<NewJournalEntry> third{journal_entry("c", "R3", kT0)};
  auto ids = store_->append(third);
  ASSERT_TRUE(ids.ok()) << ids.error().message();
  JournalFilter all;
  auto listed = store_->list(all);
  ASSERT_TRUE(listed.ok()) << listed.error().message();
  EXPECT_EQ(listed->size(), 3u);
}

TEST_P(StoreTest, EmptyBatchesChangeNothing) {
  auto applied = store_->commit_processing_batch({}, kT0);
  ASSERT_TRUE(applied.ok()) << applied.error().message();
  EXPECT_TRUE(applied->empty());
  EXPECT_TRUE(store_->mark_delivered_batch({}, kT0).ok());
}

TEST_P(StoreTest, CommitProcessingBatchFailureWritesNothing) {
  const JournalId a = append_one(journal_entry("m1", "C1", kT0));
  const JournalId b = append_one(journal_entry("m2", "C2", kT0));
  std::vector<ProcessingCommit> unknown{
      commit(a, MessageState::processed, "", {item("acme-lab", "a", kT0)}),
      commit(987654, MessageState::processed, ""),
  };
  auto r = store_->commit_processing_batch(unknown, kT0);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::not_found)) << r.error().message();

  std::vector<ProcessingCommit> bad{
      commit(a, MessageState::processed, "", {item("acme-lab", "a", kT0)}),
      commit(b, MessageState::processed, "", {item("", "b", kT0)}),
  };
  r = store_->commit_processing_batch(bad, kT0);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::bad_argument)) << r.error().message();

  for (JournalId id : {a, b}) {
    auto got = store_->get(id);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_EQ((*got)->state, MessageState::received);
    auto h = store_->history(id);
    ASSERT_TRUE(h.ok());
    EXPECT_EQ(h->size(), 1u);
  }
  EXPECT_TRUE(nothing_due("acme-lab", kT0));
}

TEST_P(StoreTest, CommitProcessingBatchJoinsAnOpenTransaction) {
  const JournalId a = append_one(journal_entry("m1", "C1", kT0));
  Status s = store_->transact([&]() -> Status {
    std::vector<ProcessingCommit> batch{
        commit(a, MessageState::processed, "", {item("acme-lab", "a", kT0)})};
    auto r = store_->commit_processing_batch(batch, kT0);
    if (!r.ok()) return r.take_error();
    EXPECT_EQ(*r, std::vector<bool>{true});
    return Error(StoreErrc::bad_argument, "test", "roll back");
  });
  ASSERT_FALSE(s.ok());
  auto got = store_->get(a);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::received);
  EXPECT_TRUE(nothing_due("acme-lab", kT0));
}

class MarkDeliveredBatchTest : public StoreTest {
 protected:
  // `n` items on acme-lab, in order.
  void enqueue_items(std::size_t n) {
    const JournalId id = append_one(journal_entry("m", "C1", kT0));
    std::vector<NewQueueItem> items;
    for (std::size_t i = 0; i < n; ++i) items.push_back(item("acme-lab", std::to_string(i), kT0));
    auto r = store_->commit_processing(id, MessageState::processed, "", kT0, items);
    ASSERT_TRUE(r.ok() && *r);
  }

  std::vector<QueueItem> claim_batch(std::size_t max) {
    auto r = store_->next_due_batch("acme-lab", kT0, kLease, max);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : std::vector<QueueItem>{};
  }

  std::vector<QueueItemStatus> statuses() {
    QueueFilter all;
    all.limit = 1000;
    auto r = store_->list_queue(all);
    EXPECT_TRUE(r.ok());
    std::vector<QueueItemStatus> out;
    if (r.ok()) {
      for (const auto& q : *r) out.push_back(q.status);
    }
    return out;
  }
};

TEST_P(MarkDeliveredBatchTest, MarksEveryItemDelivered) {
  enqueue_items(100);  // more than one statement's worth
  auto claimed = claim_batch(100);
  ASSERT_EQ(claimed.size(), 100u);
  ASSERT_TRUE(store_->mark_delivered_batch(claimed, kT0 + seconds(1)).ok());
  EXPECT_EQ(statuses(), std::vector<QueueItemStatus>(100, QueueItemStatus::delivered));
  auto got = store_->get_queue_item(claimed[99].id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->lease_owner, "");
  EXPECT_TRUE(nothing_due("acme-lab", kT0 + seconds(1)));
  auto stats = store_->queue_stats("acme-lab", kT0 + seconds(1));
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->depth, 0);
}

TEST_P(MarkDeliveredBatchTest, OneItemNotLeasedIsLeaseLostAndChangesNothing) {
  enqueue_items(3);
  auto claimed = claim_batch(2);
  ASSERT_EQ(claimed.size(), 2u);
  auto third = store_->get_queue_item(claimed[1].id + 1);
  ASSERT_TRUE(third.ok() && third->has_value());
  claimed.push_back(**third);  // pending, but never claimed
  Status s = store_->mark_delivered_batch(claimed, kT0 + seconds(1));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(StoreErrc::lease_lost)) << s.error().message();
  EXPECT_EQ(statuses(), std::vector<QueueItemStatus>(3, QueueItemStatus::pending));

  // Leased by another store: the same.
  OpenOptions other_options;
  other_options.lease_owner = "other-node";
  auto other = open_store(url_, other_options);
  ASSERT_TRUE(other.ok()) << other.error().message();
  auto theirs = (*other)->next_due_batch("acme-lab", kT0 + kLease, kLease, 3);
  ASSERT_TRUE(theirs.ok() && theirs->size() == 3u);
  s = store_->mark_delivered_batch(*theirs, kT0 + kLease);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(StoreErrc::lease_lost)) << s.error().message();
  EXPECT_EQ(statuses(), std::vector<QueueItemStatus>(3, QueueItemStatus::pending));

  // An item listed twice, and a rolled-back caller transaction.
  ASSERT_TRUE((*other)->mark_delivered_batch(*theirs, kT0 + kLease).ok());
  enqueue_items(2);
  auto mine = claim_batch(2);
  ASSERT_EQ(mine.size(), 2u);
  std::vector<QueueItem> twice{mine[0], mine[1], mine[0]};
  s = store_->mark_delivered_batch(twice, kT0);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(StoreErrc::lease_lost)) << s.error().message();
  s = store_->transact([&]() -> Status {
    if (Status m = store_->mark_delivered_batch(mine, kT0); !m.ok()) return m;
    return store_->mark_delivered(mine[0], kT0);  // already delivered: lease_lost
  });
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(statuses(),
            (std::vector<QueueItemStatus>{QueueItemStatus::delivered, QueueItemStatus::delivered,
                                          QueueItemStatus::delivered, QueueItemStatus::pending,
                                          QueueItemStatus::pending}));
}

INSTANTIATE_TEST_SUITE_P(Backends, MarkDeliveredBatchTest,
                         ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::sqlite ? std::string("sqlite")
                                                                      : std::string("postgres");
                         });

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::sqlite ? std::string("sqlite")
                                                                      : std::string("postgres");
                         });

}  // namespace
}  // namespace hims::store
