// The group-commit journal writer (DESIGN.md 5.1, 5a): sources submit inbound messages from any
// thread; a writer thread commits everything queued in one transaction, then calls each entry's
// completion, so many ACKs share one fsync.
// Lanes: each writer thread owns one Store (connection). SQLite has one lane. PostgreSQL has two,
// so one batch's statements run while the previous batch's COMMIT waits for its WAL flush. The
// batches keep one order: a lane takes a batch only when the previous batch's statements are done
// (journal and queue ids ascend from batch to batch), and commits only after the previous batch's
// commit ended, so no later id is ever visible before an earlier one. A batch with a possible
// duplicate of an entry still being committed waits for that commit before it looks duplicates up.
// Thread-safety: submit(), queue_depth(), stats() and stop() may be called from any thread.
// Completions run on a writer thread, never under the writer's lock; they must be quick (post
// the result back to the connection's strand) and must not call stop() or destroy the writer.
// Completions of consecutive batches may run at the same time on two lanes. Each Store is used
// only by its lane's thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "engine/metrics.hpp"
#include "engine/result.hpp"
#include "engine/store.hpp"

namespace hims::engine {

// Why submit() refused an entry. The source answers with a transient error (HL7 AE, HTTP 503)
// and the partner re-sends later. Domain `engine`.
enum class JournalErrc : std::uint8_t {
  queue_full,  // the queue holds max_queue_entries or max_queue_bytes: back-pressure
  too_large,   // the entry alone is larger than max_queue_bytes
  stopped,     // stop() was called (shutdown)
};

constexpr ErrorDomain error_domain(JournalErrc) { return ErrorDomain::engine; }
std::string_view to_string(JournalErrc code);

// What a committed submit yields. For a duplicate (DESIGN 5a) nothing new is journaled: `id` is
// the earlier entry's id and `duplicate_of` holds it too, so the source re-acknowledges but the
// engine does not process the message twice.
struct JournalReceipt {
  store::JournalId id = 0;
  std::optional<store::JournalId> duplicate_of;
  std::string raw;  // the journaled bytes, handed back for processing; empty for a duplicate
  // The entry's processing (InlineProcessing) committed with it: it is not `received` any more.
  bool processed = false;
};

// What processing decided for a message before it was journaled (routing on the source's own
// thread): committed in the same transaction as the entry and its history, so an accepted
// message and its queue items become durable together with one fsync (DESIGN.md 5.2).
struct InlineProcessing {
  store::MessageState state = store::MessageState::processed;
  std::string detail;
  std::vector<store::NewQueueItem> items;
};

// A move-only callable void(Result<JournalReceipt>) (std::move_only_function is C++23).
class Completion {
 public:
  Completion() = default;
  template <class F>
  requires(!std::is_same_v<std::decay_t<F>, Completion> &&
           std::is_invocable_v<std::decay_t<F>&, Result<JournalReceipt>>)
      Completion(F&& f)  // NOLINT: implicit, so a lambda can be passed directly
      : impl_(std::make_unique<Impl<std::decay_t<F>>>(std::forward<F>(f))) {}

  explicit operator bool() const { return impl_ != nullptr; }
  void operator()(Result<JournalReceipt> result) {
    if (impl_) impl_->call(std::move(result));
  }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual void call(Result<JournalReceipt> result) = 0;
  };
  template <class F>
  struct Impl final : Base {
    template <class G>
    explicit Impl(G&& g) : fn(std::forward<G>(g)) {}
    void call(Result<JournalReceipt> result) override { fn(std::move(result)); }
    F fn;
  };
  std::unique_ptr<Base> impl_;
};

struct JournalWriterOptions {
  // Limits of one transaction; a batch always takes at least one entry.
  std::size_t max_batch_entries = 512;
  std::size_t max_batch_bytes = 8u << 20;
  // Back-pressure: submit() fails with queue_full beyond these. Entries being committed no longer
  // count, so memory stays under max_queue_bytes + max_batch_bytes.
  std::size_t max_queue_entries = 10'000;
  std::size_t max_queue_bytes = 64u << 20;
  // 0 (default): natural batching, a batch is whatever queued while the previous commit ran, so an
  // idle engine commits a lone message at once. Above 0: once a batch has its first entry, wait up
  // to this long for more (until max_batch_entries/bytes) to share the fsync: fewer commits under
  // moderate load, at the price of up to max_wait added to every ACK. 0-2 ms is sensible.
  std::chrono::microseconds max_wait{0};
  // Duplicate window (DESIGN 5a): an entry whose source, control id and content hash match an
  // entry received at or after now - window is not journaled again. 0 disables. A source listed
  // in duplicate_window_by_source uses its own window instead.
  std::chrono::seconds duplicate_window{0};
  std::map<std::string, std::chrono::seconds, std::less<>> duplicate_window_by_source;
  // Called on the writer thread after a commit that queued items, with their destinations (to
  // wake the delivery workers).
  std::function<void(const std::vector<std::string>& destinations)> on_enqueued;
  // `now` for the duplicate window (tests inject a fixed clock).
  std::function<store::TimePoint()> clock = [] { return store::Clock::now(); };
  // Optional: counters, histograms and the queue gauge are registered here.
  metrics::Registry* metrics = nullptr;
};

class JournalWriter {
 public:
  struct Stats {
    std::uint64_t batches = 0;     // transactions attempted (committed or failed)
    std::uint64_t journaled = 0;   // entries inserted
    std::uint64_t duplicates = 0;  // entries answered with an earlier id
    std::uint64_t failed = 0;      // entries whose completion got an error
  };

  // Opens the store (open_store(url)) once per lane (lanes_for its backend); errors are returned,
  // nothing is started.
  static Result<std::unique_ptr<JournalWriter>> open(std::string_view url,
                                                     JournalWriterOptions options = {},
                                                     const store::OpenOptions& store_options = {});
  // Takes over an open store; starts the writer thread (one lane).
  JournalWriter(std::unique_ptr<store::Store> store, JournalWriterOptions options = {});
  // Takes over open stores of one database, one lane each (at least one).
  JournalWriter(std::vector<std::unique_ptr<store::Store>> stores,
                JournalWriterOptions options = {});
  ~JournalWriter();  // stop()
  JournalWriter(const JournalWriter&) = delete;
  JournalWriter& operator=(const JournalWriter&) = delete;

  // Queues one entry. Ok: `done` will be called exactly once on the writer thread, after the
  // entry's transaction committed (durable; receipt) or failed (the error; the whole batch fails,
  // nothing of it is committed). Error (queue_full, too_large, stopped): `done` is never called.
  // Never blocks on the store.
  [[nodiscard]] Status submit(store::NewJournalEntry entry, Completion done);
  // The same, with the message's processing decided already: applied in the entry's transaction
  // (not for a duplicate, which is not journaled again). Only for entries submitted `received`.
  [[nodiscard]] Status submit(store::NewJournalEntry entry, InlineProcessing processing,
                              Completion done);

  // Stops accepting, commits and completes everything already queued, joins the writer thread.
  // Idempotent; concurrent callers all return after the join.
  void stop();

  std::size_t queue_depth() const;
  std::size_t lanes() const { return lanes_.size(); }
  // How many lanes open() gives a backend ("sqlite": 1, "postgresql": 2).
  static std::size_t lanes_for(std::string_view backend);
  std::string_view backend() const { return backend_; }  // "sqlite" or "postgresql"
  // False while the last commit failed (the store is unreachable or refusing): /health says so.
  bool healthy() const;
  Stats stats() const;

 private:
  struct Pending {
    store::NewJournalEntry entry;
    Completion done;
    std::size_t bytes = 0;
    std::optional<InlineProcessing> processing;
  };
  Status enqueue(Pending pending);
  struct Instruments {
    metrics::Counter journaled;
    metrics::Counter duplicates;
    metrics::Counter failed;
    metrics::Histogram commit_latency;
    metrics::Histogram batch_size;
    metrics::Gauge queue_depth;
    metrics::Gauge duplicate_memory;            // SQLite: entries of the window kept in memory
    metrics::Counter duplicate_memory_evicted;  // dropped for the memory limit inside the window
    // SQLite (store.wal_checkpoints()): checkpoint durations by kind, the WAL's size, and the
    // bytes of the file dropped from the page cache.
    metrics::Histogram checkpoint_background;
    metrics::Histogram checkpoint_inline;
    metrics::Gauge wal_pages;
    metrics::Counter page_cache_dropped;
  };

  struct Lane {
    std::unique_ptr<store::Store> store;  // this lane's thread only
    std::thread thread;
  };

  void run(store::Store& store);
  std::vector<Pending> take_batch();  // under mutex_
  // Commits the batch of `ticket` on `store`: its statements, then its COMMIT in ticket order.
  void commit(store::Store& store, std::vector<Pending>& batch, std::uint64_t ticket);
  // After a batch's statements: the next lane may take a batch; `keys` (its duplicate keys) stay
  // visible to that batch until this one ends. Under mutex_.
  void statements_done(std::uint64_t ticket, const std::vector<std::string>& keys);

  std::string backend_;
  JournalWriterOptions options_;
  Instruments metrics_;

  mutable std::mutex mutex_;      // guards everything below up to lanes_
  std::condition_variable wake_;  // a lane may take a batch, or stop
  std::condition_variable turn_;  // finished_ moved on
  std::deque<Pending> queue_;
  std::size_t queued_bytes_ = 0;
  bool stopping_ = false;
  bool taking_ = false;            // a lane holds a batch whose statements have not run yet
  std::uint64_t next_ticket_ = 0;  // batches in the order they were taken
  std::uint64_t finished_ = 0;     // every batch before this ticket committed or failed
  // The duplicate keys (source, control id, hash) of batches whose statements ran and whose
  // commit has not ended, with their ticket: a later batch cannot see those rows yet.
  std::unordered_map<std::string, std::uint64_t> unfinished_keys_;
  Stats stats_;
  std::uint64_t failing_batches_ = 0;       // consecutive failed commits (to log, not flood)
  std::uint64_t evicted_seen_ = 0;          // duplicate_memory().evicted reported
  store::WalCheckpoints checkpoints_seen_;  // wal_checkpoints() reported

  std::mutex stop_mutex_;    // serialises join()
  std::vector<Lane> lanes_;  // fixed after the constructor
};

}  // namespace hims::engine
