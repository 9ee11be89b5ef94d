// The PostgreSQL driver (libpqxx): one connection, synchronous_commit=on (a commit returns after
// the WAL is flushed), server notices swallowed (library code never prints). libpqxx exceptions
// stop here and become Errors carrying the first line of the server's message.
#include <pqxx/pqxx>

#include <optional>
#include <string>

#include "engine/store_driver.hpp"

namespace hims::store {
namespace {

constexpr pqxx::oid kByteaOid = 17;

// The first line of a libpq/libpqxx message: the rest (DETAIL with key values, the query) may
// carry message content, which must not reach logs.
std::string first_line(const char* what) {
  std::string text(what);
  const auto end = text.find('\n');
  if (end != std::string::npos) text.resize(end);
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

std::string encode_bytea(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 + bytes.size() * 2);
  out += "\\x";
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 0xF]);
  }
  return out;
}

class PostgresDriver final : public Driver {
 public:
  explicit PostgresDriver(std::unique_ptr<pqxx::connection> conn)
      : conn_(std::move(conn)), notices_(*conn_) {}
  ~PostgresDriver() override { rollback(); }
  PostgresDriver(const PostgresDriver&) = delete;
  PostgresDriver& operator=(const PostgresDriver&) = delete;

  Dialect dialect() const override { return Dialect::postgres; }

  Result<Rows> query(std::string_view sql, std::span<const Param> params) override {
    if (!work_) return Error(StoreErrc::query_failed, "postgresql", "no open transaction");
    // Text-format parameters: NULL is a null pointer, blobs go as bytea hex.
    std::vector<std::string> storage(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (std::size_t i = 0; i < params.size(); ++i) {
      const Param& p = params[i];
      switch (p.kind) {
        case Param::Kind::null:
          continue;
        case Param::Kind::integer:
          storage[i] = std::to_string(p.integer);
          break;
        case Param::Kind::text:
          storage[i] = std::string(p.bytes);
          break;
        case Param::Kind::blob:
          storage[i] = encode_bytea(p.bytes);
          break;
      }
      values[i] = storage[i].c_str();
    }
    try {
      const pqxx::result result =
          work_->exec_params(std::string(sql), pqxx::prepare::make_dynamic_params(values));
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
      return Error(StoreErrc::cannot_open, "postgresql",
                   "connection lost: " + first_line(e.what()));
    } catch (const std::exception& e) {
      return Error(StoreErrc::query_failed, "postgresql", first_line(e.what()));
    }
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
    try {
      work_.emplace(*conn_);
      return {};
    } catch (const pqxx::broken_connection& e) {
      work_.reset();
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
  std::unique_ptr<pqxx::connection> conn_;
  NoticeSink notices_;
  std::optional<pqxx::work> work_;
};

}  // namespace

Result<std::unique_ptr<Driver>> open_postgres_driver(std::string_view url, const OpenOptions&) {
  std::unique_ptr<pqxx::connection> conn;
  try {
    conn = std::make_unique<pqxx::connection>(std::string(url));
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
  return std::unique_ptr<Driver>(std::make_unique<PostgresDriver>(std::move(conn)));
}

}  // namespace hims::store
