// The floor of durable ingest on SQLite: how many messages per second SQLite itself can journal
// with the engine's schema and settings, without the engine. The corpus messages go into
// `journal` of a new store made by the engine's migrations (WAL, synchronous=FULL, foreign keys
// on, 16 KiB pages, 16 MiB cache) through one prepared multi-row INSERT per transaction (--per-tx
// messages each, journaled `processed` as a routed message is), every commit fsync'd, one
// thread. Like the engine, it writes no history row (the first is written at an entry's first
// change). No MLLP, parsing, hashing, duplicate look-up or ACK: the engine's journal path cannot
// be cheaper than this.
//
//   journal_floor_bench [--file corpus.txt] [--messages 200000] [--per-tx 64] [--dir /tmp]
// Prints one JSON line: messages/s and CPU microseconds per message (user + system).
#include <sqlite3.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/sqlite_bench.hpp"

namespace {

constexpr const char* kProgram = "journal_floor_bench";

[[noreturn]] void die(const std::string& why) { hims::bench::die(kProgram, why); }

}  // namespace

int main(int argc, char** argv) {
  std::string file = HIMS_BENCH_HL7_CORPUS;
  std::string dir = std::filesystem::temp_directory_path().string();
  std::size_t count = 200000;
  std::size_t per_tx = 64;
  CLI::App app{
      "Journals the corpus into SQLite with the engine's schema and settings, without the "
      "engine: the floor of durable ingest"};
  app.add_option("--file,-f", file, "corpus: one message per line");
  app.add_option("--messages,-n", count, "messages to journal (the corpus cycles)")
      ->check(CLI::PositiveNumber);
  app.add_option("--per-tx", per_tx, "messages per transaction (one fsync each)")
      ->check(CLI::Range(1, 64));
  app.add_option("--dir", dir, "folder for the store file (removed and made again)");
  CLI11_PARSE(app, argc, argv);

  std::ifstream in(file, std::ios::binary);
  if (!in) die("cannot read " + file);
  std::vector<std::string> corpus;
  for (std::string line; corpus.size() < 20000 && std::getline(in, line);) {
    if (!line.empty()) corpus.push_back(std::move(line));
  }
  if (corpus.empty()) die(file + " has no message");

  const std::string path = hims::bench::new_store(kProgram, dir, "journal_floor.db");
  sqlite3* db = hims::bench::open_like_the_engine(kProgram, path);
  const auto exec = [&](const char* sql) {
    if (sqlite3_exec(db, sql, nullptr, nullptr, nullptr) != SQLITE_OK) die(sqlite3_errmsg(db));
  };
  std::string journal_sql =
      "INSERT INTO journal (source, peer, received_at_us, message_type, trigger_event, "
      "control_id, sending_application, sending_facility, size, content_hash, state, error, "
      "updated_at_us, raw) VALUES ";
  for (std::size_t i = 0; i < per_tx; ++i) {
    journal_sql.append(i == 0 ? "" : ", ")
        .append(
            "('bench-in', '127.0.0.1:50000', ?, 'ORU', 'R01', ?, 'APP', 'FAC', ?, "
            "'0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef', "
            "'processed', '', ?, ?)");
  }
  sqlite3_stmt* journal = nullptr;
  if (sqlite3_prepare_v2(db, journal_sql.c_str(), -1, &journal, nullptr) != SQLITE_OK) {
    die(sqlite3_errmsg(db));
  }

  const std::size_t batches = count / per_tx;
  const double cpu0 = hims::bench::cpu_seconds();
  const double sys0 = hims::bench::cpu_seconds(true);
  const auto t0 = std::chrono::steady_clock::now();
  std::vector<std::string> control_ids(per_tx);
  for (std::size_t b = 0; b < batches; ++b) {
    exec("BEGIN IMMEDIATE");
    const auto now = static_cast<sqlite3_int64>(b);
    int index = 1;
    for (std::size_t i = 0; i < per_tx; ++i) {
      const std::string& raw = corpus[(b * per_tx + i) % corpus.size()];
      control_ids[i] = std::to_string(b * per_tx + i);
      sqlite3_bind_int64(journal, index++, now);
      sqlite3_bind_text(journal, index++, control_ids[i].c_str(), -1, SQLITE_STATIC);
      sqlite3_bind_int64(journal, index++, static_cast<sqlite3_int64>(raw.size()));
      sqlite3_bind_int64(journal, index++, now);
      sqlite3_bind_blob(journal, index++, raw.data(), static_cast<int>(raw.size()), SQLITE_STATIC);
    }
    if (sqlite3_step(journal) != SQLITE_DONE) die(sqlite3_errmsg(db));
    sqlite3_reset(journal);
    exec("COMMIT");
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double messages = static_cast<double>(batches * per_tx);
  std::printf(
      "{\"bench\":\"journal_floor\",\"messages\":%.0f,\"per_tx\":%zu,\"seconds\":%.3f,"
      "\"msgs_per_s\":%.0f,\"cpu_us_per_msg\":%.1f,\"system_us_per_msg\":%.1f}\n",
      messages, per_tx, seconds, messages / seconds,
      (hims::bench::cpu_seconds() - cpu0) * 1e6 / messages,
      (hims::bench::cpu_seconds(true) - sys0) * 1e6 / messages);
  sqlite3_finalize(journal);
  sqlite3_close(db);
  return 0;
}
