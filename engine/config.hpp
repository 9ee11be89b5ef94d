// The engine's YAML configuration: one struct per component with its defaults and validate(),
// a loader that collects every error (file, line, key path), and the checks `hims-engine check`
// adds (ports free, outbox folders writable). Value types, safe to copy and to read from any
// thread; loading is pure apart from reading the file and asking the host name.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "adapters/tls_config.hpp"
#include "engine/log.hpp"
#include "engine/result.hpp"

namespace hims::engine {

enum class ConfigErrc : std::uint8_t {
  unreadable,    // the config file (or a file it names) cannot be read
  syntax,        // not valid YAML
  unknown_key,   // a key the component does not have
  missing_key,   // a required key is absent
  wrong_type,    // a map where a string was expected, ...
  bad_value,     // a value outside its allowed set or range
  bad_duration,  // not "<number><unit>" with unit ms, s, m, h, d
  bad_size,      // not "<number><unit>" with unit B, KiB, MiB, GiB, KB, MB, GB
  bad_address,   // not HOST:PORT
  duplicate,     // two components with one id, or two listening on one address
  unknown_id,    // a route names a source or destination that is not defined
  cannot_bind,   // `check`: the listen address cannot be bound
  not_writable,  // `check`: a file destination's folder cannot be created or written
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

// When a source acknowledges a message (DESIGN.md 5.4). YAML: on-commit, on-processed.
enum class AckMode : std::uint8_t {
  on_commit,     // once the raw message and its metadata are durably in the journal
  on_processed,  // once it is routed and its queue items committed; a processing error gives AE
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

// The host name (gethostname), or "localhost" when it cannot be had: the default `node`.
std::string default_node_name();

// YAML: http: {listen: 127.0.0.1:8080}. The FHIR API, dashboard, /metrics and /health.
struct HttpConfig {
  ListenAddress listen;  // required; port 0: any free port (tests)
};

// What a destination does with a negative answer. YAML: retry, dead-letter.
enum class NackAction : std::uint8_t { retry, dead_letter };
std::string_view to_string(NackAction action);

// Backoff for failed deliveries: delay n (n = attempts so far, from 1) = min(max, initial *
// multiplier^(n-1)), multiplied by a random factor in [1 - jitter, 1 + jitter]. Dead letter when
// attempts reach max_attempts (0: no limit) or the item is older than max_age (0: no limit).
struct RetryConfig {
  std::chrono::milliseconds initial = std::chrono::seconds(1);
  std::chrono::milliseconds max = std::chrono::minutes(5);
  double multiplier = 2.0;                                     // >= 1
  double jitter = 0.2;                                         // 0 .. 1
  int max_attempts = 0;                                        // 0: unlimited
  std::chrono::milliseconds max_age = std::chrono::hours(24);  // 0: unlimited

  // initial > 0, max >= initial, multiplier >= 1 (finite), jitter in [0, 1], max_attempts and
  // max_age not negative; keys relative to the retry map ("jitter").
  std::vector<ConfigProblem> validate() const;
};

struct MllpDestinationConfig {
  ListenAddress connect;  // YAML `connect: HOST:PORT` (required; port 0 refused)
  std::chrono::milliseconds connect_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds ack_timeout = std::chrono::seconds(30);
  // YAML tls: {ca, cert, key, server_name}; paths relative to the config file, readable.
  std::optional<adapters::TlsClientConfig> tls;
  NackAction on_ae = NackAction::retry;        // AE / CE answers
  NackAction on_ar = NackAction::dead_letter;  // AR / CR answers

  // connect set with a port, time-outs > 0, tls files readable (cert and key together);
  // keys relative to the destination ("tls.ca").
  std::vector<ConfigProblem> validate() const;
};

enum class FileMode : std::uint8_t { per_message, append };  // YAML: per-message, append
std::string_view to_string(FileMode mode);

struct FileDestinationConfig {
  // required; relative to the working directory (like the sqlite store), created at start
  std::filesystem::path dir;
  FileMode mode = FileMode::per_message;
  // File name template; placeholders {id} (queue item id), {journal_id}, {source}, {route},
  // {destination}, {control_id}, {date} (YYYYMMDD, UTC), {time} (HHMMSS, UTC). Unknown
  // placeholders, '/' or '..' refused. Defaults: per-message "{source}-{control_id}-{id}.hl7",
  // append "{destination}-{date}.hl7".
  std::string name;  // filled with the mode's default when absent
  bool fsync = true;

  static std::string_view default_name(FileMode mode);
  // Nullopt when `name` is a usable template; else why not.
  static std::optional<std::string> name_problem(std::string_view name);
  // dir not empty, name a usable template; keys relative to the destination ("name").
  std::vector<ConfigProblem> validate() const;
};

struct ZmqDestinationConfig {
  std::string bind;                       // required: tcp://HOST:PORT (ipc://, inproc:// too)
  std::optional<std::string> topic;       // absent: each message's route name is its topic
  std::uint32_t high_water_mark = 10000;  // ZMQ_SNDHWM

  // Nullopt when `endpoint` is tcp://HOST:PORT (HOST may be *, PORT may be * or 0: any free
  // port), ipc://PATH or inproc://NAME; else why not.
  static std::optional<std::string> endpoint_problem(std::string_view endpoint);
  // bind a valid endpoint, high_water_mark >= 1; keys relative to the destination ("bind").
  std::vector<ConfigProblem> validate() const;
};

enum class DestinationType : std::uint8_t { mllp, file, zmq_pub };  // YAML: mllp, file, zmq-pub
std::string_view to_string(DestinationType type);

struct DestinationConfig {
  std::string id;
  DestinationType type = DestinationType::mllp;
  RetryConfig retry;  // YAML `retry: {initial, max, multiplier, jitter, max_attempts, max_age}`
  std::variant<MllpDestinationConfig, FileDestinationConfig, ZmqDestinationConfig> transport;

  // retry ("retry.jitter") and the transport's own validate(); keys relative to the destination.
  std::vector<ConfigProblem> validate() const;
};

// What the loader fills in for a route (YAML shape: docs/routes.md); Router::build checks it.
// Strings as written, so that every mistake (an unknown operator, a pattern that cannot match)
// is reported by Router::build with the route and key.
class Mapping;  // engine/mapping.hpp

struct ConditionSpec {
  std::string path;                  // "PID-3[*].5"
  std::string op;                    // equals, not_equals, in, not_in, exists, not_exists,
                                     // matches, not_matches, starts_with, not_starts_with
  std::optional<std::string> value;  // equals, matches, starts_with and their not_ forms
  std::vector<std::string> values;   // in, not_in
};

struct RouteSpec {
  std::string name;                                // unique, not empty
  std::vector<std::string> from;                   // source ids; empty: every source
  std::vector<std::string> message;                // "ORU^R01", "ADT^A0*", "*"; empty: every type
  std::optional<std::string> sending_application;  // MSH-3.1, exact or glob
  std::optional<std::string> sending_facility;     // MSH-4.1, exact or glob
  std::vector<ConditionSpec> conditions;           // all must hold
  std::vector<std::string> destinations;           // destination ids, kept as data
  // YAML `map`: a mapping file (docs/mappings.md), relative to the config file's folder; the
  // message's canonical rows are written with its processing. Empty: the route maps nothing.
  std::string mapping{};
  // The mapping file as the loader compiled it (set when it loaded without problems).
  std::shared_ptr<const Mapping> compiled_mapping{};
};

struct Config {
  std::filesystem::path file;  // where it was loaded from
  std::string store{kDefaultStoreUrl};
  // YAML `node`, default: the host name (gethostname); names this engine's queue leases.
  std::string node;
  LogConfig log;
  std::optional<HttpConfig> http;
  std::vector<MllpSourceConfig> sources;        // in file order
  std::vector<DestinationConfig> destinations;  // in file order; YAML: a map id -> settings
  std::vector<RouteSpec> routes;                // in file order; YAML: a list (docs/routes.md)
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

// What `check` adds to loading: every listen address (sources, http) can be bound now (port 0 is
// skipped), and every file destination's folder exists and is writable or can be created (its
// nearest existing parent is a writable folder). Appends to `loaded.errors`; the locations come
// from the file.
void check_environment(LoadedConfig& loaded);

}  // namespace hims::engine
