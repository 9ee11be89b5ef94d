// The engine's YAML configuration: one struct per component with its defaults and validate(),
// a loader that collects every error (file, line, key path), and the checks `hims-engine check`
// adds (files readable, ports free). Value types; loading is pure apart from reading the file.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/tls_config.hpp"
#include "engine/log.hpp"
#include "engine/result.hpp"

namespace hims::engine {

enum class ConfigErrc : std::uint8_t {
  unreadable,           // the config file (or a file it names) cannot be read
  syntax,               // not valid YAML
  unknown_key,          // a key the component does not have
  missing_key,          // a required key is absent
  wrong_type,           // a map where a string was expected, ...
  bad_value,            // a value outside its allowed set or range
  bad_duration,         // not "<number><unit>" with unit ms, s, m, h, d
  bad_size,             // not "<number><unit>" with unit B, KiB, MiB, GiB, KB, MB, GB
  bad_address,          // not HOST:PORT
  duplicate,            // two sources with the same id, or two listening on one address
  unsupported_section,  // http, destinations, routes: not in this version yet
  cannot_bind,          // `check`: the listen address cannot be bound
};

constexpr ErrorDomain error_domain(ConfigErrc) { return ErrorDomain::config; }
std::string_view to_string(ConfigErrc code);

// Where a key or value is in the config file (1-based line and column; 0 when unknown).
struct Location {
  std::string file;
  int line = 0;
  int column = 0;
};

// One problem in a config file: "samples/x.yaml:7:13: sources.lab.listen: ...".
struct ConfigError {
  ConfigErrc code;
  Location where;
  std::string key;  // dotted key path: "sources.lab-results.tls.cert"; "" for the whole file
  std::string detail;

  std::string to_string() const;
  Error to_error() const;  // domain config, where = "file:line:column key"
};

// "30s", "5m", "250ms", "1h", "2d" -> duration; nullopt when malformed, negative or overflowing.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);
// "16MiB", "512KiB", "1GiB", "100B", "10MB" -> bytes; nullopt when malformed or overflowing.
std::optional<std::uint64_t> parse_size(std::string_view text);
// The shortest exact text form: 300000ms -> "5m", 1500ms -> "1500ms".
std::string format_duration(std::chrono::milliseconds duration);
// 16777216 -> "16MiB", 1000 -> "1000B".
std::string format_size(std::uint64_t bytes);

// HOST:PORT, with the host an IPv4 address, a name (localhost) or a bracketed IPv6 address.
struct ListenAddress {
  std::string host;
  std::uint16_t port = 0;  // 0: any free port (tests)
  std::string to_string() const;
  static std::optional<ListenAddress> parse(std::string_view text);
};

// The TLS client-certificate policy is the MLLP adapter's own enum.
using adapters::ClientCertMode;

// A problem validate() finds in a parsed component; `key` is relative to the component
// ("tls.ca"); the loader adds the file, line and the full key path.
struct ConfigProblem {
  ConfigErrc code;
  std::string key;
  std::string detail;
};

struct TlsConfig {
  std::filesystem::path cert;  // PEM certificate chain of this endpoint (required)
  std::filesystem::path key;   // PEM private key (required)
  std::filesystem::path ca;    // PEM CA bundle that verifies peers (required unless none)
  ClientCertMode client_cert = ClientCertMode::none;

  // cert and key given, ca given unless client_cert is none, every file readable.
  std::vector<ConfigProblem> validate() const;
};

// Identity this source writes into the ACKs it sends (MSH-3 and MSH-4 of the ACK).
struct AckConfig {
  std::string application = "HIMS";
  std::string facility = "HIMS";

  // application not empty; neither holds HL7 delimiters or line breaks.
  std::vector<ConfigProblem> validate() const;
};

// When a source acknowledges a message (DESIGN.md 5.1). Only on_commit exists until routes and
// mappings do: on_processed will answer after the canonical commit.
enum class AckMode : std::uint8_t {
  on_commit,  // once the raw message and its metadata are durably in the journal
};
std::string_view to_string(AckMode mode);

struct MllpSourceConfig {
  static constexpr std::uint64_t kDefaultMaxMessageSize = 16u << 20;
  static constexpr std::chrono::milliseconds kDefaultDuplicateWindow = std::chrono::minutes(5);
  static constexpr std::chrono::milliseconds kMaxDuplicateWindow = std::chrono::days(7);

  std::string id;
  ListenAddress listen;  // required
  std::uint64_t max_message_size = kDefaultMaxMessageSize;
  std::chrono::milliseconds idle_timeout = std::chrono::minutes(5);
  std::chrono::milliseconds read_timeout = std::chrono::seconds(30);
  std::size_t max_connections = 256;
  std::optional<TlsConfig> tls;
  AckConfig ack;
  AckMode ack_mode = AckMode::on_commit;
  // Same source, control id and bytes within this window: acknowledged again, not journaled
  // again (DESIGN.md 5a). 0 turns it off; otherwise whole seconds, at most kMaxDuplicateWindow.
  std::chrono::milliseconds duplicate_window = kDefaultDuplicateWindow;

  // Ranges, then tls and ack; keys relative to the source ("max_connections", "tls.ca").
  std::vector<ConfigProblem> validate() const;
};

// Both values are enums, so any parsed LogConfig is valid: no validate().
struct LogConfig {
  log::Format format = log::Format::json;
  log::Level level = log::Level::info;
};

// The journal's database: `sqlite:PATH` (a relative PATH is relative to the working directory of
// the process, not to the config file) or `postgresql://USER@HOST:PORT/DB` (`postgres://` too).
inline constexpr std::string_view kDefaultStoreUrl = "sqlite:var/hims.db";
// Nullopt when `url` is a store URL open_store() accepts by its form; else why not.
std::optional<std::string> store_url_problem(std::string_view url);
// The URL without its password (postgresql://hims:secret@db/hims -> postgresql://hims:***@db/hims),
// for logs and errors.
std::string redact_store_url(std::string_view url);

struct Config {
  std::filesystem::path file;  // where it was loaded from
  std::string store{kDefaultStoreUrl};
  LogConfig log;
  std::vector<MllpSourceConfig> sources;  // in file order
};

// A config and every error found in it; the config is only meaningful when errors is empty.
struct LoadedConfig {
  Config config;
  std::vector<ConfigError> errors;
  std::map<std::string, Location> locations;  // key path -> where its value is
  bool ok() const { return errors.empty(); }
};

// Parses YAML text; `file` names it in errors.
LoadedConfig parse_config(std::string_view yaml, const std::string& file);
// Reads and parses a file.
LoadedConfig load_config(const std::filesystem::path& file);

// What `check` adds to loading: every listen address can be bound now (port 0 is skipped).
// Appends to `loaded.errors`; the locations come from the file.
void check_environment(LoadedConfig& loaded);

}  // namespace hims::engine
