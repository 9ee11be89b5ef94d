// The store suite, run against both backends: SQLite on a temporary file and PostgreSQL on the
// server named by HIMS_TEST_POSTGRES_URL (scripts/pg-throwaway.sh; skipped when unset), each test
// in its own database. Times are injected: no test sleeps.
#include "engine/store.hpp"
#include "tests/support/test_store.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <pqxx/pqxx>
#include <string>
#include <vector>

namespace hims::store {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

using test::Backend;

const TimePoint kT0{seconds(1'700'000'000)};
constexpr milliseconds kLease{30'000};

NewJournalEntry entry(std::string raw, std::string control_id, TimePoint at,
                      std::string source = "lab-results") {
  NewJournalEntry e;
  e.raw = std::move(raw);
  e.source = std::move(source);
  e.peer = "127.0.0.1:50000";
  e.received_at = at;
  e.message_type = "ORU";
  e.trigger_event = "R01";
  e.control_id = std::move(control_id);
  e.sending_application = "LAB";
  e.sending_facility = "ACME";
  return e;
}

NewQueueItem item(std::string destination, std::string payload, TimePoint not_before) {
  return NewQueueItem{std::move(destination), std::move(payload), not_before};
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

  std::unique_ptr<Store> open() {
    auto r = open_store(url_);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
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

TEST(StoreOpen, UnreachablePostgresIsAValueWithAClearMessage) {
  auto r = open_store("postgresql://postgres@127.0.0.1:1/postgres?connect_timeout=2");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(StoreErrc::cannot_open));
  EXPECT_NE(r.error().message().find("cannot connect"), std::string::npos) << r.error().message();
}

TEST_P(StoreTest, AppendReturnsIdsInBatchOrderAndKeepsEveryField) {
  std::string binary("MSH|^~\\&|LAB|ACME\r\0\xff\x01 end", 25);
  std::vector<NewJournalEntry> batch{entry(binary, "C1", kT0), entry("second", "C2", kT0),
                                     entry("third", "C3", kT0 + milliseconds(1))};
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
  auto e = entry("garbage", "", kT0);
  e.state = MessageState::rejected;
  e.error = "hl7v2.bad_segment at MSH";
  const JournalId id = append_one(e);
  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::rejected);
  EXPECT_EQ((*got)->error, "hl7v2.bad_segment at MSH");
}

TEST_P(StoreTest, WhatAppendReturnedSurvivesReopen) {
  std::vector<NewJournalEntry> batch{entry("one", "C1", kT0), entry("two", "C2", kT0)};
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
  const JournalId first = append_one(entry("same bytes", "C1", kT0));
  const JournalId second = append_one(entry("same bytes", "C1", kT0 + seconds(10)));
  append_one(entry("other bytes", "C1", kT0 + seconds(11)));
  append_one(entry("same bytes", "C1", kT0 + seconds(12), "other-source"));
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
  const JournalId id = append_one(entry("m", "C1", kT0));
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

TEST_P(StoreTest, SetStateOfUnknownIdIsNotFound) {
  auto s = store_->set_state(99999, MessageState::processed, "", kT0);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(StoreErrc::not_found)) << s.error().message();
}

TEST_P(StoreTest, UnprocessedIsOldestFirstWithRaw) {
  std::vector<NewJournalEntry> batch{entry("a", "C1", kT0), entry("b", "C2", kT0),
                                     entry("c", "C3", kT0)};
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
  const JournalId a = append_one(entry("a", "C1", kT0));
  const JournalId b = append_one(entry("b", "C2", kT0 + seconds(10), "adt-in"));
  const JournalId c = append_one(entry("c", "C3", kT0 + seconds(20)));
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
  const JournalId id = append_one(entry("m", "C1", kT0));
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
  const JournalId id = append_one(entry("m", "C1", kT0));
  std::vector<NewQueueItem> items{item("acme-lab", "out1", kT0), item("payer-blue", "out2", kT0)};
  ASSERT_TRUE(
      store_->commit_processing(id, MessageState::processed, "2 routes", kT0 + seconds(1), items)
          .ok());
  auto got = store_->get(id);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, MessageState::processed);
  EXPECT_EQ(claim("acme-lab", kT0 + seconds(1)).payload, "out1");
  EXPECT_EQ(claim("payer-blue", kT0 + seconds(1)).payload, "out2");
}

TEST_P(StoreTest, CommitProcessingFailureRollsBackEverything) {
  const JournalId id = append_one(entry("m", "C1", kT0));
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
                    kept = append_one(entry("kept", "C1", kT0));
                    auto q = store_->enqueue(item("acme-lab", "kept", kT0), kept, kT0);
                    if (!q.ok()) return q.take_error();
                    return {};
                  })
                  .ok());
  // The body fails after two successful writes: both are rolled back.
  auto failed = store_->transact([&]() -> Status {
    append_one(entry("dropped", "C2", kT0));
    EXPECT_TRUE(store_->enqueue(item("acme-lab", "dropped", kT0), 0, kT0).ok());
    return Error(StoreErrc::bad_argument, "test", "route failed");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.error().detail(), "route failed");
  // A failing store call inside fails the transaction even if the body ignores it.
  auto ignored = store_->transact([&]() -> Status {
    append_one(entry("dropped too", "C3", kT0));
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
  const JournalId id = append_one(entry("m", "C1", kT0));
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

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::sqlite, Backend::postgres),
                         [](const ::testing::TestParamInfo<Backend>& param_info) {
                           return param_info.param == Backend::sqlite ? std::string("sqlite")
                                                                      : std::string("postgres");
                         });

}  // namespace
}  // namespace hims::store
