// A throwaway store for one test: a SQLite file in a fresh temp folder, or a fresh PostgreSQL
// database on the server HIMS_TEST_POSTGRES_URL names (scripts/test.sh starts one). Both are
// removed when the object goes. Header-only so only tests that use PostgreSQL link libpqxx. Also
// journal_entry(), the inbound entry the store and journal writer tests submit, and query() /
// count(), one statement in its own transaction.
// Test-only; one object per test, not shared between threads.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <span>

#include <pqxx/pqxx>
#include <string>
#include <system_error>
#include <utility>

#include "engine/store.hpp"
#include "engine/store_driver.hpp"

namespace hims::test {

// A journal entry as an MLLP source submits one: ORU^R01 from LAB at ACME, peer 127.0.0.1:50000.
inline store::NewJournalEntry journal_entry(std::string raw, std::string control_id,
                                            store::TimePoint at,
                                            std::string source = "lab-results") {
  store::NewJournalEntry e;
  e.raw = std::move(raw);
  e.source = std::move(source);
  e.peer = "127.0.0.1:50000";
  e.received_at = at;
  e.message_type = "ORU";
  e.trigger_event = "R01";
  e.control_id = std::move(control_id);
  e.sending_application = "LAB";
  e.sending_facility = "ACME";
  return e;
}

// One statement in its own transaction on `s` (canonical tables, catalog queries): its rows. A
// failure fails the current test and gives no rows.
inline store::Rows query(store::Store& s, const std::string& sql,
                         std::span<const store::Param> params = {}) {
  store::Rows rows;
  Status status = s.transact([&]() -> Status {
    auto r = s.execute(sql, params);
    if (!r.ok()) return r.take_error();
    rows = std::move(*r);
    return {};
  });
  if (!status.ok()) ADD_FAILURE() << sql << ": " << status.error().message();
  return rows;
}

// The first cell of query() as an integer (a COUNT); -1 when there is none.
inline std::int64_t count(store::Store& s, const std::string& sql,
                          std::span<const store::Param> params = {}) {
  const store::Rows rows = query(s, sql, params);
  return rows.empty() || rows[0].empty() || !rows[0][0] ? -1 : std::stoll(*rows[0][0]);
}

enum class Backend { sqlite, postgres };

inline const char* backend_name(Backend backend) {
  return backend == Backend::sqlite ? "sqlite" : "postgres";
}

// Unique within this machine for the test run: pid, a counter and a clock.
inline std::string unique_suffix() {
  static std::atomic<int> counter{0};
  return std::to_string(::getpid()) + "_" + std::to_string(counter.fetch_add(1)) + "_" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

// postgresql://u@h:p/db?x -> postgresql://u@h:p/NAME?x
inline std::string with_database(const std::string& url, const std::string& name) {
  const auto host = url.find("://");
  const auto slash = url.find('/', host == std::string::npos ? 0 : host + 3);
  if (slash == std::string::npos) return url + "/" + name;
  const auto query = url.find('?', slash);
  return url.substr(0, slash + 1) + name +
         (query == std::string::npos ? std::string() : url.substr(query));
}

inline constexpr const char* kPostgresSkipped =
    "PostgreSQL cases skipped: HIMS_TEST_POSTGRES_URL is not set (start a server with "
    "scripts/pg-throwaway.sh start DIR, or run scripts/test.sh)";

class ThrowawayStore {
 public:
  // `prefix` names the database or temp folder (letters, digits, '_'). For PostgreSQL without
  // HIMS_TEST_POSTGRES_URL, skipped() is true and url() is empty: the test should GTEST_SKIP.
  ThrowawayStore(Backend backend, const std::string& prefix) : backend_(backend) {
    const std::string name = prefix + "_" + unique_suffix();
    if (backend == Backend::postgres) {
      const char* admin = std::getenv("HIMS_TEST_POSTGRES_URL");
      if (admin == nullptr || *admin == '\0') return;
      admin_url_ = admin;
      database_ = name;
      pqxx::connection conn(admin_url_);
      pqxx::nontransaction tx(conn);
      tx.exec("CREATE DATABASE " + database_);
      url_ = with_database(admin_url_, database_);
    } else {
      dir_ = std::filesystem::temp_directory_path() / name;
      sqlite_path_ = dir_ / "var" / "hims.db";  // the store creates the parent folders
      url_ = "sqlite:" + sqlite_path_.string();
    }
  }
  ~ThrowawayStore() {
    drop();
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
    }
  }
  ThrowawayStore(const ThrowawayStore&) = delete;
  ThrowawayStore& operator=(const ThrowawayStore&) = delete;

  bool skipped() const { return url_.empty(); }
  Backend backend() const { return backend_; }
  const std::string& url() const { return url_; }
  const std::filesystem::path& sqlite_path() const { return sqlite_path_; }

  // Ends every connection to the PostgreSQL database from the server side, as a server restart
  // or a network cut would (pg_terminate_backend). Returns how many were ended.
  int disconnect_clients() {
    if (database_.empty()) return 0;
    pqxx::connection conn(admin_url_);
    pqxx::nontransaction tx(conn);
    const pqxx::result r = tx.exec(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
        "datname = " +
        tx.quote(database_) + " AND pid <> pg_backend_pid()) AS ended");
    return r[0][0].as<int>();
  }

  // Drops the PostgreSQL database now (even while a store is connected to it).
  void drop() {
    if (database_.empty()) return;
    pqxx::connection conn(admin_url_);
    pqxx::nontransaction tx(conn);
    tx.exec("DROP DATABASE IF EXISTS " + database_ + " WITH (FORCE)");
    database_.clear();
  }

 private:
  Backend backend_;
  std::string admin_url_;
  std::string database_;
  std::string url_;
  std::filesystem::path dir_;
  std::filesystem::path sqlite_path_;
};

}  // namespace hims::test
