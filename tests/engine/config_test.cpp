// Tests of the YAML configuration: defaults, every key, every kind of error with its file, line
// and key path, errors collected rather than stopping at the first, and the shipped samples.
#include "engine/config.hpp"
#include "tests/support/temp_dir.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "tests/support/corpus.hpp"

namespace hims::engine {
namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

std::string dump(const LoadedConfig& loaded) {
  std::string out;
  for (const auto& e : loaded.errors) out += "  " + e.to_string() + "\n";
  return out;
}

// Expects exactly one error with this code, line and key; returns it.
ConfigError expect_error(const LoadedConfig& loaded, ConfigErrc code, int line,
                         const std::string& key) {
  for (const auto& e : loaded.errors) {
    if (e.code == code && e.where.line == line && e.key == key) return e;
  }
  ADD_FAILURE() << "no " << to_string(code) << " error at line " << line << " key '" << key
                << "'; errors:\n"
                << dump(loaded);
  return {};
}

LoadedConfig parse(const std::string& yaml) { return parse_config(yaml, "test.yaml"); }

using test::TempDir;

TEST(Config, MinimalSourceGetsDefaults) {
  auto loaded = parse("sources:\n  lab:\n    type: mllp\n    listen: 127.0.0.1:2575\n");
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  ASSERT_EQ(loaded.config.sources.size(), 1u);
  const MllpSourceConfig& s = loaded.config.sources[0];
  EXPECT_EQ(s.id, "lab");
  EXPECT_EQ(s.listen.host, "127.0.0.1");
  EXPECT_EQ(s.listen.port, 2575);
  EXPECT_EQ(s.max_message_size, 16u << 20);
  EXPECT_EQ(s.idle_timeout, minutes(5));
  EXPECT_EQ(s.read_timeout, seconds(30));
  EXPECT_EQ(s.max_connections, 256u);
  EXPECT_FALSE(s.tls.has_value());
  EXPECT_EQ(s.ack.application, "HIMS");
  EXPECT_EQ(s.ack.facility, "HIMS");
  EXPECT_EQ(s.ack_mode, AckMode::on_commit);
  EXPECT_EQ(s.duplicate_window, minutes(5));
  EXPECT_EQ(loaded.config.store, "sqlite:var/hims.db");
  EXPECT_EQ(loaded.config.log.format, log::Format::json);
  EXPECT_EQ(loaded.config.log.level, log::Level::info);
}

TEST(Config, EveryKeyIsRead) {
  TempDir dir;
  dir.write("server.pem", "cert");
  dir.write("server.key", "key");
  dir.write("ca.pem", "ca");
  const auto file = dir.write("engine.yaml", R"(log: {format: text, level: debug}
store: postgresql://hims@127.0.0.1:5432/hims
sources:
  lab-results:
    type: mllp
    listen: "[::1]:0"
    max_message_size: 512KiB
    idle_timeout: 90s
    read_timeout: 1500ms
    max_connections: 8
    tls: {cert: server.pem, key: server.key, ca: ca.pem, client_cert: required}
    ack: {application: HIMS-TEST, facility: WARD-4}
    ack_mode: on-commit
    duplicate_window: 10m
  adt_in:
    type: mllp
    listen: localhost:2576
    duplicate_window: 0s
)");
  auto loaded = load_config(file);
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  EXPECT_EQ(loaded.config.log.format, log::Format::text);
  EXPECT_EQ(loaded.config.log.level, log::Level::debug);
  ASSERT_EQ(loaded.config.sources.size(), 2u);
  const MllpSourceConfig& s = loaded.config.sources[0];
  EXPECT_EQ(s.id, "lab-results");
  EXPECT_EQ(s.listen.host, "::1");
  EXPECT_EQ(s.listen.port, 0);
  EXPECT_EQ(s.max_message_size, 512u * 1024);
  EXPECT_EQ(s.idle_timeout, seconds(90));
  EXPECT_EQ(s.read_timeout, milliseconds(1500));
  EXPECT_EQ(s.max_connections, 8u);
  ASSERT_TRUE(s.tls.has_value());
  // Relative paths are relative to the config file.
  EXPECT_EQ(s.tls->cert, dir.path() / "server.pem");
  EXPECT_EQ(s.tls->key, dir.path() / "server.key");
  EXPECT_EQ(s.tls->ca, dir.path() / "ca.pem");
  EXPECT_EQ(s.tls->client_cert, ClientCertMode::required);
  EXPECT_EQ(s.ack.application, "HIMS-TEST");
  EXPECT_EQ(s.ack.facility, "WARD-4");
  EXPECT_EQ(s.ack_mode, AckMode::on_commit);
  EXPECT_EQ(s.duplicate_window, minutes(10));
  EXPECT_EQ(loaded.config.store, "postgresql://hims@127.0.0.1:5432/hims");
  EXPECT_EQ(loaded.config.sources[1].duplicate_window, milliseconds(0));
  EXPECT_EQ(loaded.config.sources[1].id, "adt_in");
  EXPECT_EQ(loaded.config.sources[1].listen.host, "localhost");
}

TEST(Config, SampleConfigLoads) {
  auto loaded = load_config(test::source_dir() / "samples" / "hims-engine.yaml");
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  ASSERT_EQ(loaded.config.sources.size(), 1u);
  EXPECT_EQ(loaded.config.sources[0].id, "lab-results");
  EXPECT_EQ(loaded.config.sources[0].listen.to_string(), "127.0.0.1:2575");
}

// Every engine configuration shipped under samples/ loads without error. (Route sets under
// routes/ are not engine configurations; the route loader's tests read those.)
TEST(Config, EveryConfigUnderSamplesLoads) {
  std::size_t configs = 0;
  for (const auto& file : test::files_under(test::source_dir() / "samples", {".yaml", ".yml"})) {
    ++configs;
    auto loaded = load_config(file);
    EXPECT_TRUE(loaded.ok()) << file << "\n" << dump(loaded);
  }
  EXPECT_GE(configs, 1u);
}

TEST(Config, UnreadableFile) {
  auto loaded = load_config("/nonexistent/hims.yaml");
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].code, ConfigErrc::unreadable);
  EXPECT_EQ(loaded.errors[0].where.file, "/nonexistent/hims.yaml");
  EXPECT_EQ(loaded.errors[0].to_string(), "/nonexistent/hims.yaml: cannot read file");
}

TEST(Config, YamlSyntaxErrorHasLine) {
  auto loaded = parse("sources:\n  lab:\n    type: mllp\n    listen: [127.0.0.1:2575\n");
  ASSERT_EQ(loaded.errors.size(), 1u) << dump(loaded);
  EXPECT_EQ(loaded.errors[0].code, ConfigErrc::syntax);
  EXPECT_GT(loaded.errors[0].where.line, 3);
  EXPECT_EQ(loaded.errors[0].where.file, "test.yaml");
}

TEST(Config, EmptyFileNeedsSources) {
  auto loaded = parse("");
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].code, ConfigErrc::missing_key);
}

TEST(Config, TopLevelMustBeAMap) {
  auto loaded = parse("- a\n- b\n");
  ASSERT_EQ(loaded.errors.size(), 1u);
  EXPECT_EQ(loaded.errors[0].code, ConfigErrc::wrong_type);
  EXPECT_EQ(loaded.errors[0].where.line, 1);
}

TEST(Config, UnknownKeysAreErrorsAtTheirLine) {
  auto loaded = parse(R"(sources:
  lab:
    type: mllp
    listen: 127.0.0.1:2575
    listne: 127.0.0.1:2576
    tls: {cert: a, key: b, verify: yes}
    ack: {app: X}
logging: {}
log: {colour: red}
)");
  expect_error(loaded, ConfigErrc::unknown_key, 5, "sources.lab.listne");
  expect_error(loaded, ConfigErrc::unknown_key, 6, "sources.lab.tls.verify");
  expect_error(loaded, ConfigErrc::unknown_key, 7, "sources.lab.ack.app");
  expect_error(loaded, ConfigErrc::unknown_key, 8, "logging");
  expect_error(loaded, ConfigErrc::unknown_key, 9, "log.colour");
  const auto e = expect_error(loaded, ConfigErrc::unknown_key, 5, "sources.lab.listne");
  EXPECT_NE(e.detail.find("listen"), std::string::npos) << "names the valid keys: " << e.detail;
  EXPECT_EQ(e.to_string().rfind("test.yaml:5:5: sources.lab.listne: unknown key", 0), 0u)
      << e.to_string();
}

TEST(Config, MissingKeys) {
  auto loaded = parse(R"(log: {level: info}
)");
  expect_error(loaded, ConfigErrc::missing_key, 1, "sources");

  loaded = parse(R"(sources:
  lab:
    listen: 127.0.0.1:2575
  adt:
    type: mllp
  secure:
    type: mllp
    listen: 127.0.0.1:2577
    tls: {key: k.pem}
)");
  expect_error(loaded, ConfigErrc::missing_key, 3, "sources.lab.type");
  expect_error(loaded, ConfigErrc::missing_key, 5, "sources.adt.listen");
  expect_error(loaded, ConfigErrc::missing_key, 9, "sources.secure.tls.cert");

  loaded = parse("sources: {}\n");
  expect_error(loaded, ConfigErrc::missing_key, 1, "sources");
}

TEST(Config, WrongTypes) {
  auto loaded = parse(R"(sources:
  lab:
    type: mllp
    listen: [127.0.0.1, 2575]
    tls: yes
  other: just-a-string
log: text
)");
  expect_error(loaded, ConfigErrc::wrong_type, 4, "sources.lab.listen");
  expect_error(loaded, ConfigErrc::wrong_type, 5, "sources.lab.tls");
  expect_error(loaded, ConfigErrc::wrong_type, 6, "sources.other");
  expect_error(loaded, ConfigErrc::wrong_type, 7, "log");

  loaded = parse("sources: [lab]\n");
  expect_error(loaded, ConfigErrc::wrong_type, 1, "sources");
}

TEST(Config, BadValues) {
  // Named as a file in samples/ so the relative tls paths resolve to a readable file.
  auto loaded = parse_config(R"(log:
  format: xml
  level: verbose
sources:
  lab:
    type: file
  adt:
    type: mllp
    listen: 127.0.0.1:2576
    max_connections: many
  orders:
    type: mllp
    listen: 127.0.0.1:2577
    max_connections: 0
    tls: {cert: hims-engine.yaml, key: hims-engine.yaml, client_cert: sometimes}
  "bad id!":
    type: mllp
    listen: 127.0.0.1:2578
  acks:
    type: mllp
    listen: 127.0.0.1:2579
    ack: {application: "A|B"}
)",
                             (test::source_dir() / "samples" / "test.yaml").string());
  expect_error(loaded, ConfigErrc::bad_value, 2, "log.format");
  expect_error(loaded, ConfigErrc::bad_value, 3, "log.level");
  expect_error(loaded, ConfigErrc::bad_value, 6, "sources.lab.type");
  expect_error(loaded, ConfigErrc::bad_value, 10, "sources.adt.max_connections");
  expect_error(loaded, ConfigErrc::bad_value, 14, "sources.orders.max_connections");
  expect_error(loaded, ConfigErrc::bad_value, 15, "sources.orders.tls.client_cert");
  expect_error(loaded, ConfigErrc::bad_value, 16, "sources.bad id!");
  expect_error(loaded, ConfigErrc::bad_value, 22, "sources.acks.ack.application");
  EXPECT_EQ(loaded.errors.size(), 8u) << dump(loaded);
}

TEST(Config, BadDurationsAndSizes) {
  auto loaded = parse(R"(sources:
  lab:
    type: mllp
    listen: 127.0.0.1:2575
    idle_timeout: 5
    read_timeout: 30 seconds
    max_message_size: 16777216
  adt:
    type: mllp
    listen: 127.0.0.1:2576
    max_message_size: 16mb
    read_timeout: 0s
    idle_timeout: -1s
  big:
    type: mllp
    listen: 127.0.0.1:2577
    max_message_size: 2GiB
)");
  expect_error(loaded, ConfigErrc::bad_duration, 5, "sources.lab.idle_timeout");
  expect_error(loaded, ConfigErrc::bad_duration, 6, "sources.lab.read_timeout");
  expect_error(loaded, ConfigErrc::bad_size, 7, "sources.lab.max_message_size");
  expect_error(loaded, ConfigErrc::bad_size, 11, "sources.adt.max_message_size");
  expect_error(loaded, ConfigErrc::bad_value, 12, "sources.adt.read_timeout");
  expect_error(loaded, ConfigErrc::bad_duration, 13, "sources.adt.idle_timeout");
  expect_error(loaded, ConfigErrc::bad_value, 17, "sources.big.max_message_size");
}

TEST(Config, BadAddresses) {
  auto loaded = parse(R"(sources:
  a: {type: mllp, listen: 127.0.0.1}
  b: {type: mllp, listen: "127.0.0.1:99999"}
  c: {type: mllp, listen: ":2575"}
  d: {type: mllp, listen: "::1:2575"}
  e: {type: mllp, listen: "host name:2575"}
  f: {type: mllp, listen: "127.0.0.1:25x"}
)");
  for (int line = 2; line <= 7; ++line) {
    const std::string key = std::string("sources.") + static_cast<char>('a' + line - 2) + ".listen";
    expect_error(loaded, ConfigErrc::bad_address, line, key);
  }
}

TEST(Config, DuplicateListenAddress) {
  auto loaded = parse(R"(sources:
  lab: {type: mllp, listen: 127.0.0.1:2575}
  adt: {type: mllp, listen: 127.0.0.1:2575}
  any1: {type: mllp, listen: 127.0.0.1:0}
  any2: {type: mllp, listen: 127.0.0.1:0}
)");
  ASSERT_EQ(loaded.errors.size(), 1u) << dump(loaded);
  const auto e = expect_error(loaded, ConfigErrc::duplicate, 3, "sources.adt.listen");
  EXPECT_NE(e.detail.find("'lab'"), std::string::npos) << e.detail;
}

TEST(Config, DuplicateKeys) {
  auto loaded = parse(R"(sources:
  lab:
    type: mllp
    listen: 127.0.0.1:2575
    listen: 127.0.0.1:2576
  lab:
    type: mllp
    listen: 127.0.0.1:2577
log: {level: info}
log: {level: debug}
)");
  expect_error(loaded, ConfigErrc::duplicate, 5, "sources.lab.listen");
  expect_error(loaded, ConfigErrc::duplicate, 6, "sources.lab");
  expect_error(loaded, ConfigErrc::duplicate, 10, "log");
}

TEST(Config, SectionsOfLaterVersionsAreRejectedClearly) {
  auto loaded = parse(R"(store: sqlite:var/hims.db
http: {listen: 127.0.0.1:8080}
sources:
  lab: {type: mllp, listen: 127.0.0.1:2575}
destinations:
  acme: {type: mllp, connect: 127.0.0.1:6661}
routes:
  - {name: lab results in, from: lab}
)");
  // `store` is accepted now; the others come with routes and destinations.
  expect_error(loaded, ConfigErrc::unsupported_section, 2, "http");
  expect_error(loaded, ConfigErrc::unsupported_section, 5, "destinations");
  const auto e = expect_error(loaded, ConfigErrc::unsupported_section, 7, "routes");
  EXPECT_NE(e.detail.find("not supported"), std::string::npos);
  EXPECT_EQ(loaded.errors.size(), 3u) << dump(loaded);
  EXPECT_EQ(loaded.config.store, "sqlite:var/hims.db");
}

TEST(Config, StoreUrls) {
  for (const char* good : {"sqlite:var/hims.db", "sqlite:/tmp/x/hims.db",
                           "postgresql://hims@127.0.0.1:5432/hims", "postgres://db/hims"}) {
    auto loaded = parse(std::string("store: ") + good +
                        "\nsources:\n  lab: {type: mllp, listen: 127.0.0.1:2575}\n");
    EXPECT_TRUE(loaded.ok()) << good << "\n" << dump(loaded);
    EXPECT_EQ(loaded.config.store, good);
  }
  for (const char* bad : {"mysql://db/hims", "var/hims.db", "'sqlite:'", "sqlite:var/",
                          "'sqlite::memory:'", "'postgresql://'", "\"\""}) {
    auto loaded = parse(std::string("sources:\n  lab: {type: mllp, listen: 127.0.0.1:2575}\n") +
                        "store: " + bad + "\n");
    const auto e = expect_error(loaded, ConfigErrc::bad_value, 3, "store");
    EXPECT_EQ(loaded.errors.size(), 1u) << bad << "\n" << dump(loaded);
  }
  auto map = parse("store: {url: x}\nsources:\n  lab: {type: mllp, listen: 127.0.0.1:2575}\n");
  expect_error(map, ConfigErrc::wrong_type, 1, "store");
  // A password never reaches an error or a log line.
  auto secret = parse(
      "store: mysql://hims:s3cret@db/hims\nsources:\n  lab: {type: mllp, listen: "
      "127.0.0.1:2575}\n");
  ASSERT_EQ(secret.errors.size(), 1u);
  EXPECT_EQ(secret.errors[0].detail.find("s3cret"), std::string::npos) << dump(secret);
  EXPECT_EQ(redact_store_url("postgresql://hims:s3cret@db:5432/hims"),
            "postgresql://hims:***@db:5432/hims");
  EXPECT_EQ(redact_store_url("postgresql://hims@db/hims?password=s3cret&sslmode=require"),
            "postgresql://hims@db/hims?password=***&sslmode=require");
  EXPECT_EQ(redact_store_url("sqlite:var/hims.db"), "sqlite:var/hims.db");
}

TEST(Config, AckModeAndDuplicateWindow) {
  auto loaded = parse(R"(sources:
  a:
    type: mllp
    listen: 127.0.0.1:2575
    ack_mode: on-processed
  b:
    type: mllp
    listen: 127.0.0.1:2576
    ack_mode: later
  c:
    type: mllp
    listen: 127.0.0.1:2577
    duplicate_window: 5
  d:
    type: mllp
    listen: 127.0.0.1:2578
    duplicate_window: 1500ms
  e:
    type: mllp
    listen: 127.0.0.1:2579
    duplicate_window: 30d
)");
  const auto processed = expect_error(loaded, ConfigErrc::bad_value, 5, "sources.a.ack_mode");
  EXPECT_NE(processed.detail.find("not supported until routes and mappings exist"),
            std::string::npos)
      << processed.detail;
  expect_error(loaded, ConfigErrc::bad_value, 9, "sources.b.ack_mode");
  expect_error(loaded, ConfigErrc::bad_duration, 13, "sources.c.duplicate_window");
  expect_error(loaded, ConfigErrc::bad_value, 17, "sources.d.duplicate_window");
  expect_error(loaded, ConfigErrc::bad_value, 21, "sources.e.duplicate_window");
  EXPECT_EQ(loaded.errors.size(), 5u) << dump(loaded);
}

TEST(Config, TlsFilesMustBeReadable) {
  TempDir dir;
  dir.write("server.pem", "cert");
  const auto file = dir.write("engine.yaml", R"(sources:
  lab:
    type: mllp
    listen: 127.0.0.1:2575
    tls:
      cert: server.pem
      key: missing.key
      client_cert: optional
)");
  auto loaded = load_config(file);
  const auto e = expect_error(loaded, ConfigErrc::unreadable, 7, "sources.lab.tls.key");
  EXPECT_NE(e.detail.find("missing.key"), std::string::npos);
  expect_error(loaded, ConfigErrc::missing_key, 6, "sources.lab.tls.ca");  // the tls map
  EXPECT_EQ(loaded.errors.size(), 2u) << dump(loaded);
  EXPECT_EQ(e.where.file, file.string());
}

TEST(Config, AllErrorsAreCollectedInFileOrder) {
  auto loaded = parse(R"(sources:
  a: {type: mllp, listen: nowhere, idle_timeout: soon, max_message_size: huge}
  b: {type: mllp, listen: 127.0.0.1:1, read_timeout: 1y}
log: {level: loud}
)");
  ASSERT_EQ(loaded.errors.size(), 5u) << dump(loaded);
  for (std::size_t i = 1; i < loaded.errors.size(); ++i) {
    EXPECT_LE(loaded.errors[i - 1].where.line, loaded.errors[i].where.line);
  }
}

TEST(Config, ErrorConvertsToResultError) {
  auto loaded = parse("sources:\n  lab: {type: mllp, listen: 127.0.0.1:2575, idle_timeout: 5}\n");
  ASSERT_EQ(loaded.errors.size(), 1u);
  const Error e = loaded.errors[0].to_error();
  EXPECT_TRUE(e.is(ConfigErrc::bad_duration));
  EXPECT_EQ(e.where(), "test.yaml:2:59 sources.lab.idle_timeout");
}

TEST(Config, CheckEnvironmentReportsPortInUse) {
  // Hold a listening socket on a free port, then ask check_environment about that port.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const int port = ntohs(addr.sin_port);

  auto loaded =
      parse("sources:\n  lab:\n    type: mllp\n    listen: 127.0.0.1:" + std::to_string(port) +
            "\n  any:\n    type: mllp\n    listen: 127.0.0.1:0\n");
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  check_environment(loaded);
  ::close(fd);
  ASSERT_EQ(loaded.errors.size(), 1u) << dump(loaded);
  expect_error(loaded, ConfigErrc::cannot_bind, 4, "sources.lab.listen");

  // Once released, the same port is fine.
  loaded.errors.clear();
  check_environment(loaded);
  EXPECT_TRUE(loaded.ok()) << dump(loaded);
}

TEST(ConfigStructs, DefaultsAreValid) {
  EXPECT_TRUE(MllpSourceConfig{}.validate().empty());
  EXPECT_TRUE(AckConfig{}.validate().empty());
}

TEST(ConfigStructs, ValidateNamesRelativeKeys) {
  MllpSourceConfig source;
  source.max_connections = 0;
  source.ack.facility = "A^B";
  source.tls = TlsConfig{};
  source.tls->client_cert = ClientCertMode::required;
  std::vector<std::string> keys;
  for (const auto& p : source.validate()) keys.push_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"max_connections", "ack.facility", "tls.cert",
                                            "tls.key", "tls.ca"}));
  TlsConfig tls;
  tls.cert = test::source_dir() / "samples" / "hims-engine.yaml";  // any readable file
  tls.key = tls.cert;
  EXPECT_TRUE(tls.validate().empty());
  tls.ca = "/nonexistent/ca.pem";
  ASSERT_EQ(tls.validate().size(), 1u);
  EXPECT_EQ(tls.validate()[0].code, ConfigErrc::unreadable);
}

TEST(Units, Durations) {
  EXPECT_EQ(parse_duration("30s"), seconds(30));
  EXPECT_EQ(parse_duration("5m"), minutes(5));
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("2h"), std::chrono::hours(2));
  EXPECT_EQ(parse_duration("1d"), std::chrono::hours(24));
  EXPECT_EQ(parse_duration("0s"), milliseconds(0));
  for (const char* bad :
       {"", "s", "5", "5 m", "-1s", "1.5s", "5min", "5M", "99999999999999999999d"}) {
    EXPECT_FALSE(parse_duration(bad).has_value()) << bad;
  }
  EXPECT_EQ(format_duration(minutes(5)), "5m");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(format_duration(seconds(30)), "30s");
}

TEST(Units, Sizes) {
  EXPECT_EQ(parse_size("16MiB"), 16u << 20);
  EXPECT_EQ(parse_size("512KiB"), 512u << 10);
  EXPECT_EQ(parse_size("1GiB"), 1u << 30);
  EXPECT_EQ(parse_size("10MB"), 10'000'000u);
  EXPECT_EQ(parse_size("100B"), 100u);
  for (const char* bad : {"", "16", "16mib", "MiB", "1.5MiB", "-1B", "99999999999999GiB"}) {
    EXPECT_FALSE(parse_size(bad).has_value()) << bad;
  }
  EXPECT_EQ(format_size(16u << 20), "16MiB");
  EXPECT_EQ(format_size(1000), "1000B");
}

TEST(Units, ListenAddress) {
  auto a = ListenAddress::parse("0.0.0.0:2575");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "0.0.0.0");
  EXPECT_EQ(a->port, 2575);
  auto v6 = ListenAddress::parse("[::1]:0");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->to_string(), "[::1]:0");
  EXPECT_FALSE(ListenAddress::parse("[::1]"));
  EXPECT_FALSE(ListenAddress::parse("127.0.0.1:65536"));
  EXPECT_FALSE(ListenAddress::parse("127.0.0.1:"));
}

}  // namespace
}  // namespace hims::engine
