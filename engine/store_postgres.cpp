// The PostgreSQL driver (libpqxx 6.4): one connection, synchronous_commit=on (a commit returns
// after the WAL is flushed), server notices swallowed (library code never prints), every SQL text
// prepared once per connection, bytea parameters sent in binary, the connection opened again at the
// next transaction after the server closed it. libpqxx exceptions stop here and
// become Errors carrying the first line of the server's message.
#include <pqxx/pqxx>

#include <functional>
#include <optional>
#include <string>
#include <unordered_map>
#include <utility>

#include "engine/store_driver.hpp"

namespace hims::store {
namespace {

constexpr pqxx::oid kByteaOid = 17;

// The first line of a libpq/libpqxx message: the rest (DETAIL with key values, the query) may
// carry message content, which must not reach logs. The first line names relations and
// constraints as `relation "x"`, but quotes a value after a colon (`invalid input syntax for type
// integer: "..."`, `date/time field value out of range: "..."`): that is left out too.
std::string first_line(const char* what) {
  std::string text(what);
  const auto end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
  if (const auto value = text.find(": \""); value != std::string::npos) {
    text.resize(value);
    text.append(" (value left out)");
  }
  return text;
}

class NoticeSink final : public pqxx::errorhandler {
 public:
  using pqxx::errorhandler::errorhandler;
  bool operator()(const char*) noexcept override { return false; }
};

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return 0;
}

// bytea's text form is "\x" followed by hex pairs (bytea_output = hex, the default).
std::string decode_bytea(const char* data, std::size_t size) {
  std::string out;
  if (size < 2 || data[0] != '\\' || data[1] != 'x') return std::string(data, size);
  out.reserve((size - 2) / 2);
  for (std::size_t i = 2; i + 1 < size; i += 2) {
    out.push_back(static_cast<char>(hex_value(data[i]) * 16 + hex_value(data[i + 1])));
  }
  return out;
}

// A connection with the session settings every store connection needs.
Result<std::unique_ptr<pqxx::connection>> connect(const std::string& url) {
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(url);
  } catch (const std::exception& e) {
    return Error(StoreErrc::cannot_open, "postgresql",
                 "cannot connect to the server: " + first_line(e.what()));
  }
  try {
    pqxx::nontransaction setup(*conn);
    // DESIGN 5.1: a commit returns only after its WAL record is flushed to disk.
    setup.exec("SET synchronous_commit = on");
    setup.exec("SET client_min_messages = warning");
  } catch (const std::exception& e) {
    return Error(StoreErrc::cannot_open, "postgresql", first_line(e.what()));
  }
  return conn;
}

class PostgresDriver final : public Driver {
 public:
  PostgresDriver(std::unique_ptr<pqxx::connection> conn, std::string url)
      : conn_(std::move(conn)),
        notices_(std::make_unique<NoticeSink>(*conn_)),
        url_(std::move(url)) {}
  ~PostgresDriver() override { rollback(); }
  PostgresDriver(const PostgresDriver&) = delete;
  PostgresDriver& operator=(const PostgresDriver&) = delete;

  Dialect dialect() const override { return Dialect::postgres; }

  Result<Rows> query(std::string_view sql, std::span<const Param> params) override {
    return run(sql, params, true);
  }

  Result<Rows> query_unprepared(std::string_view sql, std::span<const Param> params) override {
    return run(sql, params, false);
  }

  Status script(std::string_view sql) override {
    if (!work_) return Error(StoreErrc::query_failed, "postgresql", "no open transaction");
    try {
      work_->exec(std::string(sql));
      return {};
    } catch (const std::exception& e) {
      return Error(StoreErrc::query_failed, "postgresql", first_line(e.what()));
    }
  }

  Status begin() override {
    // A connection the server closed (restart, failover, network cut) is opened again here, at
    // the start of a transaction, so nothing half done is retried; the caller's batch that hit
    // the loss has failed already (and was not acknowledged).
    if (broken_ || !conn_->is_open()) {
      if (Status s = reconnect(); !s.ok()) return s;
    }
    try {
      work_.emplace(*conn_);
      return {};
    } catch (const pqxx::broken_connection& e) {
      work_.reset();
      broken_ = true;
      return Error(StoreErrc::cannot_open, "postgresql",
                   "connection lost: " + first_line(e.what()));
    } catch (const std::exception& e) {
      work_.reset();
      return Error(StoreErrc::query_failed, "postgresql", first_line(e.what()));
    }
  }

  Status commit() override {
    if (!work_) return Error(StoreErrc::query_failed, "postgresql", "no open transaction");
    try {
      work_->commit();
      work_.reset();
      return {};
    } catch (const std::exception& e) {
      work_.reset();
      if (!conn_->is_open()) broken_ = true;
      return Error(StoreErrc::query_failed, "postgresql", "commit failed: " + first_line(e.what()));
    }
  }

  void rollback() override {
    if (!work_) return;
    try {
      work_->abort();
    } catch (...) {  // NOLINT(bugprone-empty-catch): best effort; the connection may be gone
    }
    work_.reset();
  }

 private:
  Result<Rows> run(std::string_view sql, std::span<const Param> params, bool prepared) {
    if (!work_) return Error(StoreErrc::query_failed, "postgresql", "no open transaction");
    // libpqxx 6.4 sends a parameter in binary only when it is a binarystring, and a dynamic
    // parameter list has one element type, so the list is built directly in the form libpqxx
    // hands to PQexecPrepared (pqxx::internal::params, moved in as the one argument): text and
    // integers in text format, NULL as a null pointer, blobs as binary bytea (no hex encoding).
    pqxx::internal::params args;
    args.lengths.reserve(params.size());
    args.nonnulls.reserve(params.size());
    args.binaries.reserve(params.size());
    for (const Param& p : params) {
      switch (p.kind) {
        case Param::Kind::null:
          args.lengths.push_back(0);
          args.nonnulls.push_back(0);
          args.binaries.push_back(0);
          continue;
        case Param::Kind::integer:
          args.strings.push_back(std::to_string(p.integer));
          break;
        case Param::Kind::text:
          args.strings.emplace_back(p.bytes);
          break;
        case Param::Kind::blob:
          args.lengths.push_back(static_cast<int>(p.bytes.size()));
          args.nonnulls.push_back(1);
          args.binaries.push_back(1);
          args.bin_strings.emplace_back(p.bytes.data(), p.bytes.size());
          continue;
      }
      args.lengths.push_back(static_cast<int>(args.strings.back().size()));
      args.nonnulls.push_back(1);
      args.binaries.push_back(0);
    }
    try {
      // Unprepared: an unnamed statement (PQexecParams), parsed and planned at each run.
      const pqxx::result result = prepared
                                      ? work_->exec_prepared(statement_name(sql), std::move(args))
                                      : work_->exec_params(std::string(sql), std::move(args));
      Rows rows;
      rows.reserve(result.size());
      for (const auto& r : result) {
        Row row;
        row.reserve(r.size());
        for (const auto& field : r) {
          if (field.is_null()) {
            row.emplace_back(std::nullopt);
          } else if (field.type() == kByteaOid) {
            row.emplace_back(decode_bytea(field.c_str(), field.size()));
          } else {
            row.emplace_back(std::string(field.c_str(), field.size()));
          }
        }
        rows.push_back(std::move(row));
      }
      return rows;
    } catch (const pqxx::broken_connection& e) {
      broken_ = true;
      return Error(StoreErrc::cannot_open, "postgresql",
                   "connection lost: " + first_line(e.what()));
    } catch (const pqxx::transaction_rollback& e) {
      // Deadlock, serialization failure: the server gave up this transaction; a retry may pass.
      return Error(StoreErrc::busy, "postgresql", first_line(e.what()));
    } catch (const pqxx::sql_error& e) {
      // 55P03 lock_not_available (lock_timeout, NOWAIT), 40xxx transaction rollbacks that
      // libpqxx does not map to transaction_rollback: busy, like SQLite's locked database.
      const std::string& state = e.sqlstate();
      const bool busy = state == "55P03" || state.rfind("40", 0) == 0;
      return Error(busy ? StoreErrc::busy : StoreErrc::query_failed, "postgresql",
                   first_line(e.what()));
    } catch (const std::exception& e) {
      return Error(StoreErrc::query_failed, "postgresql", first_line(e.what()));
    }
  }

  Status reconnect() {
    work_.reset();
    auto fresh = connect(url_);
    if (!fresh.ok()) return fresh.take_error();
    notices_.reset();  // registered with the old connection: goes before it
    conn_ = std::move(*fresh);
    notices_ = std::make_unique<NoticeSink>(*conn_);
    statements_.clear();  // prepared statements belong to a connection
    broken_ = false;
    return {};
  }

  // The prepared statement for this SQL text, registered with the connection on first use.
  const std::string& statement_name(std::string_view sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    std::string name = "hims_" + std::to_string(statements_.size() + 1);
    conn_->prepare(name, std::string(sql));
    return statements_.emplace(std::string(sql), std::move(name)).first->second;
  }

  std::unique_ptr<pqxx::connection> conn_;
  std::unique_ptr<NoticeSink> notices_;
  std::string url_;
  bool broken_ = false;  // the last statement found the connection lost
  std::unordered_map<std::string, std::string, SqlHash, std::equal_to<>> statements_;
  std::optional<pqxx::work> work_;
};

}  // namespace

Result<std::unique_ptr<Driver>> open_postgres_driver(std::string_view url, const OpenOptions&) {
  auto conn = connect(std::string(url));
  if (!conn.ok()) return conn.take_error();
  return std::unique_ptr<Driver>(
      std::make_unique<PostgresDriver>(std::move(*conn), std::string(url)));
}

}  // namespace hims::store
