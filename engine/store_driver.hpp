// Internal to the store: the backend connection a Store runs its SQL on (SQLite or libpqxx), and
// the migrations per dialect. SQL uses $1..$n placeholders in both dialects. One thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "engine/store.hpp"

namespace hims::store {

enum class Dialect : std::uint8_t { sqlite, postgres };

// A statement parameter; text and blob views must stay valid for the call.
struct Param {
  enum class Kind : std::uint8_t { null, integer, text, blob };
  Kind kind = Kind::null;
  std::int64_t integer = 0;
  std::string_view bytes;

  static Param null() { return {}; }
  static Param of(std::int64_t v) { return {Kind::integer, v, {}}; }
  static Param text(std::string_view v) { return {Kind::text, 0, v}; }
  static Param blob(std::string_view v) { return {Kind::blob, 0, v}; }
};

// Hash of the drivers' statement caches (keyed by SQL text): looked up with a string_view, so a
// query copies no key.
struct SqlHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view sql) const noexcept {
    return std::hash<std::string_view>{}(sql);
  }
};

// A result cell: NULL or its bytes (integers as decimal text, blobs as raw bytes).
using Cell = std::optional<std::string>;
using Row = std::vector<Cell>;
using Rows = std::vector<Row>;

class Driver {
 public:
  virtual ~Driver() = default;
  virtual Dialect dialect() const = 0;
  // One statement; returns its rows (RETURNING rows for INSERT/UPDATE). PostgreSQL prepares it
  // once per connection and may keep one generic plan for it from its sixth run on.
  virtual Result<Rows> query(std::string_view sql, std::span<const Param> params) = 0;
  // The same, planned for these parameters and the tables as they are at each run: for statements
  // whose right plan depends on the tables' sizes (an id list looked up among a large backlog).
  // PostgreSQL keeps a generic plan chosen when the tables were still small, and on a new
  // database, before any ANALYZE, such a plan can read a whole index for a few ids. SQLite's plans
  // do not change with table sizes (no ANALYZE here), so it runs `query`.
  virtual Result<Rows> query_unprepared(std::string_view sql, std::span<const Param> params) {
    return query(sql, params);
  }
  // Several statements without parameters (migrations).
  virtual Status script(std::string_view sql) = 0;
  virtual Status begin() = 0;  // SQLite: BEGIN IMMEDIATE (take the write lock up front)
  virtual Status commit() = 0;
  virtual void rollback() = 0;  // best effort; never fails the caller
  // SQLite: the checkpoints of the connection's database file (Store::wal_checkpoints).
  virtual WalCheckpoints wal_checkpoints() const { return {}; }
};

Result<std::unique_ptr<Driver>> open_sqlite_driver(std::string_view path,
                                                   const OpenOptions& options);
Result<std::unique_ptr<Driver>> open_postgres_driver(std::string_view url,
                                                     const OpenOptions& options);

struct MigrationStep {
  int version;
  std::string_view name;
  std::string_view sql;  // portable text with {{id}} and {{bytes}} placeholders (may be empty)
  // Dialect-only statements, run after the portable text (placeholders replaced there too).
  std::string_view sqlite_sql{};
  std::string_view postgres_sql{};
  // SQLite: the step rebuilds tables others reference, so it runs with foreign keys off (they
  // cannot change inside a transaction) and PRAGMA foreign_key_check must find nothing before it
  // commits.
  bool sqlite_rebuilds_tables = false;
};
std::span<const MigrationStep> migration_steps();
// The step's SQL for one dialect (portable text, then that dialect's own), placeholders replaced.
std::string migration_sql(const MigrationStep& step, Dialect dialect);
// The duplicate look-up's SQL for `rows` queries (a power of two up to 64), as Store runs it: for
// tests of its query plan.
const std::string& duplicates_select_sql(std::size_t rows);

// The schema_migrations table itself (CREATE TABLE IF NOT EXISTS), per dialect.
std::string_view migrations_table_sql(Dialect dialect);

}  // namespace hims::store
