// The engine's durable store: the message journal (raw inbound bytes, state and its history) and
// the destination queues, on SQLite (default) or PostgreSQL. One Store = one database connection:
// use it from one thread at a time (the engine owns one per worker thread). Not thread-safe.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"

namespace hims::store {

enum class StoreErrc : std::uint8_t {
  bad_url,           // not sqlite:PATH or postgresql://...
  cannot_open,       // the file cannot be opened/created, or the server is unreachable
  query_failed,      // the database refused a statement (constraint, syntax, I/O)
  busy,              // SQLite: locked beyond the busy timeout; PostgreSQL: lock timeout,
                     // deadlock, serialization failure. Running the transaction again may pass.
  not_found,         // no journal entry / queue item with that id
  lease_lost,        // the queue item is not (or no longer) leased by this store
  migration_failed,  // a schema migration failed; nothing of it was applied
  bad_argument,      // an argument the store cannot accept (empty destination, ...)
};

constexpr ErrorDomain error_domain(StoreErrc) { return ErrorDomain::store; }
std::string_view to_string(StoreErrc code);

using Clock = std::chrono::system_clock;
using TimePoint = Clock::time_point;
using JournalId = std::int64_t;
using QueueItemId = std::int64_t;

// A journal entry's state. New entries are `received` (or `rejected` when refused at intake).
enum class MessageState : std::uint8_t { received, processed, filtered, errored, rejected };
std::string_view to_string(MessageState state);
std::optional<MessageState> parse_message_state(std::string_view text);

// SHA-256 of the bytes, lowercase hex (64 characters): the journal's content hash.
std::string sha256_hex(std::string_view bytes);

// One inbound message to journal. size is computed by the store, and the content hash too
// unless the caller already has it.
struct NewJournalEntry {
  std::string raw;  // exactly as received
  std::string source;
  std::string peer;
  TimePoint received_at;
  std::string message_type;   // "ORU"
  std::string trigger_event;  // "R01"
  std::string control_id;
  std::string sending_application;
  std::string sending_facility;
  MessageState state = MessageState::received;
  std::string error;         // why it was rejected; empty otherwise. No PHI.
  std::string content_hash;  // sha256_hex(raw) when the caller computed it; empty: the store does
};

struct JournalEntry {
  JournalId id = 0;
  std::string raw;
  std::string source;
  std::string peer;
  TimePoint received_at;
  std::string message_type;
  std::string trigger_event;
  std::string control_id;
  std::string sending_application;
  std::string sending_facility;
  std::int64_t size = 0;
  std::string content_hash;  // sha256_hex(raw)
  MessageState state = MessageState::received;
  std::string error;
  TimePoint updated_at;  // received_at, or the time of the last state change
};

// One row of a journal entry's history; `from` is empty for the first (the append).
struct StateChange {
  JournalId journal_id = 0;
  std::optional<MessageState> from;
  MessageState to = MessageState::received;
  TimePoint at;
  std::string detail;
};

// Duplicate detection (DESIGN 5a): an entry of the same source, control id and content hash
// received at or after `since`, with an id below `before_id` (0: any id).
struct DuplicateQuery {
  std::string source;
  std::string control_id;
  std::string content_hash;
  TimePoint since;
  JournalId before_id = 0;
};

// Listing for `replay` and the message browser: every set field must match; oldest first.
struct JournalFilter {
  std::optional<MessageState> state;
  std::optional<std::string> source;
  std::optional<std::string> control_id;
  std::optional<TimePoint> received_from;   // inclusive
  std::optional<TimePoint> received_until;  // exclusive
  JournalId after_id = 0;                   // paging: only ids above this
  std::size_t limit = 100;
  bool with_raw = false;  // load the raw bytes too (listings usually do not need them)
};

// An outbound item to put on a destination's queue.
struct NewQueueItem {
  std::string destination;
  std::string payload;
  TimePoint not_before;  // first delivery attempt no earlier than this
  // The route that produced it (a ZeroMQ destination's topic); may be empty. `{}` keeps
  // three-field aggregate initializations free of -Wmissing-field-initializers.
  std::string route{};
  std::string source{};  // the source of the message it comes from (file names); may be empty
};

// The queue items of one journal entry (enqueue_batch).
struct JournalQueueItems {
  JournalId journal_id = 0;
  std::span<const NewQueueItem> items;
};

// One entry of commit_processing_batch(): the entry's new state and its outbound items.
struct ProcessingCommit {
  JournalId id = 0;
  MessageState to = MessageState::processed;
  std::string detail;               // recorded in history; for errored/rejected: the entry's error
  std::vector<NewQueueItem> items;  // enqueued only if the entry is applied
};

enum class QueueItemStatus : std::uint8_t { pending, delivered, dead };
std::string_view to_string(QueueItemStatus status);

// A queue item claimed by next_due(): leased to this store until `lease_until`.
struct QueueItem {
  QueueItemId id = 0;
  std::string destination;
  JournalId journal_id = 0;
  std::string payload;
  QueueItemStatus status = QueueItemStatus::pending;
  int attempts = 0;  // failed attempts so far
  TimePoint enqueued_at;
  TimePoint not_before;
  std::string last_error;
  std::string lease_owner;
  TimePoint lease_until;
  std::string route;   // NewQueueItem::route
  std::string source;  // NewQueueItem::source
};

struct QueueStats {
  std::int64_t depth = 0;                               // pending items
  std::optional<std::chrono::microseconds> oldest_age;  // of the oldest pending item, at `now`
  std::int64_t dead = 0;
};

// Which dead letters requeue_dead() puts back; unset fields match everything.
struct DeadLetterFilter {
  std::optional<std::string> destination;
  std::optional<QueueItemId> id;
  std::optional<JournalId> journal_id{};  // `{}`: see NewQueueItem::route
};

// Listing of queue items (dead letters, a destination's backlog): every set field must match;
// ascending id.
struct QueueFilter {
  std::optional<std::string> destination;
  std::optional<QueueItemStatus> status;
  std::optional<QueueItemId> id;
  std::optional<JournalId> journal_id;
  QueueItemId after_id = 0;  // paging: only ids above this
  std::size_t limit = 100;
  bool with_payload = false;  // load the payload too (listings usually do not need it)
};

// Journal entries per source and state (`hims-engine stats`, /metrics).
struct StateCount {
  std::string source;
  MessageState state = MessageState::received;
  std::int64_t count = 0;
};

// One destination's queue: items per status and the age of its oldest pending item at `now`.
struct DestinationStats {
  std::string destination;
  std::int64_t pending = 0, delivered = 0, dead = 0;
  std::optional<std::chrono::microseconds> oldest_pending_age;
};

struct OpenOptions {
  bool migrate = true;                           // apply pending migrations at open
  std::chrono::milliseconds busy_timeout{5000};  // SQLite: wait this long for a lock
  std::string lease_owner;  // who claims queue items; "" = a unique id per Store ("host:pid:n")
  // SQLite: find_duplicates answers look-ups within this long of now from memory (the entries
  // appended in that time, read at open, then added at each commit), since the SQLite journal has
  // no index on control ids (migration 3). The longest duplicate window of the sources; 0: every
  // look-up reads the journal (a scan of the time range). PostgreSQL ignores it (its journal is
  // indexed and may be shared by several nodes).
  std::chrono::seconds duplicate_horizon{0};
  // At most this many entries in memory (about 100 bytes each); beyond it the oldest go and the
  // window is that much shorter (Store::duplicate_memory().evicted counts them).
  std::size_t duplicate_memory_limit = 1'000'000;
  // SQLite: each time the WAL has grown by this many pages (16 KiB each) after a commit, a
  // background thread (one per database file) copies it back into the file, so no commit waits
  // for that; a connection whose commit finds wal_limit_pages or more copies it itself (which
  // also lets the WAL start over from its beginning; over the last wal_checkpoint_pages before
  // that limit the background passes run back to back, so little is left to copy then).
  // wal_checkpoint_pages 0: SQLite's automatic checkpoint in the committing connection (at 1,000
  // pages).
  std::uint32_t wal_checkpoint_pages = 256;
  std::uint32_t wal_limit_pages = 2048;
  // SQLite, with background checkpoints: after each of them, the database file's pages more than
  // this many bytes before its end (down to a 2 MiB boundary) leave the OS page cache
  // (posix_fadvise DONTNEED; they are written and fsync'd by then). The journal and the queues are
  // appended to, and their older pages are seldom read again (replay, inspect, a backlog); a page
  // cache that keeps growing with the file takes a page of new memory for every page a checkpoint
  // writes, which on a virtual machine that returns free memory to its host costs several times a
  // write into a page just freed (docs/storage.md). The first connection to a file in the process
  // sets it for the file. 0: the kernel decides what stays cached.
  std::uint64_t page_cache_window_bytes = std::uint64_t{64} << 20;
};

// The in-memory duplicate look-up of a SQLite store (OpenOptions::duplicate_horizon).
struct DuplicateMemory {
  bool on = false;
  std::size_t entries = 0;
  std::uint64_t evicted = 0;  // dropped for the limit while still inside the window
};

// The WAL checkpoints of a SQLite store's database file, since it was opened in this process
// (every connection of the process to that file counts; OpenOptions::wal_checkpoint_pages).
// `inline_*` ran inside a connection's commit, which waited for them.
struct WalCheckpoints {
  bool on = false;  // SQLite with background checkpoints; PostgreSQL: false
  std::uint64_t background = 0;
  std::uint64_t background_us = 0;
  std::uint64_t inline_count = 0;
  std::uint64_t inline_us = 0;
  std::uint32_t wal_pages = 0;  // in the WAL after the latest commit
  // Bytes of the database file dropped from the OS page cache after background checkpoints
  // (OpenOptions::page_cache_window_bytes): the ranges advised, cached or not.
  std::uint64_t page_cache_dropped_bytes = 0;
};

struct Migration {
  int version = 0;
  std::string name;
};

class Driver;  // the backend connection (engine/store_driver.hpp)
struct Param;  // a statement parameter (engine/store_driver.hpp)
enum class Dialect : std::uint8_t;
namespace detail {
class RecentEntries;  // engine/store_recent.hpp
}

class Store {
 public:
  explicit Store(std::unique_ptr<Driver> driver, std::string lease_owner);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  std::string_view backend() const;  // "sqlite" or "postgresql"
  const std::string& lease_owner() const { return lease_owner_; }

  Dialect dialect() const;

  // One statement in the open transaction, for the canonical writer (engine/canonical_writer.hpp):
  // its rows (cells: NULL or text). Unlike the calls below, a failure does not fail the open
  // transaction: the caller rolls back to its own savepoint. No parameters: `sql` may hold
  // one statement PostgreSQL cannot prepare (SAVEPOINT). bad_argument outside a transaction.
  Result<std::vector<std::vector<std::optional<std::string>>>> execute(
      std::string_view sql, std::span<const Param> params);
  Status execute(std::string_view sql);
  // Runs `body` under the savepoint `name` of the open transaction. Ok, with the body's own
  // status: when the body failed, what it wrote is undone and the transaction goes on. An error:
  // the savepoint statements themselves failed (the transaction is broken; end it).
  Result<Status> under_savepoint(std::string_view name, const std::function<Status()>& body);

  // Applies every migration not yet in schema_migrations, each in its own transaction.
  Status migrate();
  // The versions recorded in schema_migrations, ascending.
  Result<std::vector<Migration>> applied_migrations();
  // Every migration this build knows, ascending.
  static std::vector<Migration> known_migrations();

  // Runs `body` in one transaction: every store call inside joins it (nesting joins too). Commits
  // when body returns ok and no call inside failed; otherwise rolls back and returns the error.
  Status transact(const std::function<Status()>& body);

  // --- journal ---
  // Inserts the whole batch in one transaction and one durable commit (the group commit): when
  // this returns ok, the entries survive a crash. Returns their ids in batch order.
  Result<std::vector<JournalId>> append(std::span<const NewJournalEntry> batch);
  Result<std::optional<JournalEntry>> get(JournalId id);
  Result<std::optional<JournalId>> find_duplicate(const DuplicateQuery& query);
  // find_duplicate for many queries at once (one statement per 64 queries); results in query order.
  Result<std::vector<std::optional<JournalId>>> find_duplicates(
      std::span<const DuplicateQuery> queries);
  // SQLite: from now on, look-ups within `horizon` of now come from memory; reads the entries of
  // that time from the journal (open_store calls it for OpenOptions::duplicate_horizon > 0).
  // PostgreSQL: nothing to do.
  Status remember_recent(std::chrono::seconds horizon, std::size_t limit);
  DuplicateMemory duplicate_memory() const;
  WalCheckpoints wal_checkpoints() const;
  // Changes the state and records the change; for errored/rejected, `detail` becomes the error.
  Status set_state(JournalId id, MessageState to, std::string_view detail, TimePoint at);
  Result<std::vector<StateChange>> history(JournalId id);
  // Entries still `received`, oldest first (recovery after a restart). Raw bytes included.
  Result<std::vector<JournalEntry>> unprocessed(std::size_t limit);
  Result<std::vector<JournalEntry>> list(const JournalFilter& filter);
  // Replay: an `errored` or `filtered` entry goes back to `received` (error cleared, history row
  // with `detail`) so processing runs again. Returns 1, or 0 when the entry is in another state;
  // not_found when there is no such entry.
  Result<std::int64_t> reprocess(JournalId id, TimePoint at, std::string_view detail);
  // Entries per source and state, ordered by source then state; only pairs with entries.
  Result<std::vector<StateCount>> journal_counts();
  // Which of these entries are still `received`, in the order given (joins an open transaction;
  // PostgreSQL locks them FOR UPDATE until it ends, so no other worker processes them meanwhile).
  Result<std::vector<bool>> still_received(std::span<const JournalId> ids);

  // --- destination queues (FIFO per destination) ---
  Result<QueueItemId> enqueue(const NewQueueItem& item, JournalId journal_id, TimePoint now);
  // The message is done: state change (with history) and its outbound items, atomically, but
  // only while the entry is still `received`: returns false and writes nothing when it is not
  // (another worker or an earlier run processed it). not_found when there is no such entry.
  Result<bool> commit_processing(JournalId id, MessageState to, std::string_view detail,
                                 TimePoint at, std::span<const NewQueueItem> items);
  // commit_processing for many entries in one transaction (joins an open one) and few statements:
  // one UPDATE per 64 entries with the same new state and error (only those still `received`
  // change), one multi-row INSERT per 64 history rows and per 64 queue items. Returns, in batch
  // order, whether each entry was applied; an id listed twice is applied at most once (its first
  // listing). Queue items get ascending ids in batch order (entry order, then item order), so FIFO
  // per destination follows the batch. not_found (nothing written) when an id has no entry;
  // bad_argument for an empty destination.
  Result<std::vector<bool>> commit_processing_batch(std::span<const ProcessingCommit> batch,
                                                    TimePoint at);
  // Claims up to `max` items from the destination's head, ascending id: the lowest pending id and
  // the ones right behind it, each due (not_before <= now) and not leased by another owner (or its
  // lease expired); stops at the first that is not, so item k+1 is never claimed without item k.
  // Items already leased by this store are claimed again. One transaction; PostgreSQL: a head row
  // locked by another claimer (FOR UPDATE SKIP LOCKED) ends the batch there instead of waiting.
  Result<std::vector<QueueItem>> next_due_batch(std::string_view destination, TimePoint now,
                                                std::chrono::milliseconds lease, std::size_t max);
  // next_due_batch of one: the head, or nothing when the head is not due or leased elsewhere.
  Result<std::optional<QueueItem>> next_due(std::string_view destination, TimePoint now,
                                            std::chrono::milliseconds lease);
  Status mark_delivered(const QueueItem& item, TimePoint at);
  // mark_delivered for many items, one UPDATE per 64 items. Each must be pending and leased by
  // this store (and listed once): lease_lost otherwise, and nothing of the batch is changed (the
  // transaction, or the caller's it joined, rolls back).
  Status mark_delivered_batch(std::span<const QueueItem> items, TimePoint at);
  // Puts the items of several journal entries on their queues in one transaction (joins an open
  // one), entry by entry and item by item: their ids ascend in that order (FIFO). For entries
  // appended already in their final state (processing decided before the journal commit).
  Status enqueue_batch(std::span<const JournalQueueItems> batch, TimePoint now);
  // A failed attempt to try again at `next_at`: attempts + 1, last error kept, lease released.
  Status mark_retry(const QueueItem& item, TimePoint next_at, std::string_view error);
  // Gives up: dead letter with its last error (attempts + 1).
  Status mark_dead(const QueueItem& item, std::string_view error, TimePoint at);
  // Dead letters back to pending (attempts reset, due at `now`); returns how many. Requeued items
  // keep their id, so they go back to their original place in the FIFO.
  Result<std::int64_t> requeue_dead(const DeadLetterFilter& filter, TimePoint now);
  Result<QueueStats> queue_stats(std::string_view destination, TimePoint now);
  Result<std::optional<QueueItem>> get_queue_item(QueueItemId id);
  Result<std::vector<QueueItem>> list_queue(const QueueFilter& filter);
  // One row per destination that has any item, ordered by destination.
  Result<std::vector<DestinationStats>> queue_summary(TimePoint now);

 private:
  template <class T, class F>
  Result<T> in_tx(F&& body);

  // After the outermost transaction: the entries it appended join the recent ones, or are
  // forgotten when it rolled back.
  void end_transaction(bool committed);

  std::unique_ptr<Driver> driver_;
  std::string lease_owner_;
  int depth_ = 0;                                  // transact() nesting
  std::optional<Error> failed_;                    // first failure inside the open transaction
  std::unique_ptr<detail::RecentEntries> recent_;  // SQLite duplicate look-up (remember_recent)
};

// Opens `sqlite:PATH` (parent folders created; WAL, synchronous=FULL) or a libpq URL
// `postgresql://user@host:port/db` (synchronous_commit=on). Applies migrations when asked.
Result<std::unique_ptr<Store>> open_store(std::string_view url, const OpenOptions& options = {});

}  // namespace hims::store
