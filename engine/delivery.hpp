// Outbound delivery (DESIGN.md 5.3): one worker per destination takes items from the head of the
// destination's durable FIFO queue, hands them to the destination's transport and records the
// verdict: delivered, retry later (exponential backoff with jitter) or dead letter (a refusal, or
// out of attempts or age, with the last error). A failing destination blocks only its own queue.
//
// Crash safety: an item is marked delivered after its transport returned; a crash between the
// two delivers it again (at least once). Items are leased to this engine's node name while they
// are being delivered, so a restarted node resumes at once and a second node waits.
//
// Thread-safety: wake(), stop() and stats() from any thread. Each worker thread owns its Store
// and its transport.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.hpp"
#include "engine/metrics.hpp"
#include "engine/result.hpp"
#include "engine/store.hpp"

namespace hims::engine {

// A transport's verdict on one delivery attempt.
struct Delivery {
  enum class Verdict : std::uint8_t {
    delivered,  // the partner has it (AA/CA, file written, published)
    retry,      // not now (connection refused, time-out, AE): try again after the backoff
    dead,       // never (AR, a payload the transport cannot send): dead letter at once
  };
  Verdict verdict = Verdict::delivered;
  std::string detail;  // why not delivered; no PHI

  static Delivery delivered() { return {}; }
  static Delivery retry(std::string why) { return {Verdict::retry, std::move(why)}; }
  static Delivery dead(std::string why) { return {Verdict::dead, std::move(why)}; }
};

// Sends queue items to one partner. Used by one worker thread only, one item at a time.
class Transport {
 public:
  virtual ~Transport() = default;
  virtual Delivery deliver(const store::QueueItem& item) = 0;
};

// The transport a destination's config describes (MLLP client, file drop, ZeroMQ publisher).
// Errors when it cannot be set up (a ZeroMQ endpoint that cannot be bound, TLS files).
Result<std::unique_ptr<Transport>> make_transport(const DestinationConfig& config);

// The pause before the next attempt after `attempts` failed ones (1: the first failure):
// min(max, initial * multiplier^(attempts-1)) times a factor in [1 - jitter, 1 + jitter] drawn
// from `random01` in [0, 1).
std::chrono::milliseconds backoff_delay(const RetryConfig& retry, int attempts, double random01);

struct DestinationWorkerSpec {
  DestinationConfig config;
  std::unique_ptr<Transport> transport;
};

struct DeliveryOptions {
  std::size_t max_batch = 256;                               // items claimed per transaction
  std::chrono::milliseconds lease{std::chrono::minutes(5)};  // longer than a batch takes
  std::chrono::milliseconds idle_poll{
      std::chrono::seconds(1)};  // look at the queue at least this often
  std::chrono::milliseconds store_retry{std::chrono::seconds(1)};  // after a store error
  std::function<store::TimePoint()> clock = [] { return store::Clock::now(); };
  std::function<double()> random;  // [0, 1) for the jitter; empty: a per-worker generator
  metrics::Registry* metrics = nullptr;
};

class DeliveryService {
 public:
  struct DestinationStats {
    std::string destination;
    std::uint64_t sent = 0;
    std::uint64_t retried = 0;
    std::uint64_t dead = 0;
    std::int64_t depth = 0;  // pending items at the last look
    std::string last_error;  // of the last failed attempt; empty when the last one succeeded
  };

  // Opens one store connection per destination (store_url, leases named lease_owner) and starts
  // a worker per destination. Nothing is started when one cannot open.
  static Result<std::unique_ptr<DeliveryService>> start(std::string_view store_url,
                                                        const std::string& lease_owner,
                                                        std::vector<DestinationWorkerSpec> specs,
                                                        DeliveryOptions options = {});
  ~DeliveryService();  // stop()
  DeliveryService(const DeliveryService&) = delete;
  DeliveryService& operator=(const DeliveryService&) = delete;

  // New items are queued for these destinations: look now instead of at the next poll.
  void wake(const std::vector<std::string>& destinations);
  // Finishes the attempt in flight on each destination, records it, joins. Idempotent.
  void stop();
  std::vector<DestinationStats> stats() const;

 private:
  class Worker;
  explicit DeliveryService(std::vector<std::unique_ptr<Worker>> workers);
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace hims::engine
