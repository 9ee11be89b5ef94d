// Outbound delivery: backoff_delay, and the DeliveryService's workers against real stores on both
// backends (SQLite on a temporary file, PostgreSQL on the server HIMS_TEST_POSTGRES_URL names;
// skipped when unset) with scripted fake transports (the partner, not the store). Items are put
// on the queues with a store of the test's own. No test sleeps to assert: calls and store states
// are awaited with deadlines; the lease and max_age cases run on an injected clock.
#include "engine/delivery.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/eventually.hpp"
#include "tests/support/test_store.hpp"

namespace hims::engine {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::seconds;
using store::QueueItemStatus;
using store::TimePoint;
using test::Backend;

const TimePoint kT0{seconds(1'700'000'000)};
constexpr seconds kDeadline{30};

// --- backoff_delay -------------------------------------------------------------------------

RetryConfig retry(milliseconds initial, milliseconds max, double multiplier, double jitter) {
  RetryConfig r;
  r.initial = initial;
  r.max = max;
  r.multiplier = multiplier;
  r.jitter = jitter;
  return r;
}

// random01 0.5 is the middle of the jitter range: the factor is exactly 1.
constexpr double kNoJitter = 0.5;
// The largest value below 1 random01 can return.
constexpr double kAlmostOne = 0.999'999'999;

TEST(BackoffDelay, FirstFailureWaitsTheInitialDelay) {
  const RetryConfig r = retry(milliseconds(100), seconds(10), 2.0, 0.0);
  EXPECT_EQ(backoff_delay(r, 1, 0.0), milliseconds(100));
  EXPECT_EQ(backoff_delay(r, 1, kNoJitter), milliseconds(100));
}

TEST(BackoffDelay, AttemptsZeroOrLessCountAsTheFirst) {
  const RetryConfig r = retry(milliseconds(100), seconds(10), 2.0, 0.0);
  EXPECT_EQ(backoff_delay(r, 0, kNoJitter), milliseconds(100));
  EXPECT_EQ(backoff_delay(r, -3, kNoJitter), milliseconds(100));
}

TEST(BackoffDelay, DoublesWithEachFailure) {
  const RetryConfig r = retry(milliseconds(100), seconds(10), 2.0, 0.0);
  EXPECT_EQ(backoff_delay(r, 2, kNoJitter), milliseconds(200));
  EXPECT_EQ(backoff_delay(r, 3, kNoJitter), milliseconds(400));
  EXPECT_EQ(backoff_delay(r, 4, kNoJitter), milliseconds(800));
  EXPECT_EQ(backoff_delay(r, 7, kNoJitter), milliseconds(6400));
}

TEST(BackoffDelay, OtherMultipliers) {
  EXPECT_EQ(backoff_delay(retry(milliseconds(100), seconds(10), 3.0, 0.0), 3, kNoJitter),
            milliseconds(900));
  EXPECT_EQ(backoff_delay(retry(milliseconds(100), seconds(10), 1.5, 0.0), 3, kNoJitter),
            milliseconds(225));
}

TEST(BackoffDelay, CappedAtMax) {
  const RetryConfig r = retry(milliseconds(100), milliseconds(1000), 2.0, 0.0);
  EXPECT_EQ(backoff_delay(r, 4, kNoJitter), milliseconds(800));
  EXPECT_EQ(backoff_delay(r, 5, kNoJitter), milliseconds(1000));
  EXPECT_EQ(backoff_delay(r, 6, kNoJitter), milliseconds(1000));
  EXPECT_EQ(backoff_delay(r, 1000, kNoJitter), milliseconds(1000)) << "no overflow";
  EXPECT_EQ(backoff_delay(r, 1'000'000, kNoJitter), milliseconds(1000));
}

TEST(BackoffDelay, MultiplierOneKeepsTheInitialDelay) {
  const RetryConfig r = retry(milliseconds(250), seconds(10), 1.0, 0.0);
  for (int attempts : {0, 1, 2, 5, 100}) {
    EXPECT_EQ(backoff_delay(r, attempts, kNoJitter), milliseconds(250)) << attempts;
  }
}

TEST(BackoffDelay, JitterStaysWithinItsBounds) {
  const RetryConfig r = retry(milliseconds(1000), seconds(60), 2.0, 0.2);
  EXPECT_EQ(backoff_delay(r, 1, 0.0), milliseconds(800));  // 1 - jitter
  EXPECT_EQ(backoff_delay(r, 1, kNoJitter), milliseconds(1000));
  EXPECT_EQ(backoff_delay(r, 1, kAlmostOne), milliseconds(1200));  // just under 1 + jitter
  EXPECT_EQ(backoff_delay(r, 2, 0.0), milliseconds(1600));
  EXPECT_EQ(backoff_delay(r, 2, kAlmostOne), milliseconds(2400));
  for (double x = 0.0; x < 1.0; x += 0.01) {
    const auto d = backoff_delay(r, 3, x);
    EXPECT_GE(d, milliseconds(3200)) << x;
    EXPECT_LE(d, milliseconds(4800)) << x;
  }
}

TEST(BackoffDelay, JitterAppliesAfterTheCap) {
  const RetryConfig r = retry(milliseconds(100), milliseconds(1000), 2.0, 0.5);
  EXPECT_EQ(backoff_delay(r, 20, 0.0), milliseconds(500));
  EXPECT_EQ(backoff_delay(r, 20, kAlmostOne), milliseconds(1500));
}

TEST(BackoffDelay, FullJitterCanReachZero) {
  const RetryConfig r = retry(milliseconds(100), seconds(10), 2.0, 1.0);
  EXPECT_EQ(backoff_delay(r, 1, 0.0), milliseconds(0));
  EXPECT_EQ(backoff_delay(r, 1, kAlmostOne), milliseconds(200));
}

TEST(BackoffDelay, OutOfRangeArgumentsAreClamped) {
  const RetryConfig r = retry(milliseconds(100), seconds(10), 2.0, 0.2);
  EXPECT_EQ(backoff_delay(r, 1, -1.0), milliseconds(80));
  EXPECT_EQ(backoff_delay(r, 1, 7.0), milliseconds(120));
  // A max below initial acts as initial; a multiplier below 1 as 1; jitter above 1 as 1.
  EXPECT_EQ(backoff_delay(retry(milliseconds(100), milliseconds(10), 2.0, 0.0), 3, kNoJitter),
            milliseconds(100));
  EXPECT_EQ(backoff_delay(retry(milliseconds(100), seconds(10), 0.5, 0.0), 3, kNoJitter),
            milliseconds(100));
  EXPECT_EQ(backoff_delay(retry(milliseconds(100), seconds(10), 2.0, 3.0), 1, 0.0),
            milliseconds(0));
}

// --- the fake partner ----------------------------------------------------------------------

// What a fake transport does, shared with the test: scripted verdicts per payload (one per call,
// then `otherwise`), a record of every call in order, and an optional payload whose call blocks
// until released.
class Partner {
 public:
  // The next calls for `payload` answer these verdicts, in order.
  void script(const std::string& payload, std::vector<Delivery> verdicts) {
    std::lock_guard lock(mutex_);
    for (auto& v : verdicts) scripts_[payload].push_back(std::move(v));
  }
  // Once a payload's script is used up (or it has none).
  void otherwise(Delivery verdict) {
    std::lock_guard lock(mutex_);
    otherwise_ = std::move(verdict);
  }
  // The call for `payload` waits inside deliver() until release().
  void hold(const std::string& payload) {
    std::lock_guard lock(mutex_);
    hold_ = payload;
  }
  void release() {
    {
      std::lock_guard lock(mutex_);
      released_ = true;
    }
    cv_.notify_all();
  }
  bool wait_held() {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kDeadline, [&] { return holding_; });
  }

  Delivery call(const store::QueueItem& item) {
    std::unique_lock lock(mutex_);
    calls_.push_back(item.payload);
    cv_.notify_all();
    if (hold_ && *hold_ == item.payload) {
      holding_ = true;
      cv_.notify_all();
      cv_.wait_for(lock, kDeadline, [&] { return released_; });
    }
    auto it = scripts_.find(item.payload);
    if (it != scripts_.end() && !it->second.empty()) {
      Delivery d = std::move(it->second.front());
      it->second.pop_front();
      return d;
    }
    return otherwise_;
  }

  // Waits until at least `n` calls were made.
  bool wait_calls(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kDeadline, [&] { return calls_.size() >= n; });
  }
  std::vector<std::string> calls() {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::map<std::string, std::deque<Delivery>> scripts_;
  Delivery otherwise_ = Delivery::delivered();
  std::optional<std::string> hold_;
  bool holding_ = false;
  bool released_ = false;
  std::vector<std::string> calls_;
};

class FakeTransport final : public Transport {
 public:
  explicit FakeTransport(std::shared_ptr<Partner> partner) : partner_(std::move(partner)) {}
  Delivery deliver(const store::QueueItem& item) override { return partner_->call(item); }

 private:
  std::shared_ptr<Partner> partner_;
};

// A clock the test moves; counts how often the workers read it (each worker reads it once per
// look at its queue, so a count shows that the workers looked).
class TestClock {
 public:
  explicit TestClock(TimePoint at) : now_us_(us(at)) {}
  std::function<TimePoint()> function() {
    return [this] {
      ++reads_;
      return TimePoint{std::chrono::microseconds(now_us_.load())};
    };
  }
  void set(TimePoint at) { now_us_ = us(at); }
  int reads() const { return reads_.load(); }

 private:
  static std::int64_t us(TimePoint t) {
    return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  }
  std::atomic<std::int64_t> now_us_;
  std::atomic<int> reads_{0};
};

std::vector<std::string> names(const std::string& prefix, int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(prefix + std::to_string(i));
  return out;
}

RetryConfig fast_retry() {
  RetryConfig r;
  r.initial = milliseconds(20);
  r.max = milliseconds(40);
  r.multiplier = 2.0;
  r.jitter = 0.0;
  r.max_attempts = 0;
  r.max_age = milliseconds(0);
  return r;
}

DeliveryOptions fast_options() {
  DeliveryOptions o;
  o.idle_poll = milliseconds(20);
  o.store_retry = milliseconds(20);
  o.random = [] { return kNoJitter; };
  return o;
}

class DeliveryTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    db_ = std::make_unique<test::ThrowawayStore>(GetParam(), "hims_delivery_test");
    if (db_->skipped()) GTEST_SKIP() << test::kPostgresSkipped;
    url_ = db_->url();
    store_ = open();  // migrates: the service opens its stores without migrating
    ASSERT_NE(store_, nullptr);
  }

  void TearDown() override {
    service_.reset();  // joins the workers before their database goes
    store_.reset();
    db_.reset();
  }

  std::unique_ptr<store::Store> open(std::string lease_owner = "test") {
    store::OpenOptions o;
    o.lease_owner = std::move(lease_owner);
    auto r = store::open_store(url_, o);
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(*r) : nullptr;
  }

  // A destination served by a fake transport answering for `partner`.
  static DestinationWorkerSpec destination(const std::string& id, std::shared_ptr<Partner> partner,
                                           RetryConfig retry = fast_retry()) {
    DestinationWorkerSpec spec;
    spec.config.id = id;
    spec.config.retry = retry;
    spec.transport = std::make_unique<FakeTransport>(std::move(partner));
    return spec;
  }

  // Starts the service as node `lease_owner` (stopping the one before); false when it failed.
  bool start(std::vector<DestinationWorkerSpec> specs, DeliveryOptions options = fast_options(),
             const std::string& lease_owner = "node-a") {
    service_.reset();
    auto s = DeliveryService::start(url_, lease_owner, std::move(specs), std::move(options));
    EXPECT_TRUE(s.ok()) << s.error().message();
    if (!s.ok()) return false;
    service_ = std::move(*s);
    return true;
  }

  void enqueue(const std::string& destination, const std::vector<std::string>& payloads,
               TimePoint now = store::Clock::now()) {
    for (const std::string& p : payloads) {
      auto id = store_->enqueue(store::NewQueueItem{destination, p, now}, 0, now);
      ASSERT_TRUE(id.ok()) << id.error().message();
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

  std::optional<store::QueueItem> item(const std::string& destination, const std::string& payload) {
    for (auto& q : queue(destination)) {
      if (q.payload == payload) return q;
    }
    ADD_FAILURE() << "no item " << payload << " for " << destination;
    return std::nullopt;
  }

  // Waits until no item of the destination is pending.
  bool wait_settled(const std::string& destination) {
    return eventually([&] {
      for (const auto& q : queue(destination)) {
        if (q.status == QueueItemStatus::pending) return false;
      }
      return true;
    });
  }

  static bool eventually(const std::function<bool()>& condition) {
    return test::eventually(condition, kDeadline);
  }

  DeliveryService::DestinationStats stats_of(const std::string& destination) {
    for (auto& s : service_->stats()) {
      if (s.destination == destination) return s;
    }
    ADD_FAILURE() << "no stats for " << destination;
    return {};
  }

  std::string url_;
  std::unique_ptr<test::ThrowawayStore> db_;
  std::unique_ptr<store::Store> store_;
  // The workers read these: declared before the service, so they outlive it.
  TestClock clock_{kT0};
  metrics::Registry registry_;
  std::unique_ptr<DeliveryService> service_;
};

TEST(DeliveryServiceStart, BadStoreUrlIsAnError) {
  auto partner = std::make_shared<Partner>();
  std::vector<DestinationWorkerSpec> specs;
  DestinationWorkerSpec spec;
  spec.config.id = "lab-mllp";
  spec.transport = std::make_unique<FakeTransport>(partner);
  specs.push_back(std::move(spec));
  auto s = DeliveryService::start("mysql://localhost/db", "node-a", std::move(specs));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(store::StoreErrc::bad_url)) << s.error().message();
  EXPECT_TRUE(partner->calls().empty());
}

TEST_P(DeliveryTest, DeliversInFifoOrderAcrossSeveralBatches) {
  auto partner = std::make_shared<Partner>();
  const auto payloads = names("M", 10);
  enqueue("lab-mllp", payloads);
  DeliveryOptions options = fast_options();
  options.max_batch = 3;
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner));
  ASSERT_TRUE(start(std::move(specs), options));
  ASSERT_TRUE(partner->wait_calls(10));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), payloads);
  for (const auto& q : queue("lab-mllp")) {
    EXPECT_EQ(q.status, QueueItemStatus::delivered) << q.payload;
    EXPECT_EQ(q.attempts, 0) << q.payload;
  }
  EXPECT_TRUE(eventually([&] { return stats_of("lab-mllp").sent == 10; }));
}

TEST_P(DeliveryTest, RetryBlocksTheItemsBehindUntilDueThenTheyGoInOrder) {
  auto partner = std::make_shared<Partner>();
  partner->script("M1", {Delivery::retry("AE: try later")});
  enqueue("lab-mllp", names("M", 5));
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner));
  ASSERT_TRUE(start(std::move(specs)));
  ASSERT_TRUE(partner->wait_calls(6));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), (std::vector<std::string>{"M0", "M1", "M1", "M2", "M3", "M4"}));
  for (const auto& q : queue("lab-mllp")) {
    EXPECT_EQ(q.status, QueueItemStatus::delivered) << q.payload;
    EXPECT_EQ(q.attempts, q.payload == "M1" ? 1 : 0) << q.payload;
  }
  // Counted right after the store recorded it.
  ASSERT_TRUE(eventually([&] { return stats_of("lab-mllp").sent == 5; }));
  const auto s = stats_of("lab-mllp");
  EXPECT_EQ(s.sent, 5u);
  EXPECT_EQ(s.retried, 1u);
  EXPECT_EQ(s.dead, 0u);
}

TEST_P(DeliveryTest, RetryWaitsForItsDueTime) {
  // The queue's clock stands still: the failed head is not due again until the clock moves.
  auto partner = std::make_shared<Partner>();
  partner->script("M0", {Delivery::retry("connection refused")});
  enqueue("lab-mllp", names("M", 3), kT0);
  DeliveryOptions options = fast_options();
  options.clock = clock_.function();
  RetryConfig r = fast_retry();
  r.initial = seconds(10);
  r.max = seconds(10);
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner, r));
  ASSERT_TRUE(start(std::move(specs), options));
  ASSERT_TRUE(partner->wait_calls(1));
  auto failed = std::optional<store::QueueItem>();
  ASSERT_TRUE(eventually([&] {
    failed = item("lab-mllp", "M0");
    return failed && failed->attempts == 1;
  }));
  EXPECT_EQ(failed->status, QueueItemStatus::pending);
  EXPECT_EQ(failed->not_before, kT0 + seconds(10));
  EXPECT_EQ(failed->last_error, "connection refused");
  // The worker keeps looking (it reads the clock each time) and sends nothing.
  const int reads = clock_.reads();
  ASSERT_TRUE(eventually([&] { return clock_.reads() >= reads + 5; }));
  EXPECT_EQ(partner->calls(), (std::vector<std::string>{"M0"}));
  clock_.set(kT0 + seconds(10));
  ASSERT_TRUE(partner->wait_calls(4));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), (std::vector<std::string>{"M0", "M0", "M1", "M2"}));
}

TEST_P(DeliveryTest, DeadVerdictDeadLettersAndTheItemsBehindContinue) {
  auto partner = std::make_shared<Partner>();
  partner->script("M1", {Delivery::dead("partner answered AR: unknown patient")});
  enqueue("lab-mllp", names("M", 5));
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner));
  ASSERT_TRUE(start(std::move(specs)));
  ASSERT_TRUE(partner->wait_calls(5));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), names("M", 5)) << "each item once";
  for (const auto& q : queue("lab-mllp")) {
    if (q.payload == "M1") {
      EXPECT_EQ(q.status, QueueItemStatus::dead);
      EXPECT_EQ(q.last_error, "partner answered AR: unknown patient");
      EXPECT_EQ(q.attempts, 1);
    } else {
      EXPECT_EQ(q.status, QueueItemStatus::delivered) << q.payload;
    }
  }
  ASSERT_TRUE(eventually([&] { return stats_of("lab-mllp").sent == 4; }));
  EXPECT_EQ(stats_of("lab-mllp").dead, 1u);
  EXPECT_EQ(stats_of("lab-mllp").retried, 0u);
}

TEST_P(DeliveryTest, MaxAttemptsTurnsRetriesIntoADeadLetter) {
  auto partner = std::make_shared<Partner>();
  partner->script("M0",
                  {Delivery::retry("connection refused"), Delivery::retry("connection refused"),
                   Delivery::retry("connection refused"), Delivery::retry("connection refused")});
  enqueue("lab-mllp", names("M", 2));
  RetryConfig r = fast_retry();
  r.max_attempts = 3;
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner, r));
  ASSERT_TRUE(start(std::move(specs)));
  ASSERT_TRUE(partner->wait_calls(4));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), (std::vector<std::string>{"M0", "M0", "M0", "M1"}));
  const auto dead = item("lab-mllp", "M0");
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(dead->status, QueueItemStatus::dead);
  EXPECT_EQ(dead->attempts, 3);
  EXPECT_NE(dead->last_error.find("gave up after 3 attempts"), std::string::npos)
      << dead->last_error;
  EXPECT_NE(dead->last_error.find("connection refused"), std::string::npos) << dead->last_error;
  EXPECT_EQ(item("lab-mllp", "M1").value().status, QueueItemStatus::delivered);
  ASSERT_TRUE(eventually([&] { return stats_of("lab-mllp").sent == 1; }));
  const auto s = stats_of("lab-mllp");
  EXPECT_EQ(s.retried, 2u);
  EXPECT_EQ(s.dead, 1u);
}

TEST_P(DeliveryTest, MaxAgeTurnsRetriesIntoADeadLetter) {
  auto partner = std::make_shared<Partner>();
  partner->otherwise(Delivery::retry("ack time-out"));
  partner->script("M1", {Delivery::delivered()});
  enqueue("lab-mllp", names("M", 2), kT0);
  RetryConfig r = fast_retry();
  r.max_age = hours(1);
  DeliveryOptions options = fast_options();
  options.clock = clock_.function();
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner, r));
  ASSERT_TRUE(start(std::move(specs), options));
  // Young: retried.
  ASSERT_TRUE(partner->wait_calls(1));
  ASSERT_TRUE(eventually([&] {
    const auto q = item("lab-mllp", "M0");
    return q && q->attempts == 1;
  }));
  EXPECT_EQ(item("lab-mllp", "M0").value().status, QueueItemStatus::pending);
  // An hour later (and due): the next failure is the last.
  clock_.set(kT0 + hours(1));
  ASSERT_TRUE(partner->wait_calls(3));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), (std::vector<std::string>{"M0", "M0", "M1"}));
  const auto dead = item("lab-mllp", "M0");
  ASSERT_TRUE(dead.has_value());
  EXPECT_EQ(dead->status, QueueItemStatus::dead);
  EXPECT_EQ(dead->attempts, 2);
  EXPECT_NE(dead->last_error.find("gave up"), std::string::npos) << dead->last_error;
  EXPECT_NE(dead->last_error.find("max_age"), std::string::npos) << dead->last_error;
  EXPECT_NE(dead->last_error.find("ack time-out"), std::string::npos) << dead->last_error;
  EXPECT_EQ(item("lab-mllp", "M1").value().status, QueueItemStatus::delivered);
}

TEST_P(DeliveryTest, FailingDestinationDoesNotBlockAnother) {
  auto down = std::make_shared<Partner>();
  down->otherwise(Delivery::retry("connection refused"));
  auto up = std::make_shared<Partner>();
  enqueue("partner-down", names("D", 3));
  enqueue("partner-up", names("U", 5));
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("partner-down", down));
  specs.push_back(destination("partner-up", up));
  ASSERT_TRUE(start(std::move(specs)));
  ASSERT_TRUE(up->wait_calls(5));
  ASSERT_TRUE(wait_settled("partner-up"));
  EXPECT_EQ(up->calls(), names("U", 5));
  // The failing destination retries its head (and only its head).
  ASSERT_TRUE(down->wait_calls(2));
  for (const auto& payload : down->calls()) EXPECT_EQ(payload, "D0");
  for (const auto& q : queue("partner-down")) EXPECT_EQ(q.status, QueueItemStatus::pending);
  // New items for the healthy destination keep flowing.
  enqueue("partner-up", {"U5"});
  service_->wake({"partner-up"});
  ASSERT_TRUE(up->wait_calls(6));
  ASSERT_TRUE(wait_settled("partner-up"));
  ASSERT_TRUE(eventually([&] { return stats_of("partner-up").sent == 6; }));
  const auto stats = service_->stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[0].destination, "partner-down");
  EXPECT_EQ(stats[0].sent, 0u);
  EXPECT_EQ(stats[0].last_error, "connection refused");
  EXPECT_EQ(stats[1].destination, "partner-up");
  EXPECT_EQ(stats[1].sent, 6u);
}

TEST_P(DeliveryTest, WakeMakesTheWorkerLookAtOnce) {
  auto partner = std::make_shared<Partner>();
  DeliveryOptions options = fast_options();
  options.idle_poll = seconds(10);
  enqueue("lab-mllp", {"M0"});
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner));
  ASSERT_TRUE(start(std::move(specs), options));
  ASSERT_TRUE(partner->wait_calls(1));
  ASSERT_TRUE(wait_settled("lab-mllp"));  // the worker is past its batch: next it sleeps 10 s
  enqueue("lab-mllp", {"M1"});
  service_->wake({"elsewhere"});  // not a destination of this service: ignored
  service_->wake({"lab-mllp"});
  // Bounded well below idle_poll: without the wake-up the item would wait 10 s.
  auto delivered = std::async(std::launch::async, [&] { return partner->wait_calls(2); });
  ASSERT_EQ(delivered.wait_for(seconds(5)), std::future_status::ready);
  EXPECT_TRUE(delivered.get());
  EXPECT_EQ(partner->calls(), (std::vector<std::string>{"M0", "M1"}));
}

TEST_P(DeliveryTest, StopReturnsAfterTheAttemptInFlight) {
  auto partner = std::make_shared<Partner>();
  partner->hold("M0");
  const auto payloads = names("M", 10);
  enqueue("lab-mllp", payloads);
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner));
  ASSERT_TRUE(start(std::move(specs)));
  ASSERT_TRUE(partner->wait_held());
  std::atomic<bool> stopping{false};
  auto stopper = std::async(std::launch::async, [&] {
    stopping = true;
    service_->stop();
  });
  while (!stopping) std::this_thread::yield();
  // Also the moment stop() needs to ask the worker to stop before the call returns.
  EXPECT_EQ(stopper.wait_for(milliseconds(50)), std::future_status::timeout)
      << "stop() returned while a transport call was in flight";
  partner->release();
  ASSERT_EQ(stopper.wait_for(kDeadline), std::future_status::ready);
  // The attempt in flight is recorded before stop() returns; the items not attempted wait for
  // the next start. (The worker stops before the next item once it was asked to; whether that
  // was before M0's answer is up to the scheduler, so only the split is checked.)
  const auto calls = partner->calls();
  ASSERT_GE(calls.size(), 1u);
  EXPECT_LT(calls.size(), payloads.size()) << "the worker stopped before the end of the queue";
  for (std::size_t i = 0; i < payloads.size(); ++i) {
    const auto q = item("lab-mllp", payloads[i]);
    ASSERT_TRUE(q.has_value());
    if (i < calls.size()) {
      EXPECT_EQ(calls[i], payloads[i]);
      EXPECT_EQ(q->status, QueueItemStatus::delivered) << payloads[i];
    } else {
      EXPECT_EQ(q->status, QueueItemStatus::pending) << payloads[i];
    }
  }
  EXPECT_EQ(stats_of("lab-mllp").sent, calls.size());
  service_->stop();  // idempotent
}

TEST_P(DeliveryTest, StatsCountSentRetriedDeadAndTheLastError) {
  auto a = std::make_shared<Partner>();
  a->script("A1", {Delivery::retry("partner answered AE: busy")});
  a->script("A2", {Delivery::dead("partner answered AR: refused")});
  auto b = std::make_shared<Partner>();
  b->otherwise(Delivery::retry("connection refused"));
  b->script("B0", {Delivery::delivered()});
  enqueue("dest-a", names("A", 4));
  enqueue("dest-b", names("B", 2));
  DeliveryOptions options = fast_options();
  options.metrics = &registry_;
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("dest-a", a));
  specs.push_back(destination("dest-b", b));
  ASSERT_TRUE(start(std::move(specs), options));
  ASSERT_TRUE(wait_settled("dest-a"));
  ASSERT_TRUE(eventually([&] { return stats_of("dest-a").sent == 3; }));
  const auto sa = stats_of("dest-a");
  EXPECT_EQ(sa.destination, "dest-a");
  EXPECT_EQ(sa.retried, 1u);
  EXPECT_EQ(sa.dead, 1u);
  EXPECT_EQ(sa.last_error, "") << "the last attempt succeeded";
  ASSERT_TRUE(b->wait_calls(3));  // B0, then B1 failing at least twice
  ASSERT_TRUE(eventually([&] { return stats_of("dest-b").retried >= 2; }));
  const auto sb = stats_of("dest-b");
  EXPECT_EQ(sb.sent, 1u);
  EXPECT_EQ(sb.dead, 0u);
  EXPECT_EQ(sb.last_error, "connection refused");
  const std::string text = registry_.render();
  EXPECT_NE(text.find("hims_destination_sent_total{destination=\"dest-a\"} 3"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hims_destination_dead_total{destination=\"dest-a\"} 1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("hims_destination_retried_total{destination=\"dest-a\"} 1"),
            std::string::npos)
      << text;
}

// A node that died with items leased (its worker claimed a batch and stopped before recording).
class DeliveryLeaseTest : public DeliveryTest {
 protected:
  static constexpr milliseconds kLease{30'000};

  // node-a claims the three items at kT0 (leased until kT0 + kLease), then "dies".
  void leased_by_node_a() {
    enqueue("lab-mllp", names("M", 3), kT0);
    auto node_a = open("node-a");
    ASSERT_NE(node_a, nullptr);
    auto claimed = node_a->next_due_batch("lab-mllp", kT0, kLease, 10);
    ASSERT_TRUE(claimed.ok()) << claimed.error().message();
    ASSERT_EQ(claimed->size(), 3u);
    for (const auto& q : queue("lab-mllp")) EXPECT_EQ(q.lease_owner, "node-a");
  }
};

TEST_P(DeliveryLeaseTest, SameNodeReclaimsItsLeasedItemsAtOnce) {
  leased_by_node_a();
  clock_.set(kT0 + seconds(1));  // the lease has 29 s to run
  auto partner = std::make_shared<Partner>();
  DeliveryOptions options = fast_options();
  options.clock = clock_.function();
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner));
  ASSERT_TRUE(start(std::move(specs), options, "node-a"));
  ASSERT_TRUE(partner->wait_calls(3));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), names("M", 3));
  for (const auto& q : queue("lab-mllp")) EXPECT_EQ(q.status, QueueItemStatus::delivered);
}

TEST_P(DeliveryLeaseTest, OtherNodeWaitsForTheLeaseToExpire) {
  leased_by_node_a();
  clock_.set(kT0 + seconds(1));
  auto partner = std::make_shared<Partner>();
  DeliveryOptions options = fast_options();
  options.clock = clock_.function();
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", partner));
  ASSERT_TRUE(start(std::move(specs), options, "node-b"));
  // node-b looks several times and takes nothing while node-a's lease holds.
  ASSERT_TRUE(eventually([&] { return clock_.reads() >= 5; }));
  EXPECT_TRUE(partner->calls().empty());
  for (const auto& q : queue("lab-mllp")) {
    EXPECT_EQ(q.status, QueueItemStatus::pending);
    EXPECT_EQ(q.lease_owner, "node-a");
  }
  clock_.set(kT0 + kLease);  // expired
  ASSERT_TRUE(partner->wait_calls(3));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(partner->calls(), names("M", 3));
  for (const auto& q : queue("lab-mllp")) EXPECT_EQ(q.status, QueueItemStatus::delivered);
}

TEST_P(DeliveryLeaseTest, RestartedNodeResumesTheBatchItLeased) {
  enqueue("lab-mllp", names("M", 3), kT0);
  DeliveryOptions options = fast_options();
  options.clock = clock_.function();  // kT0 until the test moves it
  // node-a claims the whole batch, M0 fails: M1 and M2 stay leased to node-a behind it.
  auto before = std::make_shared<Partner>();
  before->script("M0", {Delivery::retry("connection refused")});
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", before));
  ASSERT_TRUE(start(std::move(specs), options, "node-a"));
  ASSERT_TRUE(eventually([&] { return item("lab-mllp", "M0").value().attempts == 1; }));
  service_->stop();
  EXPECT_EQ(before->calls(), (std::vector<std::string>{"M0"}));
  for (const auto& q : queue("lab-mllp")) {
    if (q.payload == "M0") continue;
    EXPECT_EQ(q.status, QueueItemStatus::pending) << q.payload;
    EXPECT_EQ(q.lease_owner, "node-a") << q.payload;
  }
  // node-a again, once M0 is due and well within the lease: the whole queue goes, in order.
  clock_.set(kT0 + seconds(1));
  auto after = std::make_shared<Partner>();
  specs.clear();
  specs.push_back(destination("lab-mllp", after));
  ASSERT_TRUE(start(std::move(specs), options, "node-a"));
  ASSERT_TRUE(after->wait_calls(3));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(after->calls(), names("M", 3));
}

TEST_P(DeliveryLeaseTest, OtherNodeTakesTheFreeHeadButWaitsForTheLeasedItemsBehind) {
  enqueue("lab-mllp", names("M", 3), kT0);
  DeliveryOptions options = fast_options();
  options.clock = clock_.function();
  auto before = std::make_shared<Partner>();
  before->script("M0", {Delivery::retry("connection refused")});
  std::vector<DestinationWorkerSpec> specs;
  specs.push_back(destination("lab-mllp", before));
  ASSERT_TRUE(start(std::move(specs), options, "node-a"));
  ASSERT_TRUE(eventually([&] { return item("lab-mllp", "M0").value().attempts == 1; }));
  service_->stop();
  // node-b: M0 is free and due, M1 and M2 are node-a's until the lease (options.lease) expires.
  clock_.set(kT0 + seconds(1));
  auto after = std::make_shared<Partner>();
  specs.clear();
  specs.push_back(destination("lab-mllp", after));
  ASSERT_TRUE(start(std::move(specs), options, "node-b"));
  ASSERT_TRUE(after->wait_calls(1));
  const int reads = clock_.reads();
  ASSERT_TRUE(eventually([&] { return clock_.reads() >= reads + 5; }));
  EXPECT_EQ(after->calls(), (std::vector<std::string>{"M0"}));
  clock_.set(kT0 + options.lease);
  ASSERT_TRUE(after->wait_calls(3));
  ASSERT_TRUE(wait_settled("lab-mllp"));
  EXPECT_EQ(after->calls(), names("M", 3));
}

const auto kBackends = ::testing::Values(Backend::sqlite, Backend::postgres);
const auto kBackendName = [](const auto& param_info) {
  return param_info.param == Backend::sqlite ? "SQLite" : "PostgreSQL";
};
INSTANTIATE_TEST_SUITE_P(Backends, DeliveryTest, kBackends, kBackendName);
INSTANTIATE_TEST_SUITE_P(Backends, DeliveryLeaseTest, kBackends, kBackendName);

}  // namespace
}  // namespace hims::engine
