// The canonical write on SQLite without the rest of the engine: how many ORU^R01 messages per
// second their mapped rows can be committed at, by the engine's canonical writer and by the least
// work SQLite itself can do for the same rows. Every message of the corpus is parsed and mapped
// (the shipped mappings/hl7v2/oru-r01.yaml) before the clock starts; then, into a new store made
// by the engine's migrations, with the engine's SQLite settings (WAL, synchronous=FULL, foreign
// keys on, 16 MiB cache), --per-tx messages per transaction:
//
//   writer  CanonicalWriter::write() per message, each under its savepoint (as the processor does)
//   floor   the same rows and one domain event per row through plain prepared statements: one
//           multi-row INSERT per run of rows of one table and shape, one multi-row INSERT of the
//           events, no savepoint, no look-up (a row whose natural key an earlier message wrote
//           already is skipped and referred to by the id remembered for it, as if looked up for
//           free). No writer can do less for these rows and this schema.
//
//   canonical_write_bench [--file corpus.txt] [--messages 5000] [--per-tx 32] [--mode both]
//                         [--mapping mappings/hl7v2/oru-r01.yaml] [--dir /tmp]
// Prints one JSON line per mode: messages/s, rows/s and CPU microseconds per message.
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/sqlite_bench.hpp"
#include "engine/canonical_writer.hpp"
#include "engine/mapping.hpp"
#include "engine/store.hpp"
#include "hl7v2/message.hpp"

namespace {

using hims::engine::MappedMessage;
using hims::engine::MappedValue;

constexpr const char* kProgram = "canonical_write_bench";

[[noreturn]] void die(const std::string& why) { hims::bench::die(kProgram, why); }

struct Timing {
  double wall = 0;
  double cpu = 0;
};

template <class Body>
Timing timed(Body&& body) {
  const double cpu0 = hims::bench::cpu_seconds();
  const auto t0 = std::chrono::steady_clock::now();
  body();
  Timing t;
  t.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  t.cpu = hims::bench::cpu_seconds() - cpu0;
  return t;
}

void report(const char* mode, std::size_t messages, std::size_t rows, std::size_t per_tx,
            const Timing& t) {
  std::printf(
      "{\"bench\":\"canonical_write\",\"mode\":\"%s\",\"messages\":%zu,\"per_tx\":%zu,"
      "\"rows\":%zu,\"seconds\":%.3f,\"msgs_per_s\":%.0f,\"rows_per_s\":%.0f,"
      "\"cpu_us_per_msg\":%.1f}\n",
      mode, messages, per_tx, rows, t.wall, static_cast<double>(messages) / t.wall,
      static_cast<double>(rows) / t.wall, t.cpu * 1e6 / static_cast<double>(messages));
  std::fflush(stdout);
}

void run_writer(const std::vector<MappedMessage>& messages, std::size_t per_tx,
                const std::filesystem::path& dir) {
  const std::string file = hims::bench::new_store(kProgram, dir, "canonical_write_writer.db");
  auto store = hims::store::open_store("sqlite:" + file);
  if (!store.ok()) die(store.error().message());
  auto writer = hims::engine::CanonicalWriter::open(**store);
  if (!writer.ok()) die(writer.error().message());
  std::size_t rows = 0;
  const Timing t = timed([&] {
    for (std::size_t at = 0; at < messages.size(); at += per_tx) {
      const std::size_t end = std::min(messages.size(), at + per_tx);
      auto s = (*store)->transact([&]() -> hims::Status {
        for (std::size_t m = at; m < end; ++m) {
          auto written = writer->write(**store, messages[m], static_cast<std::int64_t>(m + 1),
                                       std::chrono::system_clock::now());
          if (!written.ok()) return written.take_error();
          rows += written->created + written->updated + written->events;
        }
        return {};
      });
      if (!s.ok()) die(s.error().message());
    }
  });
  report("writer", messages.size(), rows, per_tx, t);
}

// The floor: plain prepared statements through the SQLite C API.
class Floor {
 public:
  explicit Floor(const std::string& file)
      : db_(hims::bench::open_like_the_engine(kProgram, file)) {}
  ~Floor() {
    for (auto& [sql, stmt] : statements_) sqlite3_finalize(stmt);
    sqlite3_close(db_);
  }
  Floor(const Floor&) = delete;
  Floor& operator=(const Floor&) = delete;

  void exec(const char* sql) {
    if (sqlite3_exec(db_, sql, nullptr, nullptr, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db_));
  }

  // Writes one message's rows and events; returns how many rows and events it wrote.
  std::size_t write(const MappedMessage& message, std::int64_t journal_id) {
    const std::size_t n = message.rows.size();
    ids_.assign(n, {});
    std::vector<bool> fresh(n, false);
    for (std::size_t i = 0; i < n; ++i) {
      const auto& r = message.rows[i];
      std::string key(r.table);
      for (const std::string& k : r.key) {
        const MappedValue* v = r.find(k);
        key.append("|").append(v == nullptr ? "" : value_text(*v));
      }
      auto [it, inserted] = known_.try_emplace(std::move(key), std::string());
      if (inserted) {
        it->second = next_id();
        fresh[i] = true;
      }
      ids_[i] = it->second;
    }
    std::size_t written = 0;
    for (std::size_t i = 0; i < n;) {
      if (!fresh[i]) {
        ++i;
        continue;
      }
      std::size_t end = i + 1;
      while (end < n && fresh[end] && same_shape(message.rows[i], message.rows[end])) ++end;
      insert_rows(message, i, end, journal_id);
      written += end - i;
      i = end;
    }
    insert_events(message, fresh, journal_id);
    return written * 2;  // each row and its event
  }

 private:
  static bool same_shape(const hims::engine::MappedRow& a, const hims::engine::MappedRow& b) {
    if (a.table != b.table || a.columns.size() != b.columns.size()) return false;
    for (std::size_t c = 0; c < a.columns.size(); ++c) {
      if (a.columns[c].first != b.columns[c].first) return false;
    }
    return true;
  }

  std::string value_text(const MappedValue& v) const {
    switch (v.kind) {
      case MappedValue::Kind::integer:
      case MappedValue::Kind::boolean:
        return std::to_string(v.integer);
      case MappedValue::Kind::ref:
        return ids_[static_cast<std::size_t>(v.integer)];
      default:
        return v.text;
    }
  }

  std::string next_id() {
    ++counter_;
    char buf[64];  // 36 used: the masks keep every field to its width
    std::snprintf(buf, sizeof buf, "%08llx-%04llx-7%03llx-8000-%012llx",
                  static_cast<unsigned long long>((base_ >> 16) & 0xFFFFFFFFull),
                  static_cast<unsigned long long>(base_ & 0xFFFF),
                  static_cast<unsigned long long>((counter_ >> 48) & 0xFFF),
                  static_cast<unsigned long long>(counter_ & 0xFFFFFFFFFFFFull));
    return buf;
  }

  sqlite3_stmt* statement(const std::string& sql) {
    auto it = statements_.find(sql);
    if (it != statements_.end()) return it->second;
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &stmt, nullptr) != SQLITE_OK) {
      die(std::string(sqlite3_errmsg(db_)) + ": " + sql.substr(0, 200));
    }
    statements_.emplace(sql, stmt);
    return stmt;
  }

  void bind(sqlite3_stmt* stmt, int index, const MappedValue& v) {
    switch (v.kind) {
      case MappedValue::Kind::null:
        sqlite3_bind_null(stmt, index);
        break;
      case MappedValue::Kind::integer:
      case MappedValue::Kind::boolean:
        sqlite3_bind_int64(stmt, index, v.integer);
        break;
      case MappedValue::Kind::ref: {
        const std::string& id = ids_[static_cast<std::size_t>(v.integer)];
        sqlite3_bind_text(stmt, index, id.data(), static_cast<int>(id.size()), SQLITE_STATIC);
        break;
      }
      default:
        sqlite3_bind_text(stmt, index, v.text.data(), static_cast<int>(v.text.size()),
                          SQLITE_STATIC);
    }
  }

  void step(sqlite3_stmt* stmt) {
    if (sqlite3_step(stmt) != SQLITE_DONE) die(sqlite3_errmsg(db_));
    sqlite3_reset(stmt);
  }

  void insert_rows(const MappedMessage& message, std::size_t begin, std::size_t end,
                   std::int64_t journal_id) {
    const auto& first = message.rows[begin];
    std::string sql = "INSERT INTO \"" + std::string(first.table) + "\" (\"id\"";
    for (const auto& [name, v] : first.columns) sql.append(", \"").append(name).append("\"");
    sql.append(", \"source_message_id\") VALUES ");
    const std::size_t width = first.columns.size() + 2;
    for (std::size_t r = begin; r < end; ++r) {
      sql.append(r == begin ? "(" : ", (");
      for (std::size_t c = 0; c < width; ++c) sql.append(c == 0 ? "?" : ", ?");
      sql.push_back(')');
    }
    sqlite3_stmt* stmt = statement(sql);
    int index = 1;
    for (std::size_t r = begin; r < end; ++r) {
      sqlite3_bind_text(stmt, index++, ids_[r].data(), static_cast<int>(ids_[r].size()),
                        SQLITE_STATIC);
      for (const auto& [name, v] : message.rows[r].columns) bind(stmt, index++, v);
      sqlite3_bind_int64(stmt, index++, journal_id);
    }
    step(stmt);
  }

  void insert_events(const MappedMessage& message, const std::vector<bool>& fresh,
                     std::int64_t journal_id) {
    std::size_t count = 0;
    for (bool f : fresh) count += f ? 1 : 0;
    if (count == 0) return;
    std::string sql =
        "INSERT INTO domain_events (id, event_type, entity_type, entity_id, correlation_id, "
        "causation_id, payload, occurred_at) VALUES ";
    for (std::size_t k = 0; k < count; ++k) {
      sql.append(k == 0 ? "" : ", ").append("(?, 'created', ?, ?, ?, NULL, ?, ?)");
    }
    sqlite3_stmt* stmt = statement(sql);
    event_ids_.clear();
    payloads_.clear();
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (!fresh[i]) continue;
      event_ids_.push_back(next_id());
      const auto& r = message.rows[i];
      payloads_.push_back("{\"mapping\":\"" + std::string(message.mapping) + "\",\"as\":\"" +
                          std::string(r.as) + "\",\"rule\":\"" + std::string(r.rule) + "\"}");
    }
    const std::string at = hims::engine::utc_timestamp_text(
        std::chrono::floor<std::chrono::microseconds>(std::chrono::system_clock::now()), true);
    int index = 1;
    std::size_t k = 0;
    for (std::size_t i = 0; i < fresh.size(); ++i) {
      if (!fresh[i]) continue;
      const auto& r = message.rows[i];
      sqlite3_bind_text(stmt, index++, event_ids_[k].data(), static_cast<int>(event_ids_[k].size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(stmt, index++, r.table.data(), static_cast<int>(r.table.size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(stmt, index++, ids_[i].data(), static_cast<int>(ids_[i].size()),
                        SQLITE_STATIC);
      sqlite3_bind_int64(stmt, index++, journal_id);
      sqlite3_bind_text(stmt, index++, payloads_[k].data(), static_cast<int>(payloads_[k].size()),
                        SQLITE_STATIC);
      sqlite3_bind_text(stmt, index++, at.data(), static_cast<int>(at.size()), SQLITE_TRANSIENT);
      ++k;
    }
    step(stmt);
  }

  sqlite3* db_ = nullptr;
  std::map<std::string, sqlite3_stmt*> statements_;
  std::unordered_map<std::string, std::string> known_;  // table|key values -> id
  std::vector<std::string> ids_;                        // per row of the message being written
  std::vector<std::string> event_ids_;
  std::vector<std::string> payloads_;
  unsigned long long base_ =
      static_cast<unsigned long long>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
  unsigned long long counter_ = 0;
};

void run_floor(const std::vector<MappedMessage>& messages, std::size_t per_tx,
               const std::filesystem::path& dir) {
  const std::string file = hims::bench::new_store(kProgram, dir, "canonical_write_floor.db");
  Floor floor(file);
  std::size_t rows = 0;
  const Timing t = timed([&] {
    for (std::size_t at = 0; at < messages.size(); at += per_tx) {
      const std::size_t end = std::min(messages.size(), at + per_tx);
      floor.exec("BEGIN IMMEDIATE");
      for (std::size_t m = at; m < end; ++m) {
        rows += floor.write(messages[m], static_cast<std::int64_t>(m + 1));
      }
      floor.exec("COMMIT");
    }
  });
  report("floor", messages.size(), rows, per_tx, t);
}

}  // namespace

int main(int argc, char** argv) {
  std::string file = HIMS_BENCH_HL7_CORPUS;
  std::string mapping_file = HIMS_SOURCE_DIR "/mappings/hl7v2/oru-r01.yaml";
  std::string mode = "both";
  std::string dir = std::filesystem::temp_directory_path().string();
  std::size_t count = 5000;
  std::size_t per_tx = 32;
  CLI::App app{
      "Commits the canonical rows of mapped ORU^R01 messages to SQLite: the engine's "
      "canonical writer, and the least SQLite work for the same rows (floor)"};
  app.add_option("--file,-f", file, "corpus: one message per line (ORU^R01 lines are used)");
  app.add_option("--mapping", mapping_file, "the mapping file");
  app.add_option("--messages,-n", count, "messages to write")->check(CLI::PositiveNumber);
  app.add_option("--per-tx", per_tx, "messages per transaction")->check(CLI::PositiveNumber);
  app.add_option("--mode", mode, "writer, floor or both")
      ->check(CLI::IsMember({"writer", "floor", "both"}));
  app.add_option("--dir", dir, "folder for the store files (removed and made again)");
  CLI11_PARSE(app, argc, argv);

  auto mapping = hims::engine::load_mapping(mapping_file);
  if (!mapping.ok()) die(mapping.error().message());
  std::ifstream in(file, std::ios::binary);
  if (!in) die("cannot read " + file);
  std::vector<std::string> raw;
  for (std::string line; raw.size() < count && std::getline(in, line);) {
    if (line.find("|ORU^R01") != std::string::npos) raw.push_back(std::move(line));
  }
  if (raw.size() < count) die("the corpus has only " + std::to_string(raw.size()) + " ORU^R01");
  std::vector<MappedMessage> messages;
  messages.reserve(raw.size());
  for (const std::string& bytes : raw) {
    auto view = hims::hl7v2::MessageView::parse(bytes);
    if (!view.ok()) die(view.error().message());
    auto mapped = mapping->apply(*view);
    if (!mapped.ok()) die(mapped.error().message());
    messages.push_back(std::move(*mapped));
  }
  if (mode != "floor") run_writer(messages, per_tx, dir);
  if (mode != "writer") run_floor(messages, per_tx, dir);
  return 0;
}
