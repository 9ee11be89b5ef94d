// The `hims-engine` subcommands, one function each; main.cpp parses the command line into these
// option structs. Each returns the process exit status (see kExit*). Not re-entrant: a command
// owns the process (signals, stdout) while it runs.
#pragma once

#include <chrono>
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

struct CheckOptions {
  std::filesystem::path config;
};
int check_command(const CheckOptions& options);

// "hims-engine 0.1.0" and what it was built with.
std::string version_text();

}  // namespace hims::engine
