// The `hims-engine` subcommands, one function each; main.cpp parses the command line into these
// option structs. Each returns the process exit status (see kExit*). Not re-entrant: a command
// owns the process (signals, stdout) while it runs.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/log.hpp"

namespace hims::engine {

inline constexpr int kExitOk = 0;
// What was checked failed: a config error, a message not accepted (not AA/CA), a message that
// does not parse.
inline constexpr int kExitFailed = 1;
// The command could not do its work: bad options, an unreadable file, a port that cannot be bound.
inline constexpr int kExitUsage = 2;

struct RunOptions {
  std::filesystem::path config;
  std::optional<log::Format> log_format;  // overrides the config's log.format
  std::optional<log::Level> log_level;    // overrides the config's log.level
  std::filesystem::path ready_file;       // empty: none
};
int run_command(const RunOptions& options);

struct SendOptions {
  std::string mllp;  // HOST:PORT
  std::vector<std::filesystem::path> files;
  std::filesystem::path tls_ca;  // any of the three set: TLS
  std::filesystem::path tls_cert;
  std::filesystem::path tls_key;
  std::chrono::milliseconds timeout{std::chrono::seconds(10)};
};
int send_command(const SendOptions& options);

struct InspectOptions {
  std::filesystem::path file;
  bool json = false;
};
int inspect_command(const InspectOptions& options);

// Runs a mapping file over every message of a file and prints each message's canonical rows as
// one JSON document (to_json in engine/mapping.hpp); with a store, also writes them there (each
// message in its own transaction, as the engine would) and reports what changed on stderr.
struct MapOptions {
  std::filesystem::path mapping;
  std::filesystem::path input;
  bool compact = false;  // one line per message instead of indented JSON
  std::string store;     // store URL to write the rows to; empty: none
};
int map_command(const MapOptions& options);

struct CheckOptions {
  std::filesystem::path config;
};
int check_command(const CheckOptions& options);

// The store the operational commands work on: --store URL, else the config's `store`.
struct StoreSelection {
  std::filesystem::path config;  // empty: none
  std::string store;             // empty: from the config (or the default store)
};

struct MigrateOptions {
  StoreSelection target;
  bool status_only = false;  // list applied and pending migrations, apply nothing
};
int migrate_command(const MigrateOptions& options);

// Errored (or filtered) messages go back to `received` and are processed again; dead letters go
// back to their queue. The running engine picks both up within a second or two (or at start).
struct ReplayOptions {
  StoreSelection target;
  std::vector<std::int64_t> messages;      // journal ids (errored or filtered)
  bool errored = false;                    // every errored message matching the filters
  bool filtered = false;                   // every filtered message matching the filters
  std::vector<std::int64_t> dead_letters;  // queue item ids
  bool all_dead = false;                   // every dead letter matching --destination
  std::optional<std::string> source;       // filters for --errored / --filtered
  std::optional<std::string> destination;  // filter for --dead
  std::optional<std::chrono::system_clock::time_point> since;  // received at or after
  std::optional<std::chrono::system_clock::time_point> until;  // received before
  bool dry_run = false;
};
int replay_command(const ReplayOptions& options);

struct StatsOptions {
  StoreSelection target;
  bool json = false;
};
int stats_command(const StatsOptions& options);

// "hims-engine 0.1.0" and what it was built with.
std::string version_text();

}  // namespace hims::engine
