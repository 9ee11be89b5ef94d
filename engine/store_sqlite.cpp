// The SQLite driver: one connection in WAL mode with synchronous=FULL (a commit returns after the
// WAL is fsync'd), 16 KiB pages for new files, a busy timeout, foreign keys on, and a cache of
// prepared statements (prepared once per SQL text, parameter indexes worked out once). The WAL is
// checkpointed by a background thread per database file, not by the connection that commits;
// after each pass, the file's older pages leave the OS page cache.
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <charconv>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/store_driver.hpp"
#include "engine/thread_name.hpp"

namespace hims::store {
namespace {

std::uint64_t micros_since(std::chrono::steady_clock::time_point start) {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::steady_clock::now() - start)
                                        .count());
}

// A prepared statement and, per $n parameter, its bind index (0: the statement does not use it),
// worked out once at prepare time instead of a name lookup per bind.
struct Statement {
  sqlite3_stmt* stmt = nullptr;
  std::vector<int> index;
};

// One T per database file in this process, shared by whoever holds it: made by `make` on first
// use (null: none, and the next call tries again), gone with its last holder.
template <typename T, typename Make>
std::shared_ptr<T> shared_per_file(const std::filesystem::path& path, Make make) {
  static std::mutex mutex;
  static std::map<std::string, std::weak_ptr<T>> running;
  std::error_code ec;
  const std::string key = std::filesystem::weakly_canonical(path, ec).string();
  const std::lock_guard lock(mutex);
  if (auto existing = running[key].lock()) return existing;
  std::shared_ptr<T> made = make();
  running[key] = made;
  std::erase_if(running, [](const auto& entry) { return entry.second.expired(); });
  return made;
}

// A descriptor of a database file of the engine's own, for posix_fadvise. Closing any descriptor
// of a file releases every POSIX lock this process holds on it, SQLite's included
// (sqlite.org/howtocorrupt.html, section 2.2), so there is one per file, held by each of the
// file's connections in this process, and it is closed only after the last of them.
class FileHandle {
 public:
  // Null when the file cannot be opened for reading (nothing is dropped then).
  static std::shared_ptr<FileHandle> of(const std::filesystem::path& path) {
    return shared_per_file<FileHandle>(path, [&]() -> std::shared_ptr<FileHandle> {
      const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) return nullptr;
      return std::shared_ptr<FileHandle>(new FileHandle(fd));
    });
  }
  ~FileHandle() { ::close(fd_); }
  FileHandle(const FileHandle&) = delete;
  FileHandle& operator=(const FileHandle&) = delete;
  int fd() const { return fd_; }

 private:
  explicit FileHandle(int fd) : fd_(fd) {}
  int fd_;
};

// Copies the WAL of one database file back into the file (a PASSIVE checkpoint: it waits for no
// reader or writer) on its own thread and connection, when a committing connection asks.
// SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: a journal group
// commit then also copied and fsync'd 16 MiB of WAL, and the ACKs of its messages waited tens of
// milliseconds for it. One per file in the process (the drivers of the file share it); it stops
// when the last of them closes.
class Checkpointer {
 public:
  // The checkpointer of `path` (opened on first use, with `file` and `cache_window`; a later
  // driver of the same file shares it as it is); null when its connection cannot be opened (the
  // drivers then checkpoint inline, as SQLite would).
  static std::shared_ptr<Checkpointer> of(const std::filesystem::path& path,
                                          std::shared_ptr<FileHandle> file,
                                          std::uint64_t cache_window) {
    return shared_per_file<Checkpointer>(path, [&]() -> std::shared_ptr<Checkpointer> {
      sqlite3* db = nullptr;
      if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                          nullptr) != SQLITE_OK ||
          sqlite3_exec(db, "PRAGMA synchronous=FULL", nullptr, nullptr, nullptr) != SQLITE_OK) {
        sqlite3_close_v2(db);
        return nullptr;
      }
      return std::shared_ptr<Checkpointer>(new Checkpointer(db, std::move(file), cache_window));
    });
  }
  ~Checkpointer() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_one();
    thread_.join();
    sqlite3_close_v2(db_);
  }
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // What this file's connections and this thread checkpointed (Store::wal_checkpoints).
  WalCheckpoints stats() const {
    const std::lock_guard lock(stats_mutex_);
    return stats_;
  }
  // A committing connection's own checkpoint of `us` microseconds.
  void count_inline(std::uint64_t us) {
    const std::lock_guard lock(stats_mutex_);
    ++stats_.inline_count;
    stats_.inline_us += us;
  }
  void set_wal_pages(int pages) {
    const std::lock_guard lock(stats_mutex_);
    stats_.wal_pages = static_cast<std::uint32_t>(pages);
  }

  // Asks for a checkpoint; never waits (the caller is inside a commit). Asked while one runs, the
  // next pass starts as soon as it ends.
  void request() {
    {
      const std::lock_guard lock(mutex_);
      if (wanted_) return;
      wanted_ = true;
    }
    wake_.notify_one();
  }

 private:
  Checkpointer(sqlite3* db, std::shared_ptr<FileHandle> file, std::uint64_t cache_window)
      : db_(db), file_(std::move(file)), cache_window_(cache_window), thread_([this] { run(); }) {}

  void run() {
    set_thread_name("hims-checkpoint");
    set_thread_batch_policy();  // background work: it never preempts the threads that commit
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [this] { return wanted_ || stop_; });
      if (stop_) return;
      wanted_ = false;
      lock.unlock();
      // Busy (another checkpoint is running) or failed: the next request tries again, and the
      // committing connections checkpoint inline beyond their limit.
      const auto started = std::chrono::steady_clock::now();
      if (sqlite3_wal_checkpoint_v2(db_, nullptr, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr) ==
          SQLITE_OK) {
        const std::uint64_t took = micros_since(started);
        const std::uint64_t dropped = drop_cached_pages();
        const std::lock_guard stats_lock(stats_mutex_);
        ++stats_.background;
        stats_.background_us += took;
        stats_.page_cache_dropped_bytes += dropped;
      }
      lock.lock();
    }
  }

  // After a checkpoint (the pages it wrote are fsync'd): the file's pages from where the last
  // call stopped to `cache_window_` bytes before its end leave the OS page cache; returns the
  // bytes of that range. posix_fadvise skips a page that is dirty again (rewritten by a later
  // checkpoint) or in use; b-tree pages rewritten after their range was dropped stay cached.
  // It also skips a large folio (the page cache keeps a file's pages in folios of up to 2 MiB)
  // that reaches outside the range, so the ranges start and end on 2 MiB boundaries: with ends
  // anywhere, the folio across each end stayed cached for good (one more per pass).
  std::uint64_t drop_cached_pages() {
    constexpr std::uint64_t kAlign = std::uint64_t{2} << 20;
    struct stat st {};
    if (cache_window_ == 0 || !file_ || ::fstat(file_->fd(), &st) != 0) return 0;
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < dropped_to_) dropped_to_ = 0;  // the file shrank (VACUUM): start over
    if (size <= cache_window_) return 0;
    const std::uint64_t end = (size - cache_window_) / kAlign * kAlign;
    if (end <= dropped_to_) return 0;
    const std::uint64_t length = end - dropped_to_;
    if (::posix_fadvise(file_->fd(), static_cast<off_t>(dropped_to_), static_cast<off_t>(length),
                        POSIX_FADV_DONTNEED) != 0) {
      return 0;
    }
    dropped_to_ = end;
    return length;
  }

  sqlite3* db_;
  std::shared_ptr<FileHandle> file_;
  std::uint64_t cache_window_;
  std::uint64_t dropped_to_ = 0;  // the file's pages before this offset were dropped
  std::mutex mutex_;
  std::condition_variable wake_;
  bool wanted_ = false;
  bool stop_ = false;
  mutable std::mutex stats_mutex_;  // guards stats_ (never held together with mutex_)
  WalCheckpoints stats_{.on = true};
  std::thread thread_;  // last: starts after the members above exist
};

class SqliteDriver final : public Driver {
 public:
  explicit SqliteDriver(sqlite3* db) : db_(db) {}

  // After each commit SQLite reports the pages in the WAL (on_commit, which replaces SQLite's
  // automatic checkpoint): the checkpointer is asked to copy them back every `background_pages`
  // more; from `inline_pages` on (or from `background_pages` on without a checkpointer) this
  // connection checkpoints itself, so the WAL stays bounded. background_pages > 0 (without the
  // call, SQLite's own automatic checkpoint).
  // Every connection of the file holds its FileHandle (see there), the checkpointer's included.
  void hold(std::shared_ptr<FileHandle> file) { file_ = std::move(file); }

  void checkpoint_in_background(std::shared_ptr<Checkpointer> checkpointer,
                                std::uint32_t background_pages, std::uint32_t inline_pages) {
    checkpointer_ = std::move(checkpointer);
    background_pages_ = static_cast<int>(background_pages);
    inline_pages_ = static_cast<int>(std::max(inline_pages, background_pages));
    sqlite3_wal_hook(db_, &SqliteDriver::on_commit, this);
  }

  // Waits for a lock another connection holds in short steps, up to `timeout`. SQLite's own
  // busy timeout sleeps up to 100 ms at a time: behind a writer that commits every few
  // milliseconds (the journal), another connection (a delivery worker) idled long after the lock
  // was free.
  void set_busy_timeout(std::chrono::milliseconds timeout) {
    busy_timeout_us_ = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    sqlite3_busy_handler(db_, &SqliteDriver::busy_wait, this);
  }
  WalCheckpoints wal_checkpoints() const override {
    return checkpointer_ ? checkpointer_->stats() : WalCheckpoints{};
  }
  ~SqliteDriver() override {
    for (auto& [sql, statement] : statements_) sqlite3_finalize(statement.stmt);
    sqlite3_close_v2(db_);
  }
  SqliteDriver(const SqliteDriver&) = delete;
  SqliteDriver& operator=(const SqliteDriver&) = delete;

  Dialect dialect() const override { return Dialect::sqlite; }

  Result<Rows> query(std::string_view sql, std::span<const Param> params) override {
    auto prepared = prepare(sql);
    if (!prepared.ok()) return prepared.take_error();
    sqlite3_stmt* s = (*prepared)->stmt;
    const std::vector<int>& indexes = (*prepared)->index;
    for (std::size_t i = 0; i < params.size() && i < indexes.size(); ++i) {
      const int index = indexes[i];
      if (index == 0) continue;  // this statement does not use it
      const Param& p = params[i];
      int rc = SQLITE_OK;
      // nullptr destructor = SQLITE_STATIC: the views outlive the step below.
      switch (p.kind) {
        case Param::Kind::null:
          rc = sqlite3_bind_null(s, index);
          break;
        case Param::Kind::integer:
          rc = sqlite3_bind_int64(s, index, p.integer);
          break;
        case Param::Kind::text:
          // An empty view may have a null pointer, which SQLite would bind as NULL.
          rc = sqlite3_bind_text64(s, index, p.bytes.empty() ? "" : p.bytes.data(), p.bytes.size(),
                                   nullptr, SQLITE_UTF8);
          break;
        case Param::Kind::blob:
          // A zero-length blob with a null pointer would bind NULL; give it a valid pointer.
          rc = sqlite3_bind_blob64(s, index, p.bytes.empty() ? "" : p.bytes.data(), p.bytes.size(),
                                   nullptr);
          break;
      }
      if (rc != SQLITE_OK) return fail(rc, s);
    }
    Rows rows;
    const int columns = sqlite3_column_count(s);
    for (;;) {
      const int rc = sqlite3_step(s);
      if (rc == SQLITE_DONE) break;
      if (rc != SQLITE_ROW) return fail(rc, s);
      Row row;
      row.reserve(static_cast<std::size_t>(columns));
      for (int c = 0; c < columns; ++c) {
        const int type = sqlite3_column_type(s, c);
        if (type == SQLITE_NULL) {
          row.emplace_back(std::nullopt);
        } else if (type == SQLITE_BLOB) {
          const void* data = sqlite3_column_blob(s, c);
          const int size = sqlite3_column_bytes(s, c);
          row.emplace_back(std::string(static_cast<const char*>(data), static_cast<size_t>(size)));
        } else {
          const unsigned char* data = sqlite3_column_text(s, c);
          const int size = sqlite3_column_bytes(s, c);
          row.emplace_back(
              std::string(reinterpret_cast<const char*>(data), static_cast<size_t>(size)));
        }
      }
      rows.push_back(std::move(row));
    }
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return rows;
  }

  Status script(std::string_view sql) override { return exec(std::string(sql)); }
  Status begin() override { return exec("BEGIN IMMEDIATE"); }
  Status commit() override { return exec("COMMIT"); }
  void rollback() override {
    if (!sqlite3_get_autocommit(db_)) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

  Status exec(const std::string& sql) {
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) return error(rc);
    return {};
  }

  Error error(int rc) const {
    const int primary = rc & 0xFF;
    const auto code = primary == SQLITE_BUSY || primary == SQLITE_LOCKED ? StoreErrc::busy
                                                                         : StoreErrc::query_failed;
    return Error(code, "sqlite", sqlite3_errmsg(db_));
  }

 private:
  // Prepared once per SQL text (SQLITE_PREPARE_PERSISTENT), then reset and reused.
  Result<const Statement*> prepare(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return &it->second;
    Statement statement;
    const int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &statement.stmt, nullptr);
    if (rc != SQLITE_OK) return error(rc);
    const int count = sqlite3_bind_parameter_count(statement.stmt);
    for (int k = 1; k <= count; ++k) {
      const char* name = sqlite3_bind_parameter_name(statement.stmt, k);
      if (name == nullptr || name[0] != '$') continue;
      const std::string_view digits(name + 1);
      std::size_t n = 0;
      const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
      if (ec != std::errc() || end != digits.data() + digits.size() || n == 0) continue;
      if (statement.index.size() < n) statement.index.resize(n, 0);
      statement.index[n - 1] = k;
    }
    return &statements_.emplace(std::string(sql), std::move(statement)).first->second;
  }

  Error fail(int rc, sqlite3_stmt* s) {
    Error e = error(rc);
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    return e;
  }

  static int busy_wait(void* self, int attempts) {
    // 50 us steps for the first 10 ms, then 1 ms steps.
    constexpr int kShort = 200;
    const std::int64_t waited_us =
        attempts < kShort ? attempts * 50LL : kShort * 50LL + (attempts - kShort) * 1000LL;
    if (waited_us >= static_cast<SqliteDriver*>(self)->busy_timeout_us_) return 0;
    std::this_thread::sleep_for(attempts < kShort ? std::chrono::microseconds(50)
                                                  : std::chrono::microseconds(1000));
    return 1;
  }

  // Every `background_pages` more pages in the WAL, one background checkpoint (each ends with an
  // fsync of the database file: one per commit would cost more than it saves). While commits keep
  // coming the background pass rarely ends with the whole WAL copied, which the WAL needs to
  // start over from its beginning; the inline checkpoint at `inline_pages` does that. So that it
  // has only the last few commits' pages to copy, the background passes run back to back over the
  // last `background_pages` before the limit: asked after every commit there, each pass starts
  // as soon as the one before ends. (With one pass per 256 pages, the inline checkpoint copied up
  // to 4 MiB and fsync'd it inside a journal commit: 2.8-7.8 ms on average, up to 18 ms, four
  // times a second at 12,500 msgs/s; with the passes back to back, 0.45-1.55 ms on average,
  // docs/benchmarks.md.)
  static int on_commit(void* self, sqlite3* db, const char* name, int pages) {
    auto* d = static_cast<SqliteDriver*>(self);
    if (pages < d->requested_at_) d->requested_at_ = 0;  // the WAL started over
    if (d->checkpointer_) d->checkpointer_->set_wal_pages(pages);
    if (pages >= d->inline_pages_ || (pages >= d->background_pages_ && !d->checkpointer_)) {
      const auto started = std::chrono::steady_clock::now();
      const int rc =
          sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, nullptr, nullptr);
      if (d->checkpointer_ && rc == SQLITE_OK) {
        d->checkpointer_->count_inline(micros_since(started));
      }
    } else if (d->checkpointer_ && (pages - d->requested_at_ >= d->background_pages_ ||
                                    pages >= d->inline_pages_ - d->background_pages_)) {
      d->requested_at_ = pages;
      d->checkpointer_->request();
    }
    return SQLITE_OK;
  }

  sqlite3* db_;
  std::int64_t busy_timeout_us_ = 5'000'000;
  std::unordered_map<std::string, Statement, SqlHash, std::equal_to<>> statements_;
  std::shared_ptr<FileHandle> file_;
  std::shared_ptr<Checkpointer> checkpointer_;
  int background_pages_ = 0;
  int inline_pages_ = 0;
  int requested_at_ = 0;  // the WAL's pages at the last background request
};

}  // namespace

Result<std::unique_ptr<Driver>> open_sqlite_driver(std::string_view path,
                                                   const OpenOptions& options) {
  if (path.empty()) return Error(StoreErrc::bad_url, "store", "sqlite: needs a file path");
  const std::filesystem::path file{std::string(path)};
  if (file.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(file.parent_path(), ec);
    if (ec) {
      return Error(StoreErrc::cannot_open, file.parent_path().string(),
                   "cannot create folder: " + ec.message());
    }
  }
  // Once per process, before SQLite initializes: no allocation statistics, whose global mutex
  // every sqlite3_malloc/free would take (a canonical write allocates per statement). Fails
  // harmlessly when something initialized SQLite already.
  static const bool configured = [] {
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    return true;
  }();
  (void)configured;
  sqlite3* db = nullptr;
  const int rc = sqlite3_open_v2(
      file.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string detail = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    sqlite3_close_v2(db);
    return Error(StoreErrc::cannot_open, file.string(), "cannot open database: " + detail);
  }
  auto driver = std::make_unique<SqliteDriver>(db);
  driver->set_busy_timeout(options.busy_timeout);
  // 16 KiB pages for a new database (an existing one keeps its own; WAL mode fixes it): a
  // journal row of a few KiB fits in one page, and a group commit writes a quarter as many WAL
  // frames (one syscall each) as with 4 KiB. Appending 2 KB messages ran about 1.4x faster.
  if (auto s = driver->exec("PRAGMA page_size=16384"); !s.ok()) {
    return Error(StoreErrc::cannot_open, file.string(), s.error().message());
  }
  // WAL: readers never block the writer; FULL: every commit fsyncs the WAL (DESIGN 5.1).
  auto mode = driver->query("PRAGMA journal_mode=WAL", {});
  if (!mode.ok()) {
    return Error(StoreErrc::cannot_open, file.string(), mode.error().message());
  }
  if (mode->empty() || !(*mode)[0][0] || *(*mode)[0][0] != "wal") {
    return Error(StoreErrc::cannot_open, file.string(), "cannot switch the database to WAL mode");
  }
  // temp_store: sorts and temporary b-trees in memory, not a temp file created per commit.
  // cache_size: 16 MiB of pages per connection (default 2 MiB), so the index pages a group
  // commit touches stay in memory instead of being read back (pread) commit after commit.
  for (const char* pragma : {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                             "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-16384"}) {
    if (auto s = driver->exec(pragma); !s.ok()) {
      return Error(StoreErrc::cannot_open, file.string(), s.error().message());
    }
  }
  // After the switch to WAL (the checkpointer's connection opens a WAL database).
  std::shared_ptr<FileHandle> handle = FileHandle::of(file);
  driver->hold(handle);
  if (options.wal_checkpoint_pages > 0) {
    driver->checkpoint_in_background(
        Checkpointer::of(file, std::move(handle), options.page_cache_window_bytes),
        options.wal_checkpoint_pages, options.wal_limit_pages);
  }
  return std::unique_ptr<Driver>(std::move(driver));
}

}  // namespace hims::store
