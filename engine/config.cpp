#include "engine/config.hpp"
#include "engine/yaml_reader.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "engine/mapping.hpp"
#include "engine/router.hpp"

namespace hims::engine {

std::string_view to_string(ConfigErrc code) {
  switch (code) {
    case ConfigErrc::unreadable:
      return "unreadable";
    case ConfigErrc::syntax:
      return "syntax";
    case ConfigErrc::unknown_key:
      return "unknown_key";
    case ConfigErrc::missing_key:
      return "missing_key";
    case ConfigErrc::wrong_type:
      return "wrong_type";
    case ConfigErrc::bad_value:
      return "bad_value";
    case ConfigErrc::bad_duration:
      return "bad_duration";
    case ConfigErrc::bad_size:
      return "bad_size";
    case ConfigErrc::bad_address:
      return "bad_address";
    case ConfigErrc::duplicate:
      return "duplicate";
    case ConfigErrc::unknown_id:
      return "unknown_id";
    case ConfigErrc::cannot_bind:
      return "cannot_bind";
    case ConfigErrc::not_writable:
      return "not_writable";
  }
  return "unknown";
}

namespace {

std::string location_text(const Location& where) {
  std::string out = where.file;
  if (where.line > 0) {
    out.append(":").append(std::to_string(where.line));
    if (where.column > 0) out.append(":").append(std::to_string(where.column));
  }
  return out;
}

}  // namespace

std::string ConfigError::to_string() const {
  std::string out = location_text(where);
  out.append(": ");
  if (!key.empty()) out.append(key).append(": ");
  out.append(detail);
  return out;
}

Error ConfigError::to_error() const {
  std::string at = location_text(where);
  if (!key.empty()) at.append(" ").append(key);
  return Error(code, std::move(at), detail);
}

// ---- units -------------------------------------------------------------------------------------

namespace {

// Splits "<digits><unit>" into its number and unit; nullopt when there is no leading number.
std::optional<std::pair<std::uint64_t, std::string_view>> split_number(std::string_view text) {
  std::uint64_t number = 0;
  const char* first = text.data();
  const char* last = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(first, last, number);
  if (ec != std::errc() || ptr == first) return std::nullopt;
  std::string_view unit(ptr, static_cast<std::size_t>(last - ptr));
  return std::pair{number, unit};
}

std::optional<std::uint64_t> multiply(std::uint64_t a, std::uint64_t b) {
  if (b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b) return std::nullopt;
  return a * b;
}

struct Unit {
  std::string_view name;
  std::uint64_t factor;
};

constexpr std::array<Unit, 5> kDurationUnits{{
    {"d", 86'400'000},
    {"h", 3'600'000},
    {"m", 60'000},
    {"s", 1'000},
    {"ms", 1},
}};

constexpr std::array<Unit, 7> kSizeUnits{{
    {"GiB", 1ull << 30},
    {"MiB", 1ull << 20},
    {"KiB", 1ull << 10},
    {"GB", 1'000'000'000},
    {"MB", 1'000'000},
    {"KB", 1'000},
    {"B", 1},
}};

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  auto split = split_number(text);
  if (!split) return std::nullopt;
  for (const Unit& unit : kDurationUnits) {
    if (unit.name != split->second) continue;
    auto ms = multiply(split->first, unit.factor);
    if (!ms || *ms > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return std::nullopt;
    }
    return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_size(std::string_view text) {
  auto split = split_number(text);
  if (!split) return std::nullopt;
  for (const Unit& unit : kSizeUnits) {
    if (unit.name == split->second) return multiply(split->first, unit.factor);
  }
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds duration) {
  const auto ms = static_cast<std::uint64_t>(std::max<std::int64_t>(duration.count(), 0));
  for (const Unit& unit : kDurationUnits) {
    if (ms != 0 && ms % unit.factor == 0) {
      return std::to_string(ms / unit.factor) + std::string(unit.name);
    }
  }
  return std::to_string(ms) + "ms";
}

std::string format_size(std::uint64_t bytes) {
  for (const Unit& unit : {kSizeUnits[0], kSizeUnits[1], kSizeUnits[2]}) {
    if (bytes != 0 && bytes % unit.factor == 0) {
      return std::to_string(bytes / unit.factor) + std::string(unit.name);
    }
  }
  return std::to_string(bytes) + "B";
}

std::string_view to_string(AckMode mode) {
  switch (mode) {
    case AckMode::on_commit:
      return "on-commit";
    case AckMode::on_processed:
      return "on-processed";
  }
  return "unknown";
}

std::string_view to_string(NackAction action) {
  switch (action) {
    case NackAction::retry:
      return "retry";
    case NackAction::dead_letter:
      return "dead-letter";
  }
  return "unknown";
}

std::string_view to_string(FileMode mode) {
  switch (mode) {
    case FileMode::per_message:
      return "per-message";
    case FileMode::append:
      return "append";
  }
  return "unknown";
}

std::string_view to_string(DestinationType type) {
  switch (type) {
    case DestinationType::mllp:
      return "mllp";
    case DestinationType::file:
      return "file";
    case DestinationType::zmq_pub:
      return "zmq-pub";
  }
  return "unknown";
}

std::string default_node_name() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0 || name[0] == '\0') return "localhost";
  return std::string(name.data());
}

std::optional<std::string> store_url_problem(std::string_view url) {
  if (url.starts_with("sqlite:")) {
    const std::string_view path = url.substr(7);
    if (path.empty()) return "sqlite: needs a file path (sqlite:var/hims.db)";
    if (path == ":memory:") return "sqlite::memory: is not durable: name a file";
    if (path.ends_with("/"))
      return "sqlite:" + std::string(path) + " names a directory, not a file";
    return std::nullopt;
  }
  for (std::string_view scheme : {"postgresql://", "postgres://"}) {
    if (url.starts_with(scheme)) {
      if (url.size() == scheme.size()) return std::string(scheme) + " needs a host or a database";
      return std::nullopt;
    }
  }
  return "'" + redact_store_url(url) +
         "' is not a store URL (sqlite:PATH, e.g. sqlite:var/hims.db, or "
         "postgresql://USER@HOST:PORT/DB)";
}

std::string redact_store_url(std::string_view url) {
  std::string out(url);
  const auto scheme = out.find("://");
  if (scheme == std::string::npos) return out;
  const auto authority = scheme + 3;
  const auto at = out.find('@', authority);
  const auto slash = out.find('/', authority);
  if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
    const auto colon = out.find(':', authority);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  // libpq also takes the password as a parameter: ?password=... or &password=...
  for (std::string_view key : {"?password=", "&password="}) {
    const auto p = out.find(key);
    if (p == std::string::npos) continue;
    const auto begin = p + key.size();
    const auto end = out.find('&', begin);
    out.replace(begin, (end == std::string::npos ? out.size() : end) - begin, "***");
  }
  return out;
}

std::string ListenAddress::to_string() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<ListenAddress> ListenAddress::parse(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (host.empty() || host.find_first_not_of("0123456789abcdefABCDEF:.") != host.npos) {
      return std::nullopt;
    }
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return std::nullopt;
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.empty() || host.find(':') != host.npos) return std::nullopt;
    for (char c : host) {
      const auto u = static_cast<unsigned char>(c);
      if (std::isalnum(u) == 0 && c != '.' && c != '-' && c != '_') return std::nullopt;
    }
  }
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
    return std::nullopt;
  }
  return ListenAddress{std::string(host), static_cast<std::uint16_t>(value)};
}

// ---- validate ----------------------------------------------------------------------------------

namespace {

bool readable_file(const std::filesystem::path& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return false;
  std::ifstream in(path, std::ios::binary);
  return in.good();
}

// ACK identity goes into MSH-3.1 / MSH-4.1: no HL7 delimiters, no line breaks.
bool plain_hd_text(std::string_view text) {
  return text.find_first_of("|^~\\&#\r\n") == std::string_view::npos;
}

}  // namespace

std::vector<ConfigProblem> TlsConfig::validate() const {
  std::vector<ConfigProblem> problems;
  auto check_file = [&](const std::filesystem::path& path, const char* name, bool required) {
    if (path.empty()) {
      if (required) problems.push_back({ConfigErrc::missing_key, name, "is required with tls"});
      return;
    }
    if (!readable_file(path)) {
      problems.push_back(
          {ConfigErrc::unreadable, name, "cannot read file '" + path.string() + "'"});
    }
  };
  check_file(cert, "cert", true);
  check_file(key, "key", true);
  if (client_cert != ClientCertMode::none && ca.empty()) {
    problems.push_back(
        {ConfigErrc::missing_key, "ca",
         "is required when tls.client_cert is " + std::string(adapters::to_string(client_cert))});
  } else {
    check_file(ca, "ca", false);
  }
  return problems;
}

std::vector<ConfigProblem> AckConfig::validate() const {
  std::vector<ConfigProblem> problems;
  if (application.empty() || !plain_hd_text(application)) {
    problems.push_back({ConfigErrc::bad_value, "application",
                        "must be non-empty text without | ^ ~ \\ & # or line breaks"});
  }
  if (!plain_hd_text(facility)) {
    problems.push_back(
        {ConfigErrc::bad_value, "facility", "must be text without | ^ ~ \\ & # or line breaks"});
  }
  return problems;
}

std::vector<ConfigProblem> MllpSourceConfig::validate() const {
  std::vector<ConfigProblem> problems;
  if (max_message_size < 1024 || max_message_size > (1ull << 30)) {
    problems.push_back({ConfigErrc::bad_value, "max_message_size",
                        "must be between 1KiB and 1GiB, got " + format_size(max_message_size)});
  }
  if (idle_timeout.count() <= 0) {
    problems.push_back({ConfigErrc::bad_value, "idle_timeout", "must be greater than 0"});
  }
  if (read_timeout.count() <= 0) {
    problems.push_back({ConfigErrc::bad_value, "read_timeout", "must be greater than 0"});
  }
  if (max_connections < 1 || max_connections > 100'000) {
    problems.push_back({ConfigErrc::bad_value, "max_connections",
                        "must be between 1 and 100000, got " + std::to_string(max_connections)});
  }
  auto nested = [&](std::vector<ConfigProblem> inner, const std::string& prefix) {
    for (auto& p : inner) problems.push_back({p.code, prefix + p.key, std::move(p.detail)});
  };
  if (duplicate_window.count() < 0 || duplicate_window > kMaxDuplicateWindow) {
    problems.push_back({ConfigErrc::bad_value, "duplicate_window",
                        "must be between 0s (off) and " + format_duration(kMaxDuplicateWindow) +
                            ", got " + format_duration(duplicate_window)});
  } else if (duplicate_window.count() % 1000 != 0) {
    problems.push_back(
        {ConfigErrc::bad_value, "duplicate_window",
         "must be whole seconds (0s turns it off), got " + format_duration(duplicate_window)});
  }
  nested(ack.validate(), "ack.");
  if (tls) nested(tls->validate(), "tls.");
  return problems;
}

std::vector<ConfigProblem> RetryConfig::validate() const {
  std::vector<ConfigProblem> problems;
  if (initial.count() <= 0) {
    problems.push_back({ConfigErrc::bad_value, "initial", "must be greater than 0"});
  }
  if (max < initial) {
    problems.push_back({ConfigErrc::bad_value, "max",
                        "must be at least initial (" + format_duration(initial) + "), got " +
                            format_duration(max)});
  }
  if (!std::isfinite(multiplier) || multiplier < 1.0) {
    problems.push_back({ConfigErrc::bad_value, "multiplier",
                        "must be a number of at least 1 (1: the same delay every time)"});
  }
  if (!(jitter >= 0.0 && jitter <= 1.0)) {
    problems.push_back({ConfigErrc::bad_value, "jitter", "must be between 0 and 1 (0.2: +-20%)"});
  }
  if (max_attempts < 0) {
    problems.push_back(
        {ConfigErrc::bad_value, "max_attempts", "must be 0 (no limit) or a positive number"});
  }
  if (max_age.count() < 0) {
    problems.push_back({ConfigErrc::bad_value, "max_age", "must be 0s (no limit) or more"});
  }
  return problems;
}

std::vector<ConfigProblem> MllpDestinationConfig::validate() const {
  std::vector<ConfigProblem> problems;
  if (connect.host.empty()) {
    problems.push_back({ConfigErrc::missing_key, "connect", "is required (HOST:PORT)"});
  } else if (connect.port == 0) {
    problems.push_back({ConfigErrc::bad_address, "connect",
                        "port 0 is not a port to connect to: name the partner's port"});
  }
  if (connect_timeout.count() <= 0) {
    problems.push_back({ConfigErrc::bad_value, "connect_timeout", "must be greater than 0"});
  }
  if (ack_timeout.count() <= 0) {
    problems.push_back({ConfigErrc::bad_value, "ack_timeout", "must be greater than 0"});
  }
  if (tls) {
    auto check_file = [&](const std::string& file, const char* name) {
      if (!file.empty() && !readable_file(file)) {
        problems.push_back({ConfigErrc::unreadable, std::string("tls.") + name,
                            "cannot read file '" + file + "'"});
      }
    };
    check_file(tls->ca_file, "ca");
    check_file(tls->cert_chain_file, "cert");
    check_file(tls->private_key_file, "key");
    if (tls->cert_chain_file.empty() && !tls->private_key_file.empty()) {
      problems.push_back({ConfigErrc::missing_key, "tls.cert", "is required with tls.key"});
    }
    if (!tls->cert_chain_file.empty() && tls->private_key_file.empty()) {
      problems.push_back({ConfigErrc::missing_key, "tls.key", "is required with tls.cert"});
    }
  }
  return problems;
}

namespace {

constexpr std::array<std::string_view, 8> kFileNamePlaceholders{
    "id", "journal_id", "source", "route", "destination", "control_id", "date", "time"};

}  // namespace

std::string_view FileDestinationConfig::default_name(FileMode mode) {
  return mode == FileMode::append ? "{destination}-{date}.hl7" : "{source}-{control_id}-{id}.hl7";
}

std::optional<std::string> FileDestinationConfig::name_problem(std::string_view name) {
  if (name.empty()) return "must not be empty (leave the key out for the default)";
  if (name.find('/') != std::string_view::npos || name.find('\\') != std::string_view::npos) {
    return "must be a file name, without '/' or '\\' (the folder is `dir`)";
  }
  if (name.find("..") != std::string_view::npos) return "must not contain '..'";
  if (name == ".") return "'.' is not a file name";
  for (std::size_t i = 0; i < name.size(); ++i) {
    const auto c = static_cast<unsigned char>(name[i]);
    if (c < 0x20 || c == 0x7F) return "must not contain control characters";
    if (name[i] == '}') return "'}' without '{' at position " + std::to_string(i + 1);
    if (name[i] != '{') continue;
    const std::size_t close = name.find('}', i + 1);
    if (close == std::string_view::npos) {
      return "'{' without '}' at position " + std::to_string(i + 1);
    }
    const std::string_view placeholder = name.substr(i + 1, close - i - 1);
    if (std::find(kFileNamePlaceholders.begin(), kFileNamePlaceholders.end(), placeholder) ==
        kFileNamePlaceholders.end()) {
      std::string known;
      for (std::string_view p : kFileNamePlaceholders) {
        known.append(known.empty() ? "" : ", ").append("{").append(p).append("}");
      }
      return "unknown placeholder {" + std::string(placeholder) + "} (known: " + known + ")";
    }
    i = close;
  }
  return std::nullopt;
}

std::vector<ConfigProblem> FileDestinationConfig::validate() const {
  std::vector<ConfigProblem> problems;
  if (dir.empty()) problems.push_back({ConfigErrc::missing_key, "dir", "is required (a folder)"});
  if (auto problem = name_problem(name)) {
    problems.push_back({ConfigErrc::bad_value, "name", std::move(*problem)});
  } else if (mode == FileMode::per_message && name.find("{id}") == std::string::npos &&
             name.find("{journal_id}") == std::string::npos) {
    // Without a unique part, two messages would write the same file: the second replaces the
    // first.
    problems.push_back({ConfigErrc::bad_value, "name",
                        "a per-message name needs {id} or {journal_id}, or messages overwrite "
                        "each other's files"});
  }
  return problems;
}

namespace {

// The address of a tcp://HOST:PORT endpoint: HOST `*` is 0.0.0.0 (every interface), PORT `*`
// is 0 (any free port); IPv6 hosts in brackets. Nullopt when it is not such an endpoint.
std::optional<ListenAddress> zmq_tcp_address(std::string_view endpoint) {
  constexpr std::string_view kTcp = "tcp://";
  if (!endpoint.starts_with(kTcp)) return std::nullopt;
  const std::string_view rest = endpoint.substr(kTcp.size());
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string host(rest.substr(0, colon));
  std::string port(rest.substr(colon + 1));
  if (host == "*") host = "0.0.0.0";
  if (port == "*") port = "0";
  return ListenAddress::parse(host + ":" + port);
}

}  // namespace

std::optional<std::string> ZmqDestinationConfig::endpoint_problem(std::string_view endpoint) {
  const std::string example = " (e.g. tcp://127.0.0.1:5556, ipc:///run/hims/events, inproc://x)";
  if (endpoint.starts_with("tcp://")) {
    if (!zmq_tcp_address(endpoint)) {
      return "'" + std::string(endpoint) + "' is not tcp://HOST:PORT" + example;
    }
    return std::nullopt;
  }
  for (std::string_view scheme : {"ipc://", "inproc://"}) {
    if (!endpoint.starts_with(scheme)) continue;
    if (endpoint.size() == scheme.size()) {
      return "'" + std::string(endpoint) + "' needs a name after " + std::string(scheme);
    }
    return std::nullopt;
  }
  return "'" + std::string(endpoint) + "' is not a ZeroMQ endpoint" + example;
}

std::vector<ConfigProblem> ZmqDestinationConfig::validate() const {
  std::vector<ConfigProblem> problems;
  if (bind.empty()) {
    problems.push_back({ConfigErrc::missing_key, "bind", "is required (tcp://HOST:PORT)"});
  } else if (auto problem = endpoint_problem(bind)) {
    problems.push_back({ConfigErrc::bad_address, "bind", std::move(*problem)});
  }
  if (high_water_mark < 1) {
    problems.push_back({ConfigErrc::bad_value, "high_water_mark", "must be at least 1"});
  }
  return problems;
}

std::vector<ConfigProblem> DestinationConfig::validate() const {
  std::vector<ConfigProblem> problems;
  for (auto& p : retry.validate()) {
    problems.push_back({p.code, "retry." + p.key, std::move(p.detail)});
  }
  const std::size_t expected = type == DestinationType::mllp   ? 0
                               : type == DestinationType::file ? 1
                                                               : 2;
  if (transport.index() != expected) {
    problems.push_back({ConfigErrc::bad_value, "type",
                        "'" + std::string(to_string(type)) + "' does not match the settings"});
    return problems;
  }
  std::visit(
      [&](const auto& settings) {
        for (auto& p : settings.validate()) problems.push_back(std::move(p));
      },
      transport);
  return problems;
}

// ---- loader ------------------------------------------------------------------------------------

namespace {

using yaml_reader::indexed;
using yaml_reader::join;
using yaml_reader::node_kind;

std::string join(const std::set<std::string>& names) {
  std::string out;
  for (const std::string& n : names) {
    if (!out.empty()) out.append(", ");
    out.append(n);
  }
  return out.empty() ? "none" : out;
}

// Whether `key` is `parent` or lies inside it ("routes[0].from[1]" inside "routes[0]").
bool within(std::string_view key, std::string_view parent) {
  if (!key.starts_with(parent)) return false;
  return key.size() == parent.size() || key[parent.size()] == '.' || key[parent.size()] == '[';
}

// The key one level up: "a.b[2]" -> "a.b", "a.b" -> "a", "a" -> "".
std::string parent_key(const std::string& key) {
  const auto cut = key.find_last_of(".[");
  return cut == std::string::npos ? std::string() : key.substr(0, cut);
}

class Loader {
 public:
  Loader(LoadedConfig& out, std::string file) : out_(out), file_(std::move(file)) {
    base_dir_ = std::filesystem::path(file_).parent_path();
  }

  void load_root(const YAML::Node& root) {
    if (root.IsNull()) {
      add(ConfigErrc::missing_key, root, "", "the file is empty; at least `sources` is needed");
      return;
    }
    if (!root.IsMap()) {
      add(ConfigErrc::wrong_type, root, "", "the top level must be a map, not " + node_kind(root));
      return;
    }
    static const std::vector<std::string_view> kSections{"store",   "node",         "log",   "http",
                                                         "sources", "destinations", "routes"};
    bool saw_sources = false;
    std::set<std::string> seen;
    for (const auto& entry : root) {
      const std::string key = scalar_key(entry.first);
      if (!seen.insert(key).second) {
        add(ConfigErrc::duplicate, entry.first, key, "the key appears twice in the file");
        continue;
      }
      if (std::find(kSections.begin(), kSections.end(), key) == kSections.end()) {
        add(ConfigErrc::unknown_key, entry.first, key,
            "unknown key (expected one of: " + join(kSections) + ")");
        continue;
      }
      remember(key, entry.second);
      if (key == "sources") {
        saw_sources = true;
        load_sources(entry.second);
      } else if (key == "log") {
        load_log(entry.second);
      } else if (key == "store") {
        load_store(entry.second);
      } else if (key == "node") {
        load_node(entry.second);
      } else if (key == "http") {
        load_http(entry.second);
      } else if (key == "destinations") {
        load_destinations(entry.second);
      } else {
        load_routes(entry.second);
      }
    }
    if (!saw_sources) {
      add(ConfigErrc::missing_key, root, "sources", "is required: at least one source");
    }
    // Sections may come in any order: references are checked once every id is known.
    check_routes();
    check_addresses();
  }

 private:
  void add(ConfigErrc code, const YAML::Node& at, std::string key, std::string detail) {
    out_.errors.push_back({code, where(at), std::move(key), std::move(detail)});
  }

  // An error at a key whose value was remembered (or, for a missing key, at its nearest parent).
  void add_at(ConfigErrc code, const std::string& key, std::string detail) {
    out_.errors.push_back({code, location_of(key), key, std::move(detail)});
  }

  Location location_of(const std::string& key) const {
    for (std::string k = key; !k.empty(); k = parent_key(k)) {
      if (auto it = out_.locations.find(k); it != out_.locations.end()) return it->second;
    }
    return {file_, 0, 0};
  }

  // Whether the key, or a key it lies inside, already has an error: one mistake, one error.
  bool reported(const std::string& key) const {
    return std::any_of(out_.errors.begin(), out_.errors.end(),
                       [&](const ConfigError& e) { return !e.key.empty() && within(key, e.key); });
  }

  // validate()'s problems; keys relative to `prefix` ("sources.lab.").
  void add_problems(std::vector<ConfigProblem> problems, const std::string& prefix) {
    for (auto& problem : problems) {
      const std::string key = prefix + problem.key;
      if (reported(key)) continue;
      add_at(problem.code, key, std::move(problem.detail));
    }
  }

  Location where(const YAML::Node& node) const { return yaml_reader::location(file_, node.Mark()); }

  void remember(const std::string& key, const YAML::Node& node) {
    out_.locations.emplace(key, where(node));
  }

  static std::string scalar_key(const YAML::Node& key) {
    return key.IsScalar() ? key.Scalar() : std::string("?");
  }

  // A map node whose keys are checked against `allowed`; remembers where each value is and calls
  // `each(key, value, path)`.
  template <class F>
  bool for_each_key(const YAML::Node& node, const std::string& path,
                    const std::vector<std::string_view>& allowed, F&& each) {
    return yaml_reader::for_each_key(
        node, path, allowed,
        [this](ConfigErrc code, const YAML::Node& at, std::string key, std::string detail) {
          add(code, at, std::move(key), std::move(detail));
        },
        [&](const std::string& key, const YAML::Node& value, const std::string& child) {
          remember(child, value);
          each(key, value, child);
        });
  }

  std::optional<std::string> text(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      add(ConfigErrc::wrong_type, node, path, "must be a value, not " + node_kind(node));
      return std::nullopt;
    }
    return node.Scalar();
  }

  // A value or a list of values ("from: lab" or "from: [lab, adt]"); each remembered as path[i].
  bool texts(const YAML::Node& node, const std::string& path, std::vector<std::string>& out,
             bool list_only = false) {
    if (node.IsScalar() && !list_only) {
      remember(indexed(path, 0), node);
      out.push_back(node.Scalar());
      return true;
    }
    if (!node.IsSequence()) {
      add(ConfigErrc::wrong_type, node, path,
          std::string(list_only ? "must be a list" : "must be a value or a list") + ", not " +
              node_kind(node));
      return false;
    }
    bool ok = true;
    std::size_t i = 0;
    for (const auto& item : node) {
      const std::string item_path = indexed(path, i++);
      remember(item_path, item);
      auto t = text(item, item_path);
      ok = ok && t.has_value();
      out.push_back(t.value_or(std::string()));  // keeps the indices of later items
    }
    return ok;
  }

  template <class Enum>
  std::optional<Enum> choice(const YAML::Node& node, const std::string& path,
                             std::initializer_list<std::pair<std::string_view, Enum>> options) {
    auto value = text(node, path);
    if (!value) return std::nullopt;
    std::string names;
    for (const auto& [name, e] : options) {
      if (name == *value) return e;
      if (!names.empty()) names.append(", ");
      names.append(name);
    }
    add(ConfigErrc::bad_value, node, path, "'" + *value + "' is not one of: " + names);
    return std::nullopt;
  }

  void duration(const YAML::Node& node, const std::string& path, std::chrono::milliseconds& out) {
    auto value = text(node, path);
    if (!value) return;
    if (auto d = parse_duration(*value)) {
      out = *d;
    } else {
      add(ConfigErrc::bad_duration, node, path,
          "'" + *value +
              "' is not a duration (a whole number and a unit: ms, s, m, h, d; "
              "e.g. 30s, 5m)");
    }
  }

  void size(const YAML::Node& node, const std::string& path, std::uint64_t& out) {
    auto value = text(node, path);
    if (!value) return;
    if (auto s = parse_size(*value)) {
      out = *s;
    } else {
      add(ConfigErrc::bad_size, node, path,
          "'" + *value +
              "' is not a size (a whole number and a unit: B, KiB, MiB, GiB, KB, MB, "
              "GB; e.g. 16MiB)");
    }
  }

  // A whole number of type T (negative only when T is signed).
  template <class T>
  void whole_number(const YAML::Node& node, const std::string& path, T& out) {
    auto value = text(node, path);
    if (!value) return;
    T n = 0;
    auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
    if (value->empty() || ec != std::errc() || ptr != value->data() + value->size()) {
      add(ConfigErrc::bad_value, node, path,
          "'" + *value + "' is not a whole number" +
              (ec == std::errc::result_out_of_range ? " in range" : ""));
      return;
    }
    out = n;
  }

  void count(const YAML::Node& node, const std::string& path, std::size_t& out) {
    whole_number(node, path, out);
  }

  void real(const YAML::Node& node, const std::string& path, double& out) {
    auto value = text(node, path);
    if (!value) return;
    double d = 0;
    auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), d);
    if (value->empty() || ec != std::errc() || ptr != value->data() + value->size() ||
        !std::isfinite(d)) {
      add(ConfigErrc::bad_value, node, path, "'" + *value + "' is not a number (e.g. 2, 1.5)");
      return;
    }
    out = d;
  }

  void flag(const YAML::Node& node, const std::string& path, bool& out) {
    if (auto b = choice<bool>(node, path, {{"true", true}, {"false", false}})) out = *b;
  }

  std::filesystem::path file_path(const std::string& value) const {
    std::filesystem::path p(value);
    if (p.is_relative() && !base_dir_.empty()) p = base_dir_ / p;
    return p;
  }

  void load_log(const YAML::Node& node) {
    for_each_key(
        node, "log", {"format", "level"},
        [&](const std::string& key, const YAML::Node& value, const std::string& path) {
          if (key == "format") {
            if (auto f = choice<log::Format>(
                    value, path, {{"json", log::Format::json}, {"text", log::Format::text}}))
              out_.config.log.format = *f;
          } else {
            if (auto l = choice<log::Level>(value, path,
                                            {{"debug", log::Level::debug},
                                             {"info", log::Level::info},
                                             {"warn", log::Level::warn},
                                             {"error", log::Level::error},
                                             {"off", log::Level::off}}))
              out_.config.log.level = *l;
          }
        });
  }

  void load_store(const YAML::Node& node) {
    auto url = text(node, "store");
    if (!url) return;
    if (auto problem = store_url_problem(*url)) {
      add(ConfigErrc::bad_value, node, "store", std::move(*problem));
      return;
    }
    out_.config.store = *url;
  }

  void load_node(const YAML::Node& node) {
    auto name = text(node, "node");
    if (!name) return;
    const bool printable = std::all_of(name->begin(), name->end(), [](char c) {
      const auto u = static_cast<unsigned char>(c);
      return u > 0x20 && u < 0x7F;
    });
    if (name->empty() || name->size() > 255 || !printable) {
      add(ConfigErrc::bad_value, node, "node",
          "must be 1-255 printable characters without spaces (e.g. the host name)");
      return;
    }
    out_.config.node = *name;
  }

  bool address(const YAML::Node& node, const std::string& path, ListenAddress& out) {
    auto t = text(node, path);
    if (!t) return false;
    auto parsed = ListenAddress::parse(*t);
    if (!parsed) {
      add(ConfigErrc::bad_address, node, path,
          "'" + *t + "' is not HOST:PORT (e.g. 127.0.0.1:2575, 0.0.0.0:2575, [::1]:2575)");
      return false;
    }
    out = *parsed;
    return true;
  }

  void load_http(const YAML::Node& node) {
    HttpConfig http;
    bool saw_listen = false;
    bool listen_ok = false;
    const bool ok =
        for_each_key(node, "http", {"listen"},
                     [&](const std::string&, const YAML::Node& value, const std::string& path) {
                       saw_listen = true;
                       listen_ok = address(value, path, http.listen);
                     });
    if (!ok) return;
    if (!saw_listen) {
      add(ConfigErrc::missing_key, node, "http.listen", "is required (HOST:PORT)");
      return;
    }
    if (listen_ok) out_.config.http = http;
  }

  static bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64 || std::isalnum(static_cast<unsigned char>(id[0])) == 0) {
      return false;
    }
    return std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    });
  }

  static constexpr std::string_view kIdRule =
      " id is 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit";

  void load_sources(const YAML::Node& node) {
    if (node.IsNull() || (node.IsMap() && node.size() == 0)) {
      add(ConfigErrc::missing_key, node, "sources", "at least one source is required");
      return;
    }
    if (!node.IsMap()) {
      add(ConfigErrc::wrong_type, node, "sources",
          "must be a map of source id to source, not " + node_kind(node));
      return;
    }
    std::set<std::string> ids;
    std::map<std::string, std::string> listens;  // address -> first source id
    for (const auto& entry : node) {
      const std::string id = scalar_key(entry.first);
      const std::string path = "sources." + id;
      remember(path, entry.second);
      source_ids_.insert(id);  // even when broken: a route naming it is not a second error
      if (!valid_id(id)) {
        add(ConfigErrc::bad_value, entry.first, path, "a source" + std::string(kIdRule));
        continue;
      }
      if (!ids.insert(id).second) {
        add(ConfigErrc::duplicate, entry.first, path, "a source with this id is already defined");
        continue;
      }
      auto source = load_source(id, entry.second, path);
      if (!source) continue;
      if (source->listen.port != 0) {
        const std::string address = source->listen.to_string();
        auto [it, inserted] = listens.emplace(address, id);
        if (!inserted) {
          add(ConfigErrc::duplicate, entry.second["listen"], path + ".listen",
              address + " is already the address of source '" + it->second + "'");
        }
      }
      out_.config.sources.push_back(std::move(*source));
    }
  }

  // The `type` of a source or destination, read before the other keys (it decides which exist).
  std::optional<std::string> component_type(const YAML::Node& node, const std::string& path,
                                            std::string_view supported) {
    if (!node.IsMap()) {
      add(ConfigErrc::wrong_type, node, path, "must be a map, not " + node_kind(node));
      return std::nullopt;
    }
    const YAML::Node type = node["type"];
    if (!type) {
      add(ConfigErrc::missing_key, node, path + ".type",
          "is required (supported: " + std::string(supported) + ")");
      return std::nullopt;
    }
    return text(type, path + ".type");
  }

  std::optional<MllpSourceConfig> load_source(const std::string& id, const YAML::Node& node,
                                              const std::string& path) {
    auto type_name = component_type(node, path, "mllp");
    if (!type_name) return std::nullopt;
    if (*type_name != "mllp") {
      add(ConfigErrc::bad_value, node["type"], path + ".type",
          "unsupported source type '" + *type_name + "' (this version supports: mllp)");
      return std::nullopt;
    }

    MllpSourceConfig source;
    source.id = id;
    bool saw_listen = false;
    for_each_key(
        node, path,
        {"type", "listen", "max_message_size", "idle_timeout", "read_timeout", "max_connections",
         "tls", "ack", "ack_mode", "duplicate_window"},
        [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
          if (key == "type") return;
          if (key == "listen") {
            saw_listen = true;
            address(value, key_path, source.listen);
          } else if (key == "max_message_size") {
            size(value, key_path, source.max_message_size);
          } else if (key == "idle_timeout") {
            duration(value, key_path, source.idle_timeout);
          } else if (key == "read_timeout") {
            duration(value, key_path, source.read_timeout);
          } else if (key == "max_connections") {
            count(value, key_path, source.max_connections);
          } else if (key == "tls") {
            source.tls = load_tls(value, key_path);
          } else if (key == "ack_mode") {
            if (auto mode = choice<AckMode>(
                    value, key_path,
                    {{"on-commit", AckMode::on_commit}, {"on-processed", AckMode::on_processed}}))
              source.ack_mode = *mode;
          } else if (key == "duplicate_window") {
            duration(value, key_path, source.duplicate_window);
          } else if (key == "ack") {
            for_each_key(value, key_path, {"application", "facility"},
                         [&](const std::string& k, const YAML::Node& v, const std::string& p) {
                           auto t = text(v, p);
                           if (!t) return;
                           (k == "application" ? source.ack.application : source.ack.facility) = *t;
                         });
          }
        });
    if (!saw_listen) {
      add(ConfigErrc::missing_key, node, path + ".listen", "is required (HOST:PORT)");
    }
    add_problems(source.validate(), path + ".");
    return source;
  }

  std::optional<TlsConfig> load_tls(const YAML::Node& node, const std::string& path) {
    TlsConfig tls;
    const bool ok = for_each_key(
        node, path, {"cert", "key", "ca", "client_cert"},
        [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
          if (key == "client_cert") {
            if (auto mode = choice<ClientCertMode>(value, key_path,
                                                   {{"none", ClientCertMode::none},
                                                    {"optional", ClientCertMode::optional},
                                                    {"required", ClientCertMode::required}}))
              tls.client_cert = *mode;
            return;
          }
          auto t = text(value, key_path);
          if (!t) return;
          if (t->empty()) {
            add(ConfigErrc::bad_value, value, key_path, "must name a file");
            return;
          }
          (key == "cert" ? tls.cert : key == "key" ? tls.key : tls.ca) = file_path(*t);
        });
    if (!ok) return std::nullopt;
    return tls;
  }

  // ---- destinations ----------------------------------------------------------------------------

  void load_destinations(const YAML::Node& node) {
    if (node.IsNull() || (node.IsMap() && node.size() == 0)) return;  // none: journal only
    if (!node.IsMap()) {
      add(ConfigErrc::wrong_type, node, "destinations",
          "must be a map of destination id to destination, not " + node_kind(node));
      return;
    }
    std::set<std::string> ids;
    std::map<std::string, std::string> binds;  // zmq endpoint -> first destination id
    for (const auto& entry : node) {
      const std::string id = scalar_key(entry.first);
      const std::string path = "destinations." + id;
      remember(path, entry.second);
      destination_ids_.insert(id);
      if (!valid_id(id)) {
        add(ConfigErrc::bad_value, entry.first, path, "a destination" + std::string(kIdRule));
        continue;
      }
      if (!ids.insert(id).second) {
        add(ConfigErrc::duplicate, entry.first, path,
            "a destination with this id is already defined");
        continue;
      }
      auto destination = load_destination(id, entry.second, path);
      if (!destination) continue;
      if (const auto* zmq = std::get_if<ZmqDestinationConfig>(&destination->transport)) {
        const auto tcp = zmq_tcp_address(zmq->bind);
        const bool any_port = tcp && tcp->port == 0;
        if (!zmq->bind.empty() && !any_port && !reported(path + ".bind")) {
          auto [it, inserted] = binds.emplace(tcp ? "tcp://" + tcp->to_string() : zmq->bind, id);
          if (!inserted) {
            add_at(ConfigErrc::duplicate, path + ".bind",
                   zmq->bind + " is already bound by destination '" + it->second + "'");
          }
        }
      }
      out_.config.destinations.push_back(std::move(*destination));
    }
  }

  std::optional<DestinationConfig> load_destination(const std::string& id, const YAML::Node& node,
                                                    const std::string& path) {
    auto type_name = component_type(node, path, "mllp, file, zmq-pub");
    if (!type_name) return std::nullopt;
    DestinationConfig destination;
    destination.id = id;
    std::vector<std::string_view> keys{"type", "retry"};
    if (*type_name == "mllp") {
      destination.type = DestinationType::mllp;
      destination.transport = MllpDestinationConfig{};
      keys.insert(keys.end(),
                  {"connect", "connect_timeout", "ack_timeout", "tls", "on_ae", "on_ar"});
    } else if (*type_name == "file") {
      destination.type = DestinationType::file;
      destination.transport = FileDestinationConfig{};
      keys.insert(keys.end(), {"dir", "mode", "name", "fsync"});
    } else if (*type_name == "zmq-pub") {
      destination.type = DestinationType::zmq_pub;
      destination.transport = ZmqDestinationConfig{};
      keys.insert(keys.end(), {"bind", "topic", "high_water_mark"});
    } else {
      add(ConfigErrc::bad_value, node["type"], path + ".type",
          "unsupported destination type '" + *type_name +
              "' (this version supports: mllp, file, zmq-pub)");
      return std::nullopt;
    }

    bool saw_required = false;
    bool saw_name = false;
    for_each_key(
        node, path, keys,
        [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
          if (key == "type") return;
          if (key == "retry") {
            load_retry(value, key_path, destination.retry);
          } else if (auto* mllp = std::get_if<MllpDestinationConfig>(&destination.transport)) {
            load_mllp_destination_key(key, value, key_path, *mllp);
            saw_required = saw_required || key == "connect";
          } else if (auto* file = std::get_if<FileDestinationConfig>(&destination.transport)) {
            load_file_destination_key(key, value, key_path, *file);
            saw_required = saw_required || key == "dir";
            saw_name = saw_name || key == "name";
          } else if (auto* zmq = std::get_if<ZmqDestinationConfig>(&destination.transport)) {
            load_zmq_destination_key(key, value, key_path, *zmq);
            saw_required = saw_required || key == "bind";
          }
        });
    if (!saw_required) {
      const char* required = destination.type == DestinationType::mllp   ? "connect"
                             : destination.type == DestinationType::file ? "dir"
                                                                         : "bind";
      add(ConfigErrc::missing_key, node, path + "." + required,
          destination.type == DestinationType::mllp   ? "is required (HOST:PORT)"
          : destination.type == DestinationType::file ? "is required (a folder)"
                                                      : "is required (tcp://HOST:PORT)");
    }
    if (auto* file = std::get_if<FileDestinationConfig>(&destination.transport);
        file != nullptr && !saw_name) {
      file->name = FileDestinationConfig::default_name(file->mode);
    }
    add_problems(destination.validate(), path + ".");
    return destination;
  }

  void load_retry(const YAML::Node& node, const std::string& path, RetryConfig& retry) {
    for_each_key(node, path, {"initial", "max", "multiplier", "jitter", "max_attempts", "max_age"},
                 [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
                   if (key == "initial") {
                     duration(value, key_path, retry.initial);
                   } else if (key == "max") {
                     duration(value, key_path, retry.max);
                   } else if (key == "multiplier") {
                     real(value, key_path, retry.multiplier);
                   } else if (key == "jitter") {
                     real(value, key_path, retry.jitter);
                   } else if (key == "max_attempts") {
                     whole_number(value, key_path, retry.max_attempts);
                   } else {
                     duration(value, key_path, retry.max_age);
                   }
                 });
  }

  std::optional<NackAction> nack_action(const YAML::Node& node, const std::string& path) {
    return choice<NackAction>(
        node, path, {{"retry", NackAction::retry}, {"dead-letter", NackAction::dead_letter}});
  }

  void load_mllp_destination_key(const std::string& key, const YAML::Node& value,
                                 const std::string& path, MllpDestinationConfig& mllp) {
    if (key == "connect") {
      address(value, path, mllp.connect);
    } else if (key == "connect_timeout") {
      duration(value, path, mllp.connect_timeout);
    } else if (key == "ack_timeout") {
      duration(value, path, mllp.ack_timeout);
    } else if (key == "on_ae") {
      if (auto a = nack_action(value, path)) mllp.on_ae = *a;
    } else if (key == "on_ar") {
      if (auto a = nack_action(value, path)) mllp.on_ar = *a;
    } else if (key == "tls") {
      adapters::TlsClientConfig tls;
      const bool ok = for_each_key(
          value, path, {"ca", "cert", "key", "server_name"},
          [&](const std::string& k, const YAML::Node& v, const std::string& p) {
            auto t = text(v, p);
            if (!t) return;
            if (t->empty()) {
              add(ConfigErrc::bad_value, v, p,
                  k == "server_name" ? "must name the partner's host (leave it out for connect's)"
                                     : "must name a file");
              return;
            }
            if (k == "server_name") {
              tls.server_name = *t;
            } else {
              (k == "ca"     ? tls.ca_file
               : k == "cert" ? tls.cert_chain_file
                             : tls.private_key_file) = file_path(*t).string();
            }
          });
      if (ok) mllp.tls = std::move(tls);
    }
  }

  void load_file_destination_key(const std::string& key, const YAML::Node& value,
                                 const std::string& path, FileDestinationConfig& file) {
    if (key == "dir") {
      auto t = text(value, path);
      if (!t) return;
      if (t->empty()) {
        add(ConfigErrc::bad_value, value, path, "must name a folder");
        return;
      }
      file.dir = *t;  // relative to the working directory, like the sqlite store
    } else if (key == "mode") {
      if (auto mode = choice<FileMode>(
              value, path, {{"per-message", FileMode::per_message}, {"append", FileMode::append}}))
        file.mode = *mode;
    } else if (key == "name") {
      if (auto t = text(value, path)) file.name = *t;
    } else if (key == "fsync") {
      flag(value, path, file.fsync);
    }
  }

  void load_zmq_destination_key(const std::string& key, const YAML::Node& value,
                                const std::string& path, ZmqDestinationConfig& zmq) {
    if (key == "bind") {
      if (auto t = text(value, path)) zmq.bind = *t;
    } else if (key == "topic") {
      if (auto t = text(value, path)) zmq.topic = *t;
    } else if (key == "high_water_mark") {
      whole_number(value, path, zmq.high_water_mark);
    }
  }

  // ---- routes ----------------------------------------------------------------------------------

  void load_routes(const YAML::Node& node) {
    if (node.IsNull()) return;  // no routes: messages are journaled, not delivered
    if (!node.IsSequence()) {
      add(ConfigErrc::wrong_type, node, "routes",
          "must be a list of routes (- name: ...), not " + node_kind(node));
      return;
    }
    std::size_t i = 0;
    for (const auto& item : node) {
      const std::string path = indexed("routes", i++);
      remember(path, item);
      RouteSpec route;
      load_route(item, path, route);
      out_.config.routes.push_back(std::move(route));  // even when broken: indices stay right
    }
  }

  void load_route(const YAML::Node& node, const std::string& path, RouteSpec& route) {
    bool saw_destinations = false;
    bool destinations_ok = false;
    const bool ok = for_each_key(
        node, path,
        {"name", "from", "message", "sending_application", "sending_facility", "conditions",
         "destinations", "map"},
        [&](const std::string& key, const YAML::Node& value, const std::string& key_path) {
          if (key == "name") {
            if (auto t = text(value, key_path)) route.name = *t;
          } else if (key == "from") {
            texts(value, key_path, route.from);
          } else if (key == "message") {
            texts(value, key_path, route.message);
          } else if (key == "destinations") {
            saw_destinations = true;
            destinations_ok = texts(value, key_path, route.destinations);
          } else if (key == "sending_application") {
            if (auto t = text(value, key_path)) route.sending_application = *t;
          } else if (key == "sending_facility") {
            if (auto t = text(value, key_path)) route.sending_facility = *t;
          } else if (key == "map") {
            if (auto t = text(value, key_path)) load_route_mapping(value, key_path, *t, route);
          } else {
            load_conditions(value, key_path, route.conditions);
          }
        });
    if (!ok) return;
    if (!saw_destinations && route.mapping.empty()) {
      add(ConfigErrc::missing_key, node, path + ".destinations",
          "is required: a route sends to at least one destination, or maps (map: FILE)");
    } else if (saw_destinations && destinations_ok && route.destinations.empty()) {
      add_at(ConfigErrc::bad_value, path + ".destinations",
             "a route sends to at least one destination (leave the key out for a route that "
             "only maps)");
    }
  }

  // `map: FILE`: the mapping must load; its own problems are reported with its file and lines.
  void load_route_mapping(const YAML::Node& node, const std::string& path, const std::string& value,
                          RouteSpec& route) {
    const std::filesystem::path file = file_path(value);
    route.mapping = file.string();
    MappingLoad loaded = read_mapping(file);
    if (loaded.ok()) {
      route.compiled_mapping = std::make_shared<const Mapping>(std::move(*loaded.mapping));
      return;
    }
    if (loaded.errors.size() == 1 && loaded.errors[0].code == ConfigErrc::unreadable &&
        loaded.errors[0].where.line == 0) {
      add(ConfigErrc::unreadable, node, path, "cannot read mapping file '" + file.string() + "'");
      return;
    }
    add(ConfigErrc::bad_value, node, path,
        "mapping file '" + file.string() + "' has " + std::to_string(loaded.errors.size()) +
            (loaded.errors.size() == 1 ? " problem" : " problems") + " (listed with it)");
    for (ConfigError& e : loaded.errors) out_.errors.push_back(std::move(e));
  }

  void load_conditions(const YAML::Node& node, const std::string& path,
                       std::vector<ConditionSpec>& conditions) {
    if (!node.IsSequence()) {
      add(ConfigErrc::wrong_type, node, path,
          "must be a list of conditions ({path, op, value}), not " + node_kind(node));
      return;
    }
    std::size_t i = 0;
    for (const auto& item : node) {
      const std::string item_path = indexed(path, i++);
      remember(item_path, item);
      ConditionSpec condition;
      for_each_key(item, item_path, {"path", "op", "value", "values"},
                   [&](const std::string& key, const YAML::Node& value, const std::string& p) {
                     if (key == "values") {
                       texts(value, p, condition.values, /*list_only=*/true);
                       return;
                     }
                     auto t = text(value, p);
                     if (!t) return;
                     if (key == "path") {
                       condition.path = *t;
                     } else if (key == "op") {
                       condition.op = *t;
                     } else {
                       condition.value = *t;
                     }
                   });
      conditions.push_back(std::move(condition));  // even when broken: indices stay right
    }
  }

  // Router::build's problems at their keys, then ids that name no source or destination.
  void check_routes() {
    const std::vector<RouteSpec>& routes = out_.config.routes;
    for (auto& problem : Router::build(routes).problems) {
      std::string key = indexed("routes", problem.route_index);
      if (!problem.problem.key.empty()) key += "." + problem.problem.key;
      if (reported(key)) continue;
      add_at(problem.problem.code, key, std::move(problem.problem.detail));
    }
    for (std::size_t r = 0; r < routes.size(); ++r) {
      const std::string path = indexed("routes", r);
      auto check = [&](const std::vector<std::string>& ids, const char* member,
                       const std::set<std::string>& known, const char* what) {
        for (std::size_t i = 0; i < ids.size(); ++i) {
          const std::string key = indexed(path + "." + member, i);
          if (ids[i].empty() || known.count(ids[i]) != 0 || reported(key)) continue;
          add_at(ConfigErrc::unknown_id, key,
                 "'" + ids[i] + "' is not a " + what + " id (" + what + "s: " + join(known) + ")");
        }
      };
      check(routes[r].from, "from", source_ids_, "source");
      check(routes[r].destinations, "destinations", destination_ids_, "destination");
    }
  }

  // Two listeners on one address: http and zmq tcp endpoints against the sources' addresses.
  void check_addresses() {
    std::map<std::string, std::string> taken;  // address -> who has it
    for (const MllpSourceConfig& source : out_.config.sources) {
      if (source.listen.port != 0) {
        taken.emplace(source.listen.to_string(), "source '" + source.id + "'");
      }
    }
    if (out_.config.http && out_.config.http->listen.port != 0) {
      const std::string address = out_.config.http->listen.to_string();
      if (auto [it, inserted] = taken.emplace(address, "http"); !inserted) {
        add_at(ConfigErrc::duplicate, "http.listen",
               address + " is already the address of " + it->second);
      }
    }
    for (const DestinationConfig& destination : out_.config.destinations) {
      const auto* zmq = std::get_if<ZmqDestinationConfig>(&destination.transport);
      if (zmq == nullptr) continue;
      auto tcp = zmq_tcp_address(zmq->bind);
      if (!tcp || tcp->port == 0) continue;
      const std::string key = "destinations." + destination.id + ".bind";
      if (auto it = taken.find(tcp->to_string()); it != taken.end() && !reported(key)) {
        add_at(ConfigErrc::duplicate, key,
               tcp->to_string() + " is already the address of " + it->second);
      }
    }
  }

  LoadedConfig& out_;
  std::string file_;
  std::filesystem::path base_dir_;
  std::set<std::string> source_ids_;       // every id under sources, valid or not
  std::set<std::string> destination_ids_;  // every id under destinations, valid or not
};

}  // namespace

LoadedConfig parse_config(std::string_view yaml, const std::string& file) {
  LoadedConfig out;
  out.config.file = file;
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& e) {
    Location at{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                e.mark.is_null() ? 0 : e.mark.column + 1};
    out.errors.push_back({ConfigErrc::syntax, std::move(at), "", e.msg});
    return out;
  }
  try {
    Loader(out, file).load_root(root);
  } catch (const YAML::Exception& e) {
    // yaml-cpp throws on odd nodes (aliases, invalid scalars); report, never crash.
    Location at{file, e.mark.is_null() ? 0 : e.mark.line + 1,
                e.mark.is_null() ? 0 : e.mark.column + 1};
    out.errors.push_back({ConfigErrc::syntax, std::move(at), "", e.msg});
  }
  if (out.config.node.empty()) out.config.node = default_node_name();
  // Cross-checks (routes, addresses) run after every section: report in file order.
  std::stable_sort(
      out.errors.begin(), out.errors.end(), [](const ConfigError& a, const ConfigError& b) {
        return std::pair(a.where.line, a.where.column) < std::pair(b.where.line, b.where.column);
      });
  return out;
}

LoadedConfig load_config(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::error_code ec;
  if (!in || std::filesystem::is_directory(file, ec)) {
    LoadedConfig out;
    out.config.file = file;
    out.errors.push_back({ConfigErrc::unreadable, {file.string(), 0, 0}, "", "cannot read file"});
    return out;
  }
  std::ostringstream text;
  text << in.rdbuf();
  return parse_config(text.str(), file.string());
}

namespace {

// Tries to bind host:port as the MLLP listener will (SO_REUSEADDR); "" on success.
std::string try_bind(const ListenAddress& address) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(address.port);
  if (int rc = ::getaddrinfo(address.host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return "cannot resolve '" + address.host + "': " + ::gai_strerror(rc);
  }
  std::string problem = "no address to bind";
  for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
    const int fd = ::socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
      problem = std::string("socket: ") + std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    const bool bound = ::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 1) == 0;
    const int err = errno;
    ::close(fd);
    if (bound) {
      problem.clear();
      break;
    }
    problem = address.to_string() + " cannot be bound: " + std::strerror(err);
  }
  ::freeaddrinfo(found);
  return problem;
}

// Why files cannot be written into `dir` (created when missing) now; "" when they can.
std::string folder_problem(const std::filesystem::path& dir) {
  std::error_code ec;
  std::filesystem::path at = std::filesystem::absolute(dir, ec);
  if (ec) return "cannot resolve '" + dir.string() + "': " + ec.message();
  // The nearest folder that exists: `run` creates the rest below it.
  while (!std::filesystem::exists(at, ec) && at.has_relative_path()) at = at.parent_path();
  if (!std::filesystem::is_directory(at, ec)) {
    return "'" + at.string() + "' is not a folder, so '" + dir.string() + "' cannot be created";
  }
  if (::access(at.c_str(), W_OK | X_OK) != 0) {
    const int err = errno;
    return (at == std::filesystem::absolute(dir, ec)
                ? "'" + dir.string() + "'"
                : "'" + at.string() + "' (to create '" + dir.string() + "')") +
           " is not writable: " + std::strerror(err);
  }
  return {};
}

void add_environment_error(LoadedConfig& loaded, ConfigErrc code, const std::string& key,
                           std::string problem) {
  auto it = loaded.locations.find(key);
  Location at = it != loaded.locations.end() ? it->second : Location{loaded.config.file, 0, 0};
  loaded.errors.push_back({code, std::move(at), key, std::move(problem)});
}

}  // namespace

void check_environment(LoadedConfig& loaded) {
  for (const MllpSourceConfig& source : loaded.config.sources) {
    if (source.listen.port == 0) continue;
    std::string problem = try_bind(source.listen);
    if (problem.empty()) continue;
    add_environment_error(loaded, ConfigErrc::cannot_bind, "sources." + source.id + ".listen",
                          std::move(problem));
  }
  if (loaded.config.http && loaded.config.http->listen.port != 0) {
    if (std::string problem = try_bind(loaded.config.http->listen); !problem.empty()) {
      add_environment_error(loaded, ConfigErrc::cannot_bind, "http.listen", std::move(problem));
    }
  }
  for (const DestinationConfig& destination : loaded.config.destinations) {
    const auto* file = std::get_if<FileDestinationConfig>(&destination.transport);
    if (file == nullptr || file->dir.empty()) continue;
    if (std::string problem = folder_problem(file->dir); !problem.empty()) {
      add_environment_error(loaded, ConfigErrc::not_writable,
                            "destinations." + destination.id + ".dir", std::move(problem));
    }
  }
}

}  // namespace hims::engine
