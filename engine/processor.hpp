// The processing stage (DESIGN.md 2 and 5.2): journal entries still `received` are parsed,
// routed and committed together with their outbound queue items and, for routes with a mapping,
// their canonical rows (CanonicalWriter), one transaction per batch: `processed` (queued for
// every destination and mapped by every mapping of the matching routes), `filtered` (no route
// matched) or `errored` (the message cannot be processed or mapped; the detail says why).
//
// Work arrives two ways: in memory from the journal writer's completions (submit()), and from a
// scan of the journal at start and every rescan_interval while idle, which picks up what a crash
// left behind and what `hims-engine replay` put back. commit_processing only applies to an entry
// still `received`, so an entry seen both ways is processed once.
//
// Thread-safety: submit(), stop() and stats() from any thread. One processing thread owns the
// Store. Completions and on_enqueued run on that thread; they must be quick and must not call
// stop().
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/canonical_writer.hpp"
#include "engine/mapping.hpp"
#include "engine/metrics.hpp"
#include "engine/result.hpp"
#include "engine/router.hpp"
#include "engine/store.hpp"
#include "hl7v2/message.hpp"

namespace hims::engine {

// What became of a message: its new state, and the detail recorded with it (why it errored).
struct ProcessOutcome {
  store::MessageState state = store::MessageState::processed;
  std::string detail;
};

// Called once per submitted entry after the transaction holding its outcome committed (or with
// the error that kept it from committing; the entry is then still `received` and its batch is
// tried again after retry_pause; or with ProcessErrc::stopped for an entry stop() left
// `received`, which the next start's scan takes).
using ProcessCompletion = std::function<void(Result<ProcessOutcome>)>;

enum class ProcessErrc : std::uint8_t {
  stopped,  // stop() was called before the entry's batch began: it stays `received`
};
constexpr ErrorDomain error_domain(ProcessErrc) { return ErrorDomain::engine; }
std::string_view to_string(ProcessErrc code);

struct ProcessorOptions {
  std::size_t max_batch = 256;  // entries per transaction
  std::chrono::milliseconds rescan_interval{1000};
  // Pause after a failed transaction before the batch is tried again.
  std::chrono::milliseconds retry_pause{500};
  std::function<store::TimePoint()> clock = [] { return store::Clock::now(); };
  // Called after each commit with the destinations that received new items (to wake them).
  std::function<void(const std::vector<std::string>& destinations)> on_enqueued;
  metrics::Registry* metrics = nullptr;
};

// The routing decision for one message, without a store: what run, tools and tests share.
struct RoutedMessage {
  ProcessOutcome outcome;
  std::vector<store::NewQueueItem> items;  // one per destination (the first route naming it)
  std::vector<std::uint32_t> routes;       // indices of the routes taken
  // Items each route taken queued (parallel to routes), for the metrics: counted without the
  // items, which run hands over to the journal writer.
  std::vector<std::uint32_t> queued;
  // The canonical rows of each route taken that has a mapping (written by the processor).
  std::vector<MappedMessage> mapped;
};

// Parses `raw`, matches the routes and builds the queue items (payload: the message with CR
// segment terminators). `not_before` is the items' first delivery time.
// With ApplyMappings::yes (the processor), each route taken that has a mapping (RouteSpec::
// compiled_mapping) maps the message: a mapping error (or a mapping that does not take the message
// type) makes the message `errored` with the route, the mapping and the error in the detail, and
// queues nothing. Routing at the source only decides whether a route maps (Router::maps).
enum class ApplyMappings : bool { no, yes };
RoutedMessage route_message(const Router& router, std::string_view source, std::string_view raw,
                            store::TimePoint not_before, ApplyMappings map = ApplyMappings::no);
// The same for a message already parsed.
RoutedMessage route_message(const Router& router, std::string_view source,
                            const hl7v2::MessageView& message, store::TimePoint not_before,
                            ApplyMappings map = ApplyMappings::no);

// The processing counters (docs/metrics.md): outcomes, and per route the messages taken and the
// items queued. Shared by the processor and by routing done at the source (run), so both count
// into the same series. Thread-safe (relaxed atomics).
class ProcessingMetrics {
 public:
  ProcessingMetrics(metrics::Registry* registry, const Router& router);  // null: counts nothing
  // Once the outcome is committed.
  void count(const RoutedMessage& routed) const;

 private:
  metrics::Counter processed_;
  metrics::Counter filtered_;
  metrics::Counter errored_;
  std::vector<metrics::Counter> route_received_;  // per route index
  std::vector<metrics::Counter> route_queued_;
};

class Processor {
 public:
  struct Stats {
    std::uint64_t processed = 0;
    std::uint64_t filtered = 0;
    std::uint64_t errored = 0;
    std::uint64_t skipped = 0;         // already processed (seen twice)
    std::uint64_t canonical_rows = 0;  // rows created or changed in the canonical tables
    std::uint64_t failed_batches = 0;
  };

  Processor(std::unique_ptr<store::Store> store, std::shared_ptr<const Router> router,
            ProcessorOptions options = {});
  ~Processor();  // stop()
  Processor(const Processor&) = delete;
  Processor& operator=(const Processor&) = delete;

  // Hands over an entry the journal committed as `received`. `done` may be empty.
  void submit(store::JournalId id, std::string source, std::string raw, ProcessCompletion done);

  // Finishes the batch in hand, then joins. What is still queued stays `received` for the next
  // start's scan; its completions are called with ProcessErrc::stopped. Idempotent.
  void stop();

  Stats stats() const;

 private:
  struct Work {
    store::JournalId id = 0;
    std::string source;
    std::string raw;
    ProcessCompletion done;
  };

  void run();
  bool abandon_if_stopping();  // true when stopping: queued work answered, left `received`
  void process(std::vector<Work>& batch);
  Status write_canonical(std::vector<Work>& batch, std::vector<RoutedMessage>& routed,
                         store::TimePoint now, CanonicalWriteStats& written);
  std::vector<Work> scan();

  std::unique_ptr<store::Store> store_;    // processing thread only
  std::optional<CanonicalWriter> writer_;  // when a route maps; processing thread only
  std::shared_ptr<const Router> router_;
  ProcessorOptions options_;
  ProcessingMetrics counters_;
  metrics::Histogram commit_latency_;
  // hims_canonical_rows_total by change, hims_canonical_events_total (docs/metrics.md).
  metrics::Counter rows_created_, rows_updated_, rows_merged_, canonical_events_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Work> queue_;
  bool stopping_ = false;
  Stats stats_;
  std::thread thread_;
};

}  // namespace hims::engine
