#include "engine/journal_writer.hpp"

#include <algorithm>

#include <cassert>
#include <exception>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/log.hpp"
#include "engine/thread_name.hpp"

namespace hims::engine {
namespace {

using store::JournalId;

// Set on the writer thread, so stop() called from a completion does not join itself.
thread_local const JournalWriter* t_running_writer = nullptr;

std::size_t entry_bytes(const store::NewJournalEntry& e) {
  return sizeof(store::NewJournalEntry) + e.raw.size() + e.source.size() + e.peer.size() +
         e.message_type.size() + e.trigger_event.size() + e.control_id.size() +
         e.sending_application.size() + e.sending_facility.size() + e.error.size();
}

std::vector<double> batch_buckets() {
  std::vector<double> b;
  for (double v = 1; v <= 1024; v *= 2) b.push_back(v);
  return b;
}

// `count` checkpoints that took `us` microseconds in all, seen between two commits: each is
// observed with their mean (exact for one, which is nearly always the case; the sum is exact).
void observe_checkpoints(const metrics::Histogram& histogram, std::uint64_t count,
                         std::uint64_t us) {
  if (count == 0) return;
  const double each = static_cast<double>(us) / 1e6 / static_cast<double>(count);
  for (std::uint64_t i = 0; i < count; ++i) histogram.observe(each);
}

void complete(Completion& done, Result<JournalReceipt> result) {
  try {
    done(std::move(result));
  } catch (const std::exception& e) {  // a completion must not kill the writer thread
    log::error("journal completion threw", {{"error", e.what()}});
  } catch (...) {
    log::error("journal completion threw", {{"error", "unknown exception"}});
  }
}

}  // namespace

std::string_view to_string(JournalErrc code) {
  switch (code) {
    case JournalErrc::queue_full:
      return "journal_queue_full";
    case JournalErrc::too_large:
      return "journal_entry_too_large";
    case JournalErrc::stopped:
      return "journal_stopped";
  }
  return "journal_unknown";
}

Result<std::unique_ptr<JournalWriter>> JournalWriter::open(
    std::string_view url, JournalWriterOptions options, const store::OpenOptions& store_options) {
  auto store = store::open_store(url, store_options);
  if (!store.ok()) return store.take_error();
  std::vector<std::unique_ptr<store::Store>> stores;
  const std::size_t lanes = lanes_for((*store)->backend());
  stores.push_back(std::move(*store));
  // The other lanes' connections; the first one applied the migrations.
  store::OpenOptions more_options = store_options;
  more_options.migrate = false;
  while (stores.size() < lanes) {
    auto more = store::open_store(url, more_options);
    if (!more.ok()) return more.take_error();
    stores.push_back(std::move(*more));
  }
  return std::make_unique<JournalWriter>(std::move(stores), std::move(options));
}

std::size_t JournalWriter::lanes_for(std::string_view backend) {
  return backend == "postgresql" ? 2 : 1;
}

namespace {
std::vector<std::unique_ptr<store::Store>> one_store(std::unique_ptr<store::Store> store) {
  std::vector<std::unique_ptr<store::Store>> stores;
  stores.push_back(std::move(store));
  return stores;
}
}  // namespace

JournalWriter::JournalWriter(std::unique_ptr<store::Store> store, JournalWriterOptions options)
    : JournalWriter(one_store(std::move(store)), std::move(options)) {}

JournalWriter::JournalWriter(std::vector<std::unique_ptr<store::Store>> stores,
                             JournalWriterOptions options)
    : options_(std::move(options)) {
  assert(!stores.empty() && stores.front() != nullptr);
  backend_ = std::string(stores.front()->backend());
  if (options_.max_batch_entries == 0) options_.max_batch_entries = 1;
  if (!options_.clock) options_.clock = [] { return store::Clock::now(); };
  if (options_.metrics != nullptr) {
    metrics::Registry& r = *options_.metrics;
    const std::string& backend = backend_;
    metrics_.journaled =
        r.counter("hims_journal_appended_total", "Inbound messages durably journaled", {"store"})
            .with({backend});
    metrics_.duplicates = r.counter("hims_journal_duplicates_total",
                                    "Inbound messages answered with an earlier journal id "
                                    "(duplicates, not journaled again)",
                                    {"store"})
                              .with({backend});
    metrics_.failed = r.counter("hims_journal_failed_total",
                                "Inbound messages whose journal commit failed", {"store"})
                          .with({backend});
    metrics_.commit_latency =
        r.histogram("hims_commit_latency_seconds", "One group commit (transaction plus fsync)",
                    metrics::latency_buckets(), {"store"})
            .with({backend});
    metrics_.batch_size = r.histogram("hims_commit_batch_messages", "Messages per group commit",
                                      batch_buckets(), {"store"})
                              .with({backend});
    metrics_.queue_depth = r.gauge("hims_journal_queue_depth",
                                   "Inbound messages waiting for a journal commit", {"store"})
                               .with({backend});
    metrics_.duplicate_memory =
        r.gauge("hims_journal_duplicate_memory_entries",
                "SQLite: recent journal entries kept in memory for duplicate look-ups", {"store"})
            .with({backend});
    metrics_.duplicate_memory_evicted =
        r.counter("hims_journal_duplicate_memory_evicted_total",
                  "SQLite: entries dropped from the duplicate memory by its limit while still "
                  "inside the window (the window is that much shorter)",
                  {"store"})
            .with({backend});
    if (backend == "sqlite") {
      auto checkpoints = r.histogram(
          "hims_sqlite_checkpoint_seconds",
          "SQLite WAL checkpoints (copying the WAL into the database file): background ones on "
          "their own thread, inline ones inside a commit that waited for them",
          metrics::latency_buckets(), {"kind"});
      metrics_.checkpoint_background = checkpoints.with({"background"});
      metrics_.checkpoint_inline = checkpoints.with({"inline"});
      metrics_.wal_pages =
          r.gauge("hims_sqlite_wal_pages", "SQLite: pages in the WAL after the latest commit", {})
              .with({});
      metrics_.page_cache_dropped =
          r.counter("hims_sqlite_page_cache_dropped_bytes_total",
                    "SQLite: bytes of the database file dropped from the OS page cache after "
                    "background checkpoints (older than the cached window at its end)",
                    {})
              .with({});
    }
  }
  lanes_.reserve(stores.size());
  for (auto& store : stores) lanes_.push_back(Lane{std::move(store), {}});
  for (std::size_t i = 0; i < lanes_.size(); ++i) {
    store::Store& store = *lanes_[i].store;
    lanes_[i].thread = std::thread([this, &store, i] {
      set_thread_name(i == 0 ? "hims-journal" : "hims-journal-" + std::to_string(i));
      run(store);
    });
  }
}

JournalWriter::~JournalWriter() { stop(); }

Status JournalWriter::submit(store::NewJournalEntry entry, Completion done) {
  const std::size_t bytes = entry_bytes(entry);
  return enqueue(Pending{std::move(entry), std::move(done), bytes, std::nullopt});
}

Status JournalWriter::submit(store::NewJournalEntry entry, InlineProcessing processing,
                             Completion done) {
  std::size_t bytes = entry_bytes(entry);
  for (const store::NewQueueItem& item : processing.items) bytes += item.payload.size();
  return enqueue(Pending{std::move(entry), std::move(done), bytes, std::move(processing)});
}

Status JournalWriter::enqueue(Pending pending) {
  const std::size_t bytes = pending.bytes;
  if (bytes > options_.max_queue_bytes) {
    return Error(JournalErrc::too_large, "journal queue",
                 "entry of " + std::to_string(bytes) + " bytes exceeds max_queue_bytes " +
                     std::to_string(options_.max_queue_bytes));
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return Error(JournalErrc::stopped, "journal queue", "the writer is stopping");
    if (queue_.size() >= options_.max_queue_entries ||
        queued_bytes_ + bytes > options_.max_queue_bytes) {
      return Error(JournalErrc::queue_full, "journal queue",
                   std::to_string(queue_.size()) + " entries, " + std::to_string(queued_bytes_) +
                       " bytes queued (limits " + std::to_string(options_.max_queue_entries) +
                       ", " + std::to_string(options_.max_queue_bytes) + ")");
    }
    queue_.push_back(std::move(pending));
    queued_bytes_ += bytes;
    metrics_.queue_depth.set(static_cast<double>(queue_.size()));
  }
  // A lane waiting out max_wait must see the batch fill up, whichever lane this wakes.
  if (options_.max_wait.count() > 0 && lanes_.size() > 1) {
    wake_.notify_all();
  } else {
    wake_.notify_one();
  }
  return {};
}

void JournalWriter::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (t_running_writer == this) return;  // from a completion: the threads end after their batch
  std::lock_guard lock(stop_mutex_);
  for (Lane& lane : lanes_) {
    if (lane.thread.joinable()) lane.thread.join();
  }
}

bool JournalWriter::healthy() const {
  std::lock_guard lock(mutex_);
  return failing_batches_ == 0;
}

std::size_t JournalWriter::queue_depth() const {
  std::lock_guard lock(mutex_);
  return queue_.size();
}

JournalWriter::Stats JournalWriter::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

void JournalWriter::run(store::Store& store) {
  t_running_writer = this;
  constexpr std::size_t kBusyBatch = 4;
  bool batch_policy = false;
  std::unique_lock lock(mutex_);
  for (;;) {
    // One lane at a time takes a batch and runs its statements (taking_).
    wake_.wait(lock,
               [&] { return (stopping_ && queue_.empty()) || (!queue_.empty() && !taking_); });
    if (queue_.empty()) break;  // stopping, and everything queued is done
    taking_ = true;
    if (options_.max_wait.count() > 0 && !stopping_) {
      const auto deadline = std::chrono::steady_clock::now() + options_.max_wait;
      wake_.wait_until(lock, deadline, [&] {
        return stopping_ || queue_.size() >= options_.max_batch_entries ||
               queued_bytes_ >= options_.max_batch_bytes;
      });
    }
    std::vector<Pending> batch = take_batch();
    const std::uint64_t ticket = next_ticket_++;
    lock.unlock();
    // Under load (batches of several entries) this thread runs as SCHED_BATCH: a submit wakes it
    // without preempting the I/O thread, which reads on until it waits, so the next transaction
    // takes the whole burst instead of its first message. A lone message per batch (a quiet
    // engine) switches it back, so that message's wake-up preempts whatever else runs.
    if (const bool busy = batch.size() >= kBusyBatch; busy != batch_policy) {
      set_thread_batch_policy(busy);
      batch_policy = busy;
    }
    commit(store, batch, ticket);
    batch.clear();  // completions and entries are destroyed outside the lock
    lock.lock();
  }
  t_running_writer = nullptr;
}

std::vector<JournalWriter::Pending> JournalWriter::take_batch() {
  std::vector<Pending> batch;
  std::size_t bytes = 0;
  while (!queue_.empty() && batch.size() < options_.max_batch_entries) {
    const std::size_t next = queue_.front().bytes;
    if (!batch.empty() && bytes + next > options_.max_batch_bytes) break;
    bytes += next;
    batch.push_back(std::move(queue_.front()));
    queue_.pop_front();
  }
  queued_bytes_ -= bytes;
  metrics_.queue_depth.set(static_cast<double>(queue_.size()));
  return batch;
}

void JournalWriter::statements_done(std::uint64_t ticket, const std::vector<std::string>& keys) {
  taking_ = false;
  for (const std::string& key : keys) unfinished_keys_[key] = ticket;
  wake_.notify_one();
}

void JournalWriter::commit(store::Store& store, std::vector<Pending>& batch, std::uint64_t ticket) {
  const std::size_t n = batch.size();
  const store::TimePoint now = options_.clock();

  // Duplicate candidates: entries as received, with a control id, from a source whose window is
  // on. Rejected entries are always journaled (the record of a refusal); entries without a
  // control id cannot be re-sent ones.
  std::vector<std::optional<store::TimePoint>> since(n);      // start of each candidate's window
  std::vector<std::optional<std::size_t>> first_in_batch(n);  // same-batch duplicate of
  // With more than one lane: the candidates' keys, which the next batch must not find
  // uncommitted (unfinished_keys_).
  const bool share_keys = lanes_.size() > 1;
  std::vector<std::string> keys;
  {
    std::unordered_map<std::string, std::size_t> seen;
    for (std::size_t i = 0; i < n; ++i) {
      auto& e = batch[i].entry;
      if (e.state != store::MessageState::received || e.control_id.empty()) continue;
      const auto own = options_.duplicate_window_by_source.find(e.source);
      const std::chrono::seconds window = own != options_.duplicate_window_by_source.end()
                                              ? own->second
                                              : options_.duplicate_window;
      if (window.count() <= 0) continue;
      since[i] = now - window;
      // Sources hash on their own threads when they can; this thread only when they did not, into
      // the entry, so the store does not hash it again.
      if (e.content_hash.empty()) e.content_hash = store::sha256_hex(e.raw);
      std::string key = e.source;
      key.append(1, '\0').append(e.control_id).append(1, '\0').append(e.content_hash);
      if (share_keys) keys.push_back(key);
      auto [it, inserted] = seen.try_emplace(std::move(key), i);
      if (!inserted) first_in_batch[i] = it->second;
    }
  }
  bool statements_ran = false;
  if (!keys.empty()) {
    // An earlier batch with one of these keys may still be committing (another lane): its rows
    // are not visible to this lane's look-up until then, so wait for it.
    std::unique_lock lock(mutex_);
    if (std::any_of(keys.begin(), keys.end(),
                    [&](const std::string& k) { return unfinished_keys_.contains(k); })) {
      turn_.wait(lock, [&] { return finished_ == ticket; });
    }
  }

  std::vector<std::optional<JournalId>> earlier(n);  // duplicate of an already journaled entry
  std::vector<JournalId> ids(n, 0);
  std::vector<std::size_t> rows;  // batch index of each inserted entry
  std::vector<store::NewJournalEntry> entries;
  std::vector<std::size_t> processed_rows;  // batch index of each entry processed inline
  std::vector<std::string> enqueued;        // destinations that got items
  const auto started = std::chrono::steady_clock::now();
  Status status = [&]() -> Status {
    try {
      return store.transact([&]() -> Status {
        rows.reserve(n);
        // One duplicate lookup for the whole batch.
        std::vector<store::DuplicateQuery> queries;
        std::vector<std::size_t> asked;  // batch index of each query
        for (std::size_t i = 0; i < n; ++i) {
          if (first_in_batch[i] || !since[i]) continue;
          const auto& e = batch[i].entry;
          queries.push_back(
              store::DuplicateQuery{e.source, e.control_id, e.content_hash, *since[i], 0});
          asked.push_back(i);
        }
        if (!queries.empty()) {
          auto found = store.find_duplicates(queries);
          if (!found.ok()) return found.take_error();
          for (std::size_t k = 0; k < asked.size() && k < found->size(); ++k) {
            earlier[asked[k]] = (*found)[k];
          }
        }
        for (std::size_t i = 0; i < n; ++i) {
          if (!first_in_batch[i] && !earlier[i]) rows.push_back(i);
        }
        entries.reserve(rows.size());
        for (std::size_t i : rows) {
          entries.push_back(std::move(batch[i].entry));
          // Processing decided at the source: the entry is journaled in its outcome state (no
          // second write of the row; its history starts there).
          if (const auto& p = batch[i].processing;
              p && entries.back().state == store::MessageState::received) {
            entries.back().state = p->state;
            if (p->state == store::MessageState::errored) entries.back().error = p->detail;
            processed_rows.push_back(i);
          }
        }
        auto appended = store.append(entries);
        if (!appended.ok()) return appended.take_error();
        if (appended->size() != rows.size()) {
          return Error(store::StoreErrc::query_failed, "journal",
                       "append returned " + std::to_string(appended->size()) + " ids for " +
                           std::to_string(rows.size()) + " entries");
        }
        for (std::size_t k = 0; k < rows.size(); ++k) ids[rows[k]] = (*appended)[k];
        // Their queue items commit with them (one fsync for both), in journal order.
        std::vector<store::JournalQueueItems> queued;
        for (const std::size_t i : processed_rows) {
          const auto& items = batch[i].processing->items;
          if (items.empty()) continue;
          queued.push_back(store::JournalQueueItems{ids[i], items});
          for (const store::NewQueueItem& item : items) {
            if (std::find(enqueued.begin(), enqueued.end(), item.destination) == enqueued.end()) {
              enqueued.push_back(item.destination);
            }
          }
        }
        if (!queued.empty()) {
          if (Status s = store.enqueue_batch(queued, now); !s.ok()) return s;
        }
        // The next lane may run its statements now; this COMMIT waits for the previous one.
        std::unique_lock lock(mutex_);
        statements_done(ticket, keys);
        statements_ran = true;
        turn_.wait(lock, [&] { return finished_ == ticket; });
        return {};
      });
    } catch (const std::exception& e) {  // the store converts; this keeps the thread alive
      return Error(store::StoreErrc::query_failed, "journal", e.what());
    }
  }();
  metrics_.commit_latency.observe(std::chrono::steady_clock::now() - started);
  metrics_.batch_size.observe(static_cast<double>(n));

  std::uint64_t journaled = 0;
  std::uint64_t duplicates = 0;
  if (status.ok()) {
    for (std::size_t i = 0; i < n; ++i) {
      if (first_in_batch[i]) {
        const std::size_t f = *first_in_batch[i];
        earlier[i] = earlier[f] ? *earlier[f] : ids[f];
      }
      if (earlier[i]) {
        ++duplicates;
        log::info("duplicate message not journaled again",
                  {{"source", batch[i].entry.source},
                   {"control_id", batch[i].entry.control_id},
                   {"journal_id", *earlier[i]}});
      } else {
        ++journaled;
      }
    }
  }
  const std::uint64_t failed = status.ok() ? 0 : n;
  const store::DuplicateMemory memory = store.duplicate_memory();
  const store::WalCheckpoints checkpoints = store.wal_checkpoints();
  store::WalCheckpoints checkpoints_before;
  std::uint64_t newly_evicted = 0;
  bool first_failure = false;
  {
    std::unique_lock lock(mutex_);
    if (!statements_ran) statements_done(ticket, {});  // failed before the end of its statements
    turn_.wait(lock, [&] { return finished_ == ticket; });
    finished_ = ticket + 1;
    for (const std::string& key : keys) {
      if (auto it = unfinished_keys_.find(key);
          it != unfinished_keys_.end() && it->second == ticket) {
        unfinished_keys_.erase(it);
      }
    }
    turn_.notify_all();
    if (checkpoints.on) {
      checkpoints_before = checkpoints_seen_;
      checkpoints_seen_ = checkpoints;
    }
    if (memory.on && memory.evicted > evicted_seen_) {
      newly_evicted = memory.evicted - evicted_seen_;
      evicted_seen_ = memory.evicted;
    }
    first_failure = !status.ok() && failing_batches_ == 0;
    if (!status.ok() && failing_batches_ > 0 && failing_batches_ % 100 == 0) first_failure = true;
    const bool recovered = status.ok() && failing_batches_ > 0;
    failing_batches_ = status.ok() ? 0 : failing_batches_ + 1;
    if (recovered) log::info("journal commits succeed again", {});
    ++stats_.batches;
    stats_.journaled += journaled;
    stats_.duplicates += duplicates;
    stats_.failed += failed;
  }
  metrics_.journaled.inc(journaled);
  metrics_.duplicates.inc(duplicates);
  metrics_.failed.inc(failed);
  if (memory.on) {
    metrics_.duplicate_memory.set(static_cast<double>(memory.entries));
    if (newly_evicted > 0) {
      if (newly_evicted == memory.evicted) {
        log::warn(
            "duplicate memory full: the oldest entries of the window are dropped, so "
            "duplicates are found over a shorter window",
            {{"entries", static_cast<std::uint64_t>(memory.entries)}});
      }
      metrics_.duplicate_memory_evicted.inc(newly_evicted);
    }
  }
  if (checkpoints.on) {
    // The counts are the database file's in this process; they only grow while this store is
    // open (its connection keeps the file's checkpointer).
    observe_checkpoints(metrics_.checkpoint_background,
                        checkpoints.background - checkpoints_before.background,
                        checkpoints.background_us - checkpoints_before.background_us);
    observe_checkpoints(metrics_.checkpoint_inline,
                        checkpoints.inline_count - checkpoints_before.inline_count,
                        checkpoints.inline_us - checkpoints_before.inline_us);
    metrics_.wal_pages.set(static_cast<double>(checkpoints.wal_pages));
    metrics_.page_cache_dropped.inc(checkpoints.page_cache_dropped_bytes -
                                    checkpoints_before.page_cache_dropped_bytes);
  }
  if (first_failure) {
    log::error("journal commit failed; the messages are not acknowledged",
               {{"entries", static_cast<std::uint64_t>(n)}, {"error", status.error().message()}});
  }

  // The journaled bytes go back with their receipts, so processing needs no copy.
  std::vector<std::string> raws(n);
  if (status.ok()) {
    for (std::size_t k = 0; k < rows.size() && k < entries.size(); ++k) {
      raws[rows[k]] = std::move(entries[k].raw);
    }
  }
  std::vector<bool> processed(n, false);
  if (status.ok()) {
    for (std::size_t i : processed_rows) processed[i] = true;
    if (!enqueued.empty() && options_.on_enqueued) options_.on_enqueued(enqueued);
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!status.ok()) {
      complete(batch[i].done, status.error());
    } else if (earlier[i]) {
      complete(batch[i].done, JournalReceipt{*earlier[i], earlier[i], {}, false});
    } else {
      complete(batch[i].done,
               JournalReceipt{ids[i], std::nullopt, std::move(raws[i]), processed[i]});
    }
  }
}

}  // namespace hims::engine
