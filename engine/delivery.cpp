#include "engine/delivery.hpp"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "engine/log.hpp"
#include "engine/thread_name.hpp"

namespace hims::engine {

std::chrono::milliseconds backoff_delay(const RetryConfig& retry, int attempts, double random01) {
  const double initial = static_cast<double>(retry.initial.count());
  const double cap = static_cast<double>(std::max(retry.max, retry.initial).count());
  const double exponent = std::max(0, attempts - 1);
  double delay = std::min(cap, initial * std::pow(std::max(1.0, retry.multiplier), exponent));
  const double jitter = std::clamp(retry.jitter, 0.0, 1.0);
  delay *= 1.0 - jitter + 2.0 * jitter * std::clamp(random01, 0.0, 1.0);
  return std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(std::max(0.0, delay))));
}

class DeliveryService::Worker {
 public:
  Worker(std::unique_ptr<store::Store> store, DestinationWorkerSpec spec, DeliveryOptions options)
      : store_(std::move(store)),
        config_(std::move(spec.config)),
        transport_(std::move(spec.transport)),
        options_(std::move(options)),
        random_engine_(std::random_device{}()) {
    stats_.destination = config_.id;
    if (options_.metrics != nullptr) {
      metrics::Registry& r = *options_.metrics;
      const std::initializer_list<std::string_view> label{config_.id};
      sent_ =
          r.counter("hims_destination_sent_total", "Items delivered.", {"destination"}).with(label);
      retried_ = r.counter("hims_destination_retried_total",
                           "Failed attempts scheduled again after a backoff.", {"destination"})
                     .with(label);
      dead_ =
          r.counter("hims_destination_dead_total",
                    "Items dead-lettered (refused, or out of attempts or age).", {"destination"})
              .with(label);
      depth_ = r.gauge("hims_destination_queue_depth", "Items waiting in a destination queue.",
                       {"destination"})
                   .with(label);
      oldest_ =
          r.gauge("hims_destination_oldest_age_seconds",
                  "Age of the oldest waiting item, 0 when the queue is empty.", {"destination"})
              .with(label);
      latency_ =
          r.histogram("hims_delivery_latency_seconds", "One delivery attempt, send to answer.",
                      metrics::latency_buckets(), {"destination"})
              .with(label);
    }
  }

  const std::string& id() const { return config_.id; }

  void start() {
    thread_ = std::thread([this] {
      set_thread_name("hims-dlv-" + config_.id);
      run();
    });
  }

  void wake() {
    {
      std::lock_guard lock(mutex_);
      woken_ = true;
    }
    cv_.notify_one();
  }

  void request_stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_one();
  }

  void join() {
    if (thread_.joinable()) thread_.join();
  }

  DestinationStats stats() const {
    std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  bool stopping() const {
    std::lock_guard lock(mutex_);
    return stopping_;
  }

  // Sleeps until woken, stopped or `until`; true when stopping.
  bool wait_until(std::chrono::steady_clock::time_point until) {
    std::unique_lock lock(mutex_);
    cv_.wait_until(lock, until, [this] { return stopping_ || woken_; });
    woken_ = false;
    return stopping_;
  }

  double random01() {
    if (options_.random) return options_.random();
    return std::uniform_real_distribution<double>(0.0, 1.0)(random_engine_);
  }

  void refresh_gauges(store::TimePoint now) {
    auto q = store_->queue_stats(config_.id, now);
    if (!q.ok()) return;
    depth_.set(static_cast<double>(q->depth));
    oldest_.set(q->oldest_age ? std::chrono::duration<double>(*q->oldest_age).count() : 0.0);
    std::lock_guard lock(mutex_);
    stats_.depth = q->depth;
  }

  void store_failed(std::string_view what, const Error& error) {
    log::error("destination queue: store operation failed",
               {{"destination", config_.id}, {"operation", what}, {"error", error.message()}});
  }

  // Records the items delivered before `failed`, then `failed` itself (dead letter or retry at
  // now + pause), in one transaction, so the outcomes follow the FIFO.
  void record_failure(const std::vector<store::QueueItem>& delivered,
                      const store::QueueItem& failed, const Delivery& verdict, bool to_dead,
                      store::TimePoint now, std::chrono::milliseconds pause) {
    Status s = store_->transact([&]() -> Status {
      if (Status m = store_->mark_delivered_batch(delivered, now); !m.ok()) return m;
      if (to_dead) return store_->mark_dead(failed, verdict.detail, now);
      return store_->mark_retry(failed, now + pause, verdict.detail);
    });
    // Not recorded: the items stay leased to this node and are delivered again (at least once).
    if (!s.ok()) store_failed("record deliveries", s.error());
  }

  void run() {
    using steady = std::chrono::steady_clock;
    auto next_gauges = steady::now();
    steady::time_point retry_at{};  // when the head that failed is due again; {}: none
    for (;;) {
      if (stopping()) return;
      const store::TimePoint now = options_.clock();
      if (const auto started = steady::now(); started >= next_gauges) {
        refresh_gauges(now);
        // Every second, or 50 times as long as the count took: counting a backlog of a million
        // items takes long enough to hold up the deliveries that drain it.
        const auto took = steady::now() - started;
        next_gauges = started + std::max<steady::duration>(std::chrono::seconds(1), took * 50);
      }
      auto claimed =
          prefetched_.empty()
              ? store_->next_due_batch(config_.id, now, options_.lease, options_.max_batch)
              : Result<std::vector<store::QueueItem>>(std::move(prefetched_));
      prefetched_.clear();
      if (!claimed.ok()) {
        store_failed("claim", claimed.error());
        if (wait_until(steady::now() + options_.store_retry)) return;
        continue;
      }
      if (claimed->empty()) {
        auto until = steady::now() + options_.idle_poll;
        if (retry_at > steady::now()) until = std::min(until, retry_at);
        retry_at = {};
        if (wait_until(until)) return;
        continue;
      }
      if (auto pause = deliver_batch(*claimed)) retry_at = steady::now() + *pause;
    }
  }

  // Delivers the claimed items in order until one must be retried; returns that one's pause.
  std::optional<std::chrono::milliseconds> deliver_batch(
      const std::vector<store::QueueItem>& items) {
    std::vector<store::QueueItem> delivered;
    delivered.reserve(items.size());
    for (const store::QueueItem& item : items) {
      if (stopping()) break;
      const auto started = std::chrono::steady_clock::now();
      Delivery verdict = transport_->deliver(item);
      latency_.observe(std::chrono::steady_clock::now() - started);
      const store::TimePoint now = options_.clock();
      if (verdict.verdict == Delivery::Verdict::delivered) {
        delivered.push_back(item);
        continue;
      }
      const int attempts = item.attempts + 1;
      bool to_dead = verdict.verdict == Delivery::Verdict::dead;
      if (!to_dead) {
        const RetryConfig& retry = config_.retry;
        const bool out_of_attempts = retry.max_attempts > 0 && attempts >= retry.max_attempts;
        const bool too_old = retry.max_age.count() > 0 && now - item.enqueued_at >= retry.max_age;
        if (out_of_attempts) {
          to_dead = true;
          verdict.detail =
              "gave up after " + std::to_string(attempts) + " attempts: " + verdict.detail;
        } else if (too_old) {
          to_dead = true;
          verdict.detail = "gave up: older than max_age (" + format_duration(retry.max_age) +
                           "): " + verdict.detail;
        }
      }
      const std::chrono::milliseconds pause =
          to_dead ? std::chrono::milliseconds(0)
                  : backoff_delay(config_.retry, attempts, random01());
      record_failure(delivered, item, verdict, to_dead, now, pause);
      counted(delivered.size(), to_dead ? 1 : 0, to_dead ? 0 : 1, verdict.detail);
      delivered.clear();
      if (to_dead) {
        log::error("delivery dead-lettered",
                   {{"destination", config_.id},
                    {"queue_item", static_cast<std::int64_t>(item.id)},
                    {"journal_id", static_cast<std::int64_t>(item.journal_id)},
                    {"attempts", static_cast<std::int64_t>(attempts)},
                    {"error", verdict.detail}});
        continue;  // a dead letter does not hold up the items behind it
      }
      log::warn("delivery failed; will retry",
                {{"destination", config_.id},
                 {"queue_item", static_cast<std::int64_t>(item.id)},
                 {"attempts", static_cast<std::int64_t>(attempts)},
                 {"retry_in_ms", static_cast<std::int64_t>(pause.count())},
                 {"error", verdict.detail}});
      // FIFO: nothing behind it goes before it; the rest of the batch stays leased to this node.
      return pause;
    }
    record_and_claim(delivered);
    counted(delivered.size(), 0, 0, {});
    return std::nullopt;
  }

  // The whole batch went through: records it and claims the next one in the same transaction
  // (one commit, one fsync fewer per batch); the next batch waits in prefetched_.
  void record_and_claim(const std::vector<store::QueueItem>& delivered) {
    const store::TimePoint now = options_.clock();
    std::vector<store::QueueItem> next;
    Status s = store_->transact([&]() -> Status {
      if (Status m = store_->mark_delivered_batch(delivered, now); !m.ok()) return m;
      if (stopping()) return {};
      auto claimed = store_->next_due_batch(config_.id, now, options_.lease, options_.max_batch);
      if (!claimed.ok()) return claimed.take_error();
      next = std::move(*claimed);
      return {};
    });
    // Not recorded: the items stay leased to this node and are delivered again (at least once).
    if (!s.ok()) {
      store_failed("record deliveries", s.error());
      next.clear();
    }
    prefetched_ = std::move(next);
  }

  void counted(std::size_t sent, std::uint64_t dead, std::uint64_t retried,
               std::string_view error) {
    sent_.inc(sent);
    dead_.inc(dead);
    retried_.inc(retried);
    std::lock_guard lock(mutex_);
    stats_.sent += sent;
    stats_.dead += dead;
    stats_.retried += retried;
    if (dead + retried > 0) {
      stats_.last_error = std::string(error);
    } else if (sent > 0) {
      stats_.last_error.clear();
    }
  }

  std::unique_ptr<store::Store> store_;  // worker thread only
  DestinationConfig config_;
  std::unique_ptr<Transport> transport_;      // worker thread only
  std::vector<store::QueueItem> prefetched_;  // claimed with the last record; worker thread only
  DeliveryOptions options_;
  std::mt19937_64 random_engine_;
  metrics::Counter sent_;
  metrics::Counter retried_;
  metrics::Counter dead_;
  metrics::Gauge depth_;
  metrics::Gauge oldest_;
  metrics::Histogram latency_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false;
  bool stopping_ = false;
  DestinationStats stats_;
  std::thread thread_;
};

Result<std::unique_ptr<DeliveryService>> DeliveryService::start(
    std::string_view store_url, const std::string& lease_owner,
    std::vector<DestinationWorkerSpec> specs, DeliveryOptions options) {
  std::vector<std::unique_ptr<Worker>> workers;
  workers.reserve(specs.size());
  store::OpenOptions open;
  open.migrate = false;  // the journal writer opened the store first and migrated it
  open.lease_owner = lease_owner;
  for (DestinationWorkerSpec& spec : specs) {
    auto store = store::open_store(store_url, open);
    if (!store.ok()) return store.take_error();
    workers.push_back(std::make_unique<Worker>(std::move(*store), std::move(spec), options));
  }
  for (auto& w : workers) w->start();
  return std::unique_ptr<DeliveryService>(new DeliveryService(std::move(workers)));
}

DeliveryService::DeliveryService(std::vector<std::unique_ptr<Worker>> workers)
    : workers_(std::move(workers)) {}

DeliveryService::~DeliveryService() { stop(); }

void DeliveryService::wake(const std::vector<std::string>& destinations) {
  for (const std::string& d : destinations) {
    for (auto& w : workers_) {
      if (w->id() == d) w->wake();
    }
  }
}

void DeliveryService::stop() {
  for (auto& w : workers_) w->request_stop();
  for (auto& w : workers_) w->join();
}

std::vector<DeliveryService::DestinationStats> DeliveryService::stats() const {
  std::vector<DestinationStats> out;
  out.reserve(workers_.size());
  for (const auto& w : workers_) out.push_back(w->stats());
  return out;
}

}  // namespace hims::engine
