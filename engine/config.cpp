#include "engine/config.hpp"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

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
    case ConfigErrc::unsupported_section:
      return "unsupported_section";
    case ConfigErrc::cannot_bind:
      return "cannot_bind";
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
  }
  return "unknown";
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

// ---- loader ------------------------------------------------------------------------------------

namespace {

std::string join(std::initializer_list<std::string_view> names) {
  std::string out;
  for (std::string_view n : names) {
    if (!out.empty()) out.append(", ");
    out.append(n);
  }
  return out;
}

std::string node_kind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null:
      return "nothing";
    case YAML::NodeType::Scalar:
      return "a value";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Undefined:
      return "nothing";
  }
  return "nothing";
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
    static constexpr std::array<std::string_view, 3> kLater{"http", "destinations", "routes"};
    bool saw_sources = false;
    std::set<std::string> seen;
    for (const auto& entry : root) {
      const std::string key = scalar_key(entry.first);
      if (!seen.insert(key).second) {
        add(ConfigErrc::duplicate, entry.first, key, "the key appears twice in the file");
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
      } else if (std::find(kLater.begin(), kLater.end(), key) != kLater.end()) {
        add(ConfigErrc::unsupported_section, entry.first, key,
            "not supported by this version of hims-engine yet (it runs MLLP sources and "
            "journals each message before acknowledging it); remove the section");
      } else {
        add(ConfigErrc::unknown_key, entry.first, key,
            "unknown key (expected one of: " + join({"sources", "store", "log"}) + ")");
      }
    }
    if (!saw_sources) {
      add(ConfigErrc::missing_key, root, "sources", "is required: at least one source");
    }
  }

 private:
  void add(ConfigErrc code, const YAML::Node& at, std::string key, std::string detail) {
    out_.errors.push_back({code, where(at), std::move(key), std::move(detail)});
  }

  Location where(const YAML::Node& node) const {
    const YAML::Mark mark = node.Mark();
    if (mark.is_null()) return {file_, 0, 0};
    return {file_, mark.line + 1, mark.column + 1};
  }

  void remember(const std::string& key, const YAML::Node& node) {
    out_.locations.emplace(key, where(node));
  }

  static std::string scalar_key(const YAML::Node& key) {
    return key.IsScalar() ? key.Scalar() : std::string("?");
  }

  // A map node whose keys are checked against `allowed`; calls `each(key, value, path)`.
  template <class F>
  bool for_each_key(const YAML::Node& node, const std::string& path,
                    std::initializer_list<std::string_view> allowed, F&& each) {
    if (!node.IsMap()) {
      add(ConfigErrc::wrong_type, node, path, "must be a map, not " + node_kind(node));
      return false;
    }
    std::set<std::string> seen;
    for (const auto& entry : node) {
      const std::string key = scalar_key(entry.first);
      const std::string child = path + "." + key;
      if (!seen.insert(key).second) {
        add(ConfigErrc::duplicate, entry.first, child, "the key appears twice in this map");
        continue;
      }
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        add(ConfigErrc::unknown_key, entry.first, child,
            "unknown key (expected one of: " + join(allowed) + ")");
        continue;
      }
      remember(child, entry.second);
      each(key, entry.second, child);
    }
    return true;
  }

  std::optional<std::string> text(const YAML::Node& node, const std::string& path) {
    if (!node.IsScalar()) {
      add(ConfigErrc::wrong_type, node, path, "must be a value, not " + node_kind(node));
      return std::nullopt;
    }
    return node.Scalar();
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

  void count(const YAML::Node& node, const std::string& path, std::size_t& out) {
    auto value = text(node, path);
    if (!value) return;
    std::size_t n = 0;
    auto [ptr, ec] = std::from_chars(value->data(), value->data() + value->size(), n);
    if (value->empty() || ec != std::errc() || ptr != value->data() + value->size()) {
      add(ConfigErrc::bad_value, node, path, "'" + *value + "' is not a whole number");
      return;
    }
    out = n;
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

  static bool valid_id(std::string_view id) {
    if (id.empty() || id.size() > 64 || std::isalnum(static_cast<unsigned char>(id[0])) == 0) {
      return false;
    }
    return std::all_of(id.begin(), id.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '_' || c == '.';
    });
  }

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
      if (!valid_id(id)) {
        add(ConfigErrc::bad_value, entry.first, path,
            "a source id is 1-64 letters, digits, '-', '_' or '.', starting with a letter or "
            "digit");
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

  std::optional<MllpSourceConfig> load_source(const std::string& id, const YAML::Node& node,
                                              const std::string& path) {
    if (!node.IsMap()) {
      add(ConfigErrc::wrong_type, node, path, "must be a map, not " + node_kind(node));
      return std::nullopt;
    }
    // The type decides which keys exist; look at it first.
    const YAML::Node type = node["type"];
    if (!type) {
      add(ConfigErrc::missing_key, node, path + ".type", "is required (supported: mllp)");
      return std::nullopt;
    }
    auto type_name = text(type, path + ".type");
    if (!type_name) return std::nullopt;
    if (*type_name != "mllp") {
      add(ConfigErrc::bad_value, type, path + ".type",
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
            auto t = text(value, key_path);
            if (!t) return;
            if (auto address = ListenAddress::parse(*t)) {
              source.listen = *address;
            } else {
              add(ConfigErrc::bad_address, value, key_path,
                  "'" + *t + "' is not HOST:PORT (e.g. 127.0.0.1:2575, 0.0.0.0:2575, [::1]:2575)");
            }
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
            auto mode = text(value, key_path);
            if (!mode) return;
            if (*mode == "on-commit") {
              source.ack_mode = AckMode::on_commit;
            } else if (*mode == "on-processed") {
              add(ConfigErrc::bad_value, value, key_path,
                  "'on-processed' is not supported until routes and mappings exist; use "
                  "on-commit (the default)");
            } else {
              add(ConfigErrc::bad_value, value, key_path,
                  "'" + *mode + "' is not one of: on-commit (on-processed comes with routes)");
            }
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
    // Semantic checks; a key that already has an error is not reported twice.
    {
      for (auto& problem : source.validate()) {
        const std::string key = path + "." + problem.key;
        if (std::any_of(out_.errors.begin(), out_.errors.end(),
                        [&](const ConfigError& e) { return e.key == key; })) {
          continue;
        }
        auto it = out_.locations.find(key);
        if (it == out_.locations.end()) {
          // A missing key: point at the deepest parent that exists.
          std::string parent = key;
          while (it == out_.locations.end() && parent.rfind('.') != std::string::npos) {
            parent.resize(parent.rfind('.'));
            it = out_.locations.find(parent);
          }
        }
        Location at = it != out_.locations.end() ? it->second : where(node);
        out_.errors.push_back({problem.code, std::move(at), key, std::move(problem.detail)});
      }
    }
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

  LoadedConfig& out_;
  std::string file_;
  std::filesystem::path base_dir_;
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

}  // namespace

void check_environment(LoadedConfig& loaded) {
  for (const MllpSourceConfig& source : loaded.config.sources) {
    if (source.listen.port == 0) continue;
    std::string problem = try_bind(source.listen);
    if (problem.empty()) continue;
    const std::string key = "sources." + source.id + ".listen";
    auto it = loaded.locations.find(key);
    Location at = it != loaded.locations.end() ? it->second : Location{loaded.config.file, 0, 0};
    loaded.errors.push_back({ConfigErrc::cannot_bind, std::move(at), key, std::move(problem)});
  }
}

}  // namespace hims::engine
