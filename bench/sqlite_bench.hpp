// What the SQLite floor benchmarks share (canonical_write_bench, journal_floor_bench): a new
// store file made by the engine's migrations, a plain SQLite connection with the engine's
// settings, and CPU time (the way out on an error is bench_util.hpp's).
#pragma once

#include <sqlite3.h>
#include <sys/resource.h>

#include <filesystem>
#include <string>

#include "bench/bench_util.hpp"
#include "engine/store.hpp"

namespace hims::bench {

// The process's CPU time in seconds: user + system, or system only.
inline double cpu_seconds(bool system_only = false) {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double sys =
      static_cast<double>(ru.ru_stime.tv_sec) + static_cast<double>(ru.ru_stime.tv_usec) * 1e-6;
  if (system_only) return sys;
  return sys + static_cast<double>(ru.ru_utime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec) * 1e-6;
}

// `dir`/`name` made again by the engine's migrations (closed again): returns its path.
inline std::string new_store(const char* program, const std::filesystem::path& dir,
                             const char* name) {
  const std::string path = (dir / name).string();
  for (const char* suffix : {"", "-wal", "-shm"}) std::filesystem::remove(path + suffix);
  auto store = hims::store::open_store("sqlite:" + path);
  if (!store.ok()) die(program, store.error().message());
  return path;
}

// A plain connection to `path` with the engine's settings (engine/store_sqlite.cpp): WAL,
// synchronous=FULL, foreign keys on, temporary tables in memory, 16 MiB page cache.
inline sqlite3* open_like_the_engine(const char* program, const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) die(program, sqlite3_errmsg(db));
  for (const char* pragma :
       {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
        "PRAGMA temp_store=MEMORY", "PRAGMA cache_size=-16384"}) {
    if (sqlite3_exec(db, pragma, nullptr, nullptr, nullptr) != SQLITE_OK) {
      die(program, sqlite3_errmsg(db));
    }
  }
  return db;
}

}  // namespace hims::bench
