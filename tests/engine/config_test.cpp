// Tests of the YAML configuration: defaults, every key, every kind of error with its file, line
// and key path, errors collected rather than stopping at the first, and the shipped samples.
#include "engine/config.hpp"
#include "tests/support/temp_dir.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <variant>
#include <vector>

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

// The sample routes ADT from one MLLP source to an MLLP and a file destination. (Every file under
// samples/ and routes/ is loaded by config_files_test.cpp.)
TEST(Config, SampleConfigLoads) {
  auto loaded = load_config(test::source_dir() / "samples" / "hims-engine.yaml");
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  const Config& c = loaded.config;
  ASSERT_GE(c.sources.size(), 1u);
  EXPECT_EQ(c.sources[0].id, "adt-in");
  EXPECT_EQ(c.sources[0].listen.to_string(), "127.0.0.1:2575");
  ASSERT_TRUE(c.http.has_value());
  EXPECT_EQ(c.http->listen.to_string(), "127.0.0.1:8080");
  ASSERT_EQ(c.destinations.size(), 2u);
  EXPECT_EQ(c.destinations[0].id, "ehr-adt");
  EXPECT_EQ(c.destinations[0].type, DestinationType::mllp);
  EXPECT_EQ(std::get<MllpDestinationConfig>(c.destinations[0].transport).connect.to_string(),
            "127.0.0.1:2576");
  EXPECT_EQ(c.destinations[1].id, "adt-archive");
  EXPECT_EQ(std::get<FileDestinationConfig>(c.destinations[1].transport).dir,
            "var/outbox/adt-archive");
  ASSERT_GE(c.routes.size(), 1u);
  EXPECT_EQ(c.routes[0].name, "adt to ehr");
  EXPECT_EQ(c.routes[0].from, std::vector<std::string>{"adt-in"});
  EXPECT_EQ(c.routes[0].message, std::vector<std::string>{"ADT^*"});
  EXPECT_EQ(c.routes[0].destinations, (std::vector<std::string>{"ehr-adt", "adt-archive"}));
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
  const auto later = expect_error(loaded, ConfigErrc::bad_value, 9, "sources.b.ack_mode");
  EXPECT_NE(later.detail.find("on-commit, on-processed"), std::string::npos) << later.detail;
  expect_error(loaded, ConfigErrc::bad_duration, 13, "sources.c.duplicate_window");
  expect_error(loaded, ConfigErrc::bad_value, 17, "sources.d.duplicate_window");
  expect_error(loaded, ConfigErrc::bad_value, 21, "sources.e.duplicate_window");
  EXPECT_EQ(loaded.errors.size(), 4u) << dump(loaded);
  ASSERT_EQ(loaded.config.sources.size(), 5u);
  EXPECT_EQ(loaded.config.sources[0].ack_mode, AckMode::on_processed);
  EXPECT_EQ(to_string(AckMode::on_processed), "on-processed");
  EXPECT_EQ(to_string(AckMode::on_commit), "on-commit");
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

// ---- node, http, destinations, routes ----------------------------------------------------------

constexpr const char* kOneSource = "sources:\n  lab: {type: mllp, listen: 127.0.0.1:2575}\n";

TEST(Config, NewSectionsDefaultToNothing) {
  auto loaded = parse(kOneSource);
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  EXPECT_FALSE(loaded.config.http.has_value());
  EXPECT_TRUE(loaded.config.destinations.empty());
  EXPECT_TRUE(loaded.config.routes.empty());
  EXPECT_EQ(loaded.config.node, default_node_name());
  EXPECT_FALSE(loaded.config.node.empty());
  // Empty sections are allowed: the engine journals and delivers nothing.
  loaded = parse(std::string(kOneSource) + "destinations: {}\nroutes: []\n");
  EXPECT_TRUE(loaded.ok()) << dump(loaded);
  loaded = parse(std::string(kOneSource) + "destinations:\nroutes:\n");
  EXPECT_TRUE(loaded.ok()) << dump(loaded);
}

TEST(Config, EveryNewKeyIsRead) {
  TempDir dir;
  dir.write("partner-ca.pem", "ca");
  dir.write("client.pem", "cert");
  dir.write("client.key", "key");
  const auto file = dir.write("engine.yaml", R"(node: engine-1
http: {listen: "127.0.0.1:0"}
sources:
  lab-results: {type: mllp, listen: 127.0.0.1:0, ack_mode: on-processed}
  adt-in: {type: mllp, listen: 127.0.0.1:0}
destinations:
  acme-lab:
    type: mllp
    connect: lab.example.org:6661
    connect_timeout: 5s
    ack_timeout: 1m
    on_ae: dead-letter
    on_ar: retry
    tls: {ca: partner-ca.pem, cert: client.pem, key: client.key, server_name: lab.example.org}
    retry: {initial: 500ms, max: 10m, multiplier: 1.5, jitter: 0, max_attempts: 12, max_age: 2d}
  archive:
    type: file
    dir: var/outbox/archive
    mode: append
    name: "{route}-{date}-{time}.hl7"
    fsync: false
  events:
    type: zmq-pub
    bind: tcp://127.0.0.1:5556
    topic: hims
    high_water_mark: 500
  raw-files: {type: file, dir: /tmp/out}
routes:
  - name: lab results
    from: [lab-results]
    message: [ORU^R01, ORU^R03]
    sending_application: LAB*
    sending_facility: NORTH
    conditions:
      - {path: "PID-3[*].5", op: equals, value: MR}
      - {path: "PV1-2", op: in, values: [I, E]}
    destinations: [acme-lab, archive]
  - name: everything
    from: adt-in
    message: "*"
    destinations: events
)");
  auto loaded = load_config(file);
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  const Config& c = loaded.config;
  EXPECT_EQ(c.node, "engine-1");
  ASSERT_TRUE(c.http.has_value());
  EXPECT_EQ(c.http->listen.to_string(), "127.0.0.1:0");
  EXPECT_EQ(c.sources[0].ack_mode, AckMode::on_processed);
  EXPECT_EQ(c.sources[1].ack_mode, AckMode::on_commit);

  ASSERT_EQ(c.destinations.size(), 4u);
  const DestinationConfig& acme = c.destinations[0];
  EXPECT_EQ(acme.id, "acme-lab");
  EXPECT_EQ(acme.type, DestinationType::mllp);
  EXPECT_EQ(acme.retry.initial, milliseconds(500));
  EXPECT_EQ(acme.retry.max, minutes(10));
  EXPECT_DOUBLE_EQ(acme.retry.multiplier, 1.5);
  EXPECT_DOUBLE_EQ(acme.retry.jitter, 0.0);
  EXPECT_EQ(acme.retry.max_attempts, 12);
  EXPECT_EQ(acme.retry.max_age, std::chrono::hours(48));
  const auto& mllp = std::get<MllpDestinationConfig>(acme.transport);
  EXPECT_EQ(mllp.connect.host, "lab.example.org");
  EXPECT_EQ(mllp.connect.port, 6661);
  EXPECT_EQ(mllp.connect_timeout, seconds(5));
  EXPECT_EQ(mllp.ack_timeout, minutes(1));
  EXPECT_EQ(mllp.on_ae, NackAction::dead_letter);
  EXPECT_EQ(mllp.on_ar, NackAction::retry);
  ASSERT_TRUE(mllp.tls.has_value());
  // TLS paths are relative to the config file.
  EXPECT_EQ(mllp.tls->ca_file, (dir.path() / "partner-ca.pem").string());
  EXPECT_EQ(mllp.tls->cert_chain_file, (dir.path() / "client.pem").string());
  EXPECT_EQ(mllp.tls->private_key_file, (dir.path() / "client.key").string());
  EXPECT_EQ(mllp.tls->server_name, "lab.example.org");

  const DestinationConfig& archive = c.destinations[1];
  EXPECT_EQ(archive.type, DestinationType::file);
  const auto& f = std::get<FileDestinationConfig>(archive.transport);
  EXPECT_EQ(f.dir, "var/outbox/archive");  // relative to the working directory, as written
  EXPECT_EQ(f.mode, FileMode::append);
  EXPECT_EQ(f.name, "{route}-{date}-{time}.hl7");
  EXPECT_FALSE(f.fsync);

  const DestinationConfig& events = c.destinations[2];
  EXPECT_EQ(events.type, DestinationType::zmq_pub);
  const auto& z = std::get<ZmqDestinationConfig>(events.transport);
  EXPECT_EQ(z.bind, "tcp://127.0.0.1:5556");
  EXPECT_EQ(z.topic, std::optional<std::string>("hims"));
  EXPECT_EQ(z.high_water_mark, 500u);

  const auto& raw = std::get<FileDestinationConfig>(c.destinations[3].transport);
  EXPECT_EQ(raw.dir, "/tmp/out");
  EXPECT_EQ(raw.mode, FileMode::per_message);
  EXPECT_EQ(raw.name, "{source}-{control_id}-{id}.hl7");
  EXPECT_TRUE(raw.fsync);

  ASSERT_EQ(c.routes.size(), 2u);
  const RouteSpec& lab = c.routes[0];
  EXPECT_EQ(lab.name, "lab results");
  EXPECT_EQ(lab.from, std::vector<std::string>{"lab-results"});
  EXPECT_EQ(lab.message, (std::vector<std::string>{"ORU^R01", "ORU^R03"}));
  EXPECT_EQ(lab.sending_application, std::optional<std::string>("LAB*"));
  EXPECT_EQ(lab.sending_facility, std::optional<std::string>("NORTH"));
  ASSERT_EQ(lab.conditions.size(), 2u);
  EXPECT_EQ(lab.conditions[0].path, "PID-3[*].5");
  EXPECT_EQ(lab.conditions[0].op, "equals");
  EXPECT_EQ(lab.conditions[0].value, std::optional<std::string>("MR"));
  EXPECT_TRUE(lab.conditions[0].values.empty());
  EXPECT_EQ(lab.conditions[1].op, "in");
  EXPECT_FALSE(lab.conditions[1].value.has_value());
  EXPECT_EQ(lab.conditions[1].values, (std::vector<std::string>{"I", "E"}));
  EXPECT_EQ(lab.destinations, (std::vector<std::string>{"acme-lab", "archive"}));
  // A single string is a list of one.
  const RouteSpec& everything = c.routes[1];
  EXPECT_EQ(everything.from, std::vector<std::string>{"adt-in"});
  EXPECT_EQ(everything.message, std::vector<std::string>{"*"});
  EXPECT_EQ(everything.destinations, std::vector<std::string>{"events"});
  EXPECT_FALSE(everything.sending_application.has_value());
  // Locations of list items are known, for tools that point at a route.
  EXPECT_EQ(loaded.locations.at("routes[0].conditions[1].op").line, 36);
  EXPECT_EQ(loaded.locations.at("routes[1].destinations[0]").line, 41);
}

TEST(Config, DestinationDefaults) {
  auto loaded = parse(std::string(kOneSource) + R"(destinations:
  partner: {type: mllp, connect: 127.0.0.1:6661}
  out: {type: file, dir: var/out}
  daily: {type: file, dir: var/daily, mode: append}
  pub: {type: zmq-pub, bind: "tcp://*:5556"}
)");
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  const auto& d = loaded.config.destinations;
  ASSERT_EQ(d.size(), 4u);
  const RetryConfig& retry = d[0].retry;
  EXPECT_EQ(retry.initial, seconds(1));
  EXPECT_EQ(retry.max, minutes(5));
  EXPECT_DOUBLE_EQ(retry.multiplier, 2.0);
  EXPECT_DOUBLE_EQ(retry.jitter, 0.2);
  EXPECT_EQ(retry.max_attempts, 0);
  EXPECT_EQ(retry.max_age, std::chrono::hours(24));
  const auto& mllp = std::get<MllpDestinationConfig>(d[0].transport);
  EXPECT_EQ(mllp.connect_timeout, seconds(10));
  EXPECT_EQ(mllp.ack_timeout, seconds(30));
  EXPECT_FALSE(mllp.tls.has_value());
  EXPECT_EQ(mllp.on_ae, NackAction::retry);
  EXPECT_EQ(mllp.on_ar, NackAction::dead_letter);
  const auto& out = std::get<FileDestinationConfig>(d[1].transport);
  EXPECT_EQ(out.mode, FileMode::per_message);
  EXPECT_EQ(out.name, "{source}-{control_id}-{id}.hl7");
  EXPECT_TRUE(out.fsync);
  EXPECT_EQ(std::get<FileDestinationConfig>(d[2].transport).name, "{destination}-{date}.hl7");
  const auto& pub = std::get<ZmqDestinationConfig>(d[3].transport);
  EXPECT_EQ(pub.bind, "tcp://*:5556");
  EXPECT_FALSE(pub.topic.has_value());
  EXPECT_EQ(pub.high_water_mark, 10000u);
}

TEST(Config, DestinationKeyErrors) {
  auto loaded = parse(std::string(kOneSource) + R"(destinations:
  a:
    type: mllp
    connect: 127.0.0.1:6661
    conect_timeout: 5s
    dir: var/out
  b: {type: kafka}
  c: {connect: 127.0.0.1:1}
  d: just-text
  e: {type: mllp, connect: [127.0.0.1, 6661], on_ae: ignore, on_ar: retry}
  f: {type: file, dir: var/f, mode: sometimes, fsync: yes, retry: 5}
  g: {type: zmq-pub, bind: tcp://127.0.0.1:5557, high_water_mark: lots, topic: [a]}
  h: {type: mllp, connect: 127.0.0.1:1, retry: {jitter: 1.5, attempts: 3}}
  "bad id!": {type: file, dir: x}
)");
  expect_error(loaded, ConfigErrc::unknown_key, 7, "destinations.a.conect_timeout");
  // A key of another destination type is unknown here.
  expect_error(loaded, ConfigErrc::unknown_key, 8, "destinations.a.dir");
  const auto kafka = expect_error(loaded, ConfigErrc::bad_value, 9, "destinations.b.type");
  EXPECT_NE(kafka.detail.find("mllp, file, zmq-pub"), std::string::npos) << kafka.detail;
  expect_error(loaded, ConfigErrc::missing_key, 10, "destinations.c.type");
  expect_error(loaded, ConfigErrc::wrong_type, 11, "destinations.d");
  expect_error(loaded, ConfigErrc::wrong_type, 12, "destinations.e.connect");
  expect_error(loaded, ConfigErrc::bad_value, 12, "destinations.e.on_ae");
  expect_error(loaded, ConfigErrc::bad_value, 13, "destinations.f.mode");
  expect_error(loaded, ConfigErrc::bad_value, 13, "destinations.f.fsync");
  expect_error(loaded, ConfigErrc::wrong_type, 13, "destinations.f.retry");
  expect_error(loaded, ConfigErrc::bad_value, 14, "destinations.g.high_water_mark");
  expect_error(loaded, ConfigErrc::wrong_type, 14, "destinations.g.topic");
  const auto jitter =
      expect_error(loaded, ConfigErrc::bad_value, 15, "destinations.h.retry.jitter");
  EXPECT_NE(jitter.detail.find("between 0 and 1"), std::string::npos) << jitter.detail;
  expect_error(loaded, ConfigErrc::unknown_key, 15, "destinations.h.retry.attempts");
  expect_error(loaded, ConfigErrc::bad_value, 16, "destinations.bad id!");
  // The missing `connect` of e is not reported on top of its wrong type.
  EXPECT_EQ(loaded.errors.size(), 15u) << dump(loaded);
  EXPECT_EQ(jitter.to_string().rfind("test.yaml:15:57: destinations.h.retry.jitter: ", 0), 0u)
      << jitter.to_string();
}

TEST(Config, PerMessageFileNameNeedsAUniquePart) {
  auto loaded = parse(std::string(kOneSource) + R"(destinations:
  same-file: {type: file, dir: var/x, name: "{control_id}.hl7"}
  by-journal: {type: file, dir: var/x, name: "{journal_id}.hl7"}
  appended: {type: file, dir: var/x, mode: append, name: "{date}.hl7"}
)");
  const auto e = expect_error(loaded, ConfigErrc::bad_value, 4, "destinations.same-file.name");
  EXPECT_NE(e.detail.find("{id} or {journal_id}"), std::string::npos) << e.detail;
  EXPECT_EQ(loaded.errors.size(), 1u) << dump(loaded);
}

TEST(Config, DestinationValueErrors) {
  auto loaded = parse(std::string(kOneSource) + R"(destinations:
  no-connect: {type: mllp}
  port-zero: {type: mllp, connect: 127.0.0.1:0, ack_timeout: 0s, connect_timeout: soon}
  no-dir: {type: file}
  bad-names: {type: file, dir: "", name: "{source}/{id}.hl7"}
  dots: {type: file, dir: var/x, name: "..{id}"}
  unknown: {type: file, dir: var/x, name: "{patient}-{id}.hl7"}
  open: {type: file, dir: var/x, name: "{id"}
  no-bind: {type: zmq-pub}
  bad-bind: {type: zmq-pub, bind: udp://127.0.0.1:1, high_water_mark: 0}
  no-port: {type: zmq-pub, bind: "tcp://127.0.0.1"}
  backoff:
    type: mllp
    connect: 127.0.0.1:1
    retry: {initial: 0s, multiplier: 0.5, max_attempts: -1}
  short-max:
    type: mllp
    connect: 127.0.0.1:1
    retry: {initial: 1m, max: 30s, multiplier: lots, max_age: forever}
)");
  expect_error(loaded, ConfigErrc::missing_key, 4, "destinations.no-connect.connect");
  const auto zero =
      expect_error(loaded, ConfigErrc::bad_address, 5, "destinations.port-zero.connect");
  EXPECT_NE(zero.detail.find("port 0"), std::string::npos) << zero.detail;
  expect_error(loaded, ConfigErrc::bad_value, 5, "destinations.port-zero.ack_timeout");
  expect_error(loaded, ConfigErrc::bad_duration, 5, "destinations.port-zero.connect_timeout");
  expect_error(loaded, ConfigErrc::missing_key, 6, "destinations.no-dir.dir");
  expect_error(loaded, ConfigErrc::bad_value, 7, "destinations.bad-names.dir");
  expect_error(loaded, ConfigErrc::bad_value, 7, "destinations.bad-names.name");
  expect_error(loaded, ConfigErrc::bad_value, 8, "destinations.dots.name");
  const auto placeholder =
      expect_error(loaded, ConfigErrc::bad_value, 9, "destinations.unknown.name");
  EXPECT_NE(placeholder.detail.find("{patient}"), std::string::npos) << placeholder.detail;
  expect_error(loaded, ConfigErrc::bad_value, 10, "destinations.open.name");
  expect_error(loaded, ConfigErrc::missing_key, 11, "destinations.no-bind.bind");
  expect_error(loaded, ConfigErrc::bad_address, 12, "destinations.bad-bind.bind");
  expect_error(loaded, ConfigErrc::bad_value, 12, "destinations.bad-bind.high_water_mark");
  expect_error(loaded, ConfigErrc::bad_address, 13, "destinations.no-port.bind");
  expect_error(loaded, ConfigErrc::bad_value, 17, "destinations.backoff.retry.initial");
  expect_error(loaded, ConfigErrc::bad_value, 17, "destinations.backoff.retry.multiplier");
  expect_error(loaded, ConfigErrc::bad_value, 17, "destinations.backoff.retry.max_attempts");
  expect_error(loaded, ConfigErrc::bad_value, 21, "destinations.short-max.retry.max");
  expect_error(loaded, ConfigErrc::bad_value, 21, "destinations.short-max.retry.multiplier");
  expect_error(loaded, ConfigErrc::bad_duration, 21, "destinations.short-max.retry.max_age");
  EXPECT_EQ(loaded.errors.size(), 20u) << dump(loaded);
}

TEST(Config, DestinationTlsFiles) {
  TempDir dir;
  dir.write("client.pem", "cert");
  const auto file = dir.write("engine.yaml", R"(sources:
  lab: {type: mllp, listen: 127.0.0.1:2575}
destinations:
  a:
    type: mllp
    connect: 127.0.0.1:6661
    tls: {cert: client.pem, ca: missing-ca.pem}
  b:
    type: mllp
    connect: 127.0.0.1:6662
    tls: {server_name: "", verify: yes}
  c: {type: mllp, connect: 127.0.0.1:6663, tls: {}}
)");
  auto loaded = load_config(file);
  const auto ca = expect_error(loaded, ConfigErrc::unreadable, 7, "destinations.a.tls.ca");
  EXPECT_NE(ca.detail.find("missing-ca.pem"), std::string::npos) << ca.detail;
  expect_error(loaded, ConfigErrc::missing_key, 7, "destinations.a.tls.key");
  expect_error(loaded, ConfigErrc::bad_value, 11, "destinations.b.tls.server_name");
  expect_error(loaded, ConfigErrc::unknown_key, 11, "destinations.b.tls.verify");
  EXPECT_EQ(loaded.errors.size(), 4u) << dump(loaded);
  // tls: {} verifies the partner with the system's trust store.
  ASSERT_EQ(loaded.config.destinations.size(), 3u);
  const auto& c = std::get<MllpDestinationConfig>(loaded.config.destinations[2].transport);
  ASSERT_TRUE(c.tls.has_value());
  EXPECT_TRUE(c.tls->ca_file.empty());
}

TEST(Config, DuplicateDestinationsAndAddresses) {
  auto loaded = parse(R"(http: {listen: 127.0.0.1:2575}
sources:
  lab: {type: mllp, listen: 127.0.0.1:2575}
destinations:
  out: {type: file, dir: var/a}
  out: {type: file, dir: var/b}
  pub-1: {type: zmq-pub, bind: tcp://127.0.0.1:5556}
  pub-2: {type: zmq-pub, bind: tcp://127.0.0.1:5556}
  pub-3: {type: zmq-pub, bind: tcp://127.0.0.1:2575}
  any-1: {type: zmq-pub, bind: "tcp://127.0.0.1:*"}
  any-2: {type: zmq-pub, bind: "tcp://127.0.0.1:*"}
  ipc-1: {type: zmq-pub, bind: "ipc:///tmp/hims-events"}
  ipc-2: {type: zmq-pub, bind: "ipc:///tmp/hims-events"}
)");
  const auto http = expect_error(loaded, ConfigErrc::duplicate, 1, "http.listen");
  EXPECT_NE(http.detail.find("source 'lab'"), std::string::npos) << http.detail;
  expect_error(loaded, ConfigErrc::duplicate, 6, "destinations.out");
  const auto pub = expect_error(loaded, ConfigErrc::duplicate, 8, "destinations.pub-2.bind");
  EXPECT_NE(pub.detail.find("'pub-1'"), std::string::npos) << pub.detail;
  expect_error(loaded, ConfigErrc::duplicate, 9, "destinations.pub-3.bind");
  expect_error(loaded, ConfigErrc::duplicate, 13, "destinations.ipc-2.bind");
  EXPECT_EQ(loaded.errors.size(), 5u) << dump(loaded);
}

TEST(Config, HttpSection) {
  auto loaded = parse(std::string(kOneSource) + "http: {listen: 0.0.0.0:8080}\n");
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  EXPECT_EQ(loaded.config.http->listen.to_string(), "0.0.0.0:8080");
  loaded = parse(std::string(kOneSource) +
                 "http: {port: 8080}\n");  // line 3: unknown key, and listen is missing
  expect_error(loaded, ConfigErrc::unknown_key, 3, "http.port");
  expect_error(loaded, ConfigErrc::missing_key, 3, "http.listen");
  EXPECT_FALSE(loaded.config.http.has_value());
  loaded = parse(std::string(kOneSource) + "http: {listen: 8080}\n");
  expect_error(loaded, ConfigErrc::bad_address, 3, "http.listen");
  loaded = parse(std::string(kOneSource) + "http: 127.0.0.1:8080\n");
  expect_error(loaded, ConfigErrc::wrong_type, 3, "http");
}

TEST(Config, NodeName) {
  auto loaded = parse(std::string(kOneSource) + "node: hims-a.example.org\n");
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  EXPECT_EQ(loaded.config.node, "hims-a.example.org");
  for (const char* bad : {"\"\"", "\"two words\"", "[a]"}) {
    loaded = parse(std::string(kOneSource) + "node: " + bad + "\n");
    ASSERT_EQ(loaded.errors.size(), 1u) << bad << "\n" << dump(loaded);
    EXPECT_EQ(loaded.errors[0].key, "node");
    EXPECT_EQ(loaded.errors[0].where.line, 3);
  }
}

TEST(Config, RouteShapeErrors) {
  auto loaded = parse(R"(sources:
  lab: {type: mllp, listen: 127.0.0.1:2575}
destinations:
  out: {type: file, dir: var/out}
routes:
  - name: no destinations
    from: lab
  - name: empty destinations
    destinations: []
  - just a string
  - name: typo
    destination: out
  - name: wrong types
    from: {lab: yes}
    conditions: {path: PID-3, op: exists}
    destinations: [out, [x]]
  - name: bad condition
    conditions:
      - {path: PID-3, op: in, values: I}
      - 7
      - {path: PID-5, operator: equals}
    destinations: out
)");
  expect_error(loaded, ConfigErrc::missing_key, 6, "routes[0].destinations");
  expect_error(loaded, ConfigErrc::bad_value, 9, "routes[1].destinations");
  expect_error(loaded, ConfigErrc::wrong_type, 10, "routes[2]");
  expect_error(loaded, ConfigErrc::unknown_key, 12, "routes[3].destination");
  expect_error(loaded, ConfigErrc::missing_key, 11, "routes[3].destinations");
  expect_error(loaded, ConfigErrc::wrong_type, 14, "routes[4].from");
  expect_error(loaded, ConfigErrc::wrong_type, 15, "routes[4].conditions");
  expect_error(loaded, ConfigErrc::wrong_type, 16, "routes[4].destinations[1]");
  expect_error(loaded, ConfigErrc::wrong_type, 19, "routes[5].conditions[0].values");
  expect_error(loaded, ConfigErrc::wrong_type, 20, "routes[5].conditions[1]");
  expect_error(loaded, ConfigErrc::unknown_key, 21, "routes[5].conditions[2].operator");
  // Router::build's own check of the third condition: no operator (at the condition's map).
  expect_error(loaded, ConfigErrc::missing_key, 21, "routes[5].conditions[2].op");
  EXPECT_EQ(loaded.errors.size(), 12u) << dump(loaded);

  loaded = parse(std::string(kOneSource) + "routes: {name: x}\n");
  expect_error(loaded, ConfigErrc::wrong_type, 3, "routes");
}

// Router::build's problems come back at the file, line and key of the route.
TEST(Config, RouteProblemsPointAtTheirKey) {
  auto loaded = parse(R"(sources:
  lab: {type: mllp, listen: 127.0.0.1:2575}
destinations:
  out: {type: file, dir: var/out}
routes:
  - name: lab
    message: [ORU^R01, oru^r01]
    destinations: out
  - name: lab
    sending_facility: ""
    conditions:
      - {path: PID-3, op: equals, value: MR}
      - {path: "PID-", op: bigger, value: "1"}
      - {path: PID-8, op: in, value: F}
    destinations: out
)");
  expect_error(loaded, ConfigErrc::bad_value, 7, "routes[0].message[1]");
  const auto dup = expect_error(loaded, ConfigErrc::duplicate, 9, "routes[1].name");
  EXPECT_NE(dup.detail.find("routes[0]"), std::string::npos) << dup.detail;
  expect_error(loaded, ConfigErrc::bad_value, 10, "routes[1].sending_facility");
  expect_error(loaded, ConfigErrc::bad_value, 13, "routes[1].conditions[1].path");
  const auto op = expect_error(loaded, ConfigErrc::bad_value, 13, "routes[1].conditions[1].op");
  EXPECT_EQ(op.to_string().rfind("test.yaml:13:28: routes[1].conditions[1].op: ", 0), 0u)
      << op.to_string();
  expect_error(loaded, ConfigErrc::bad_value, 14, "routes[1].conditions[2].value");
  expect_error(loaded, ConfigErrc::missing_key, 14, "routes[1].conditions[2].values");
  EXPECT_EQ(loaded.errors.size(), 7u) << dump(loaded);
}

TEST(Config, DanglingRouteIds) {
  auto loaded = parse(R"(destinations:
  out: {type: file, dir: var/out}
routes:
  - name: lab
    from: [lab, nowhere]
    destinations: [out, acme-lab]
  - name: single
    from: ghost
    destinations: ghost-dest
sources:
  lab: {type: mllp, listen: 127.0.0.1:2575}
)");
  // Sections come in any order: `sources` after `routes` still counts.
  const auto from = expect_error(loaded, ConfigErrc::unknown_id, 5, "routes[0].from[1]");
  EXPECT_NE(from.detail.find("'nowhere'"), std::string::npos) << from.detail;
  EXPECT_NE(from.detail.find("lab"), std::string::npos) << "names the known ids: " << from.detail;
  const auto dest = expect_error(loaded, ConfigErrc::unknown_id, 6, "routes[0].destinations[1]");
  EXPECT_EQ(dest.to_string(),
            "test.yaml:6:25: routes[0].destinations[1]: 'acme-lab' is not a destination id "
            "(destinations: out)");
  expect_error(loaded, ConfigErrc::unknown_id, 8, "routes[1].from[0]");
  expect_error(loaded, ConfigErrc::unknown_id, 9, "routes[1].destinations[0]");
  EXPECT_EQ(loaded.errors.size(), 4u) << dump(loaded);
  // Errors are reported in file order even though references are checked last.
  for (std::size_t i = 1; i < loaded.errors.size(); ++i) {
    EXPECT_LE(loaded.errors[i - 1].where.line, loaded.errors[i].where.line);
  }
}

TEST(Config, DestinationUsedByNoRouteIsAccepted) {
  auto loaded = parse(std::string(kOneSource) + R"(destinations:
  spare: {type: mllp, connect: 127.0.0.1:6661}
)");
  EXPECT_TRUE(loaded.ok()) << dump(loaded);
}

TEST(Config, CheckEnvironmentBindsHttpAndChecksOutboxFolders) {
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

  TempDir dir;
  const auto plain = dir.write("plain-file", "x");
  const std::string yaml = "http: {listen: 127.0.0.1:" + std::to_string(port) + "}\n" + kOneSource +
                           "destinations:\n"
                           "  fresh: {type: file, dir: " +
                           (dir.path() / "new" / "deeper").string() +
                           "}\n"
                           "  existing: {type: file, dir: " +
                           dir.path().string() +
                           "}\n"
                           "  under-file: {type: file, dir: " +
                           (plain / "sub").string() + "}\n";
  auto loaded = parse(yaml);
  ASSERT_TRUE(loaded.ok()) << dump(loaded);
  check_environment(loaded);
  ::close(fd);
  expect_error(loaded, ConfigErrc::cannot_bind, 1, "http.listen");
  const auto file =
      expect_error(loaded, ConfigErrc::not_writable, 7, "destinations.under-file.dir");
  EXPECT_NE(file.detail.find("not a folder"), std::string::npos) << file.detail;
  EXPECT_EQ(loaded.errors.size(), 2u) << dump(loaded);
  // The check creates nothing.
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "new"));
}

// Hostile YAML the config fuzzer (fuzz/config_fuzz.cpp) is seeded towards: deep nesting, an
// alias cycle, alias fan-out ("billion laughs"). Each must load to errors, quickly, without a
// crash. Five-minute libFuzzer runs found no crash, hang or leak; an input one finds goes here.
TEST(ConfigFuzz, HostileInputsAreErrorsNotCrashes) {
  std::string laughs = "a: &a [x]\n";
  for (int i = 1; i < 30; ++i) {
    const std::string prev = i == 1 ? "a" : "b" + std::to_string(i - 1);
    laughs +=
        "b" + std::to_string(i) + ": &b" + std::to_string(i) + " [*" + prev + ", *" + prev + "]\n";
  }
  std::string flow_map;
  for (int i = 0; i < 50'000; ++i) flow_map += "{a: ";
  std::string block_list;
  for (int i = 0; i < 50'000; ++i) block_list += "- ";
  const std::vector<std::string> inputs = {
      std::string(100'000, '['),
      flow_map,
      block_list,
      laughs,
      "sources: &s\n  lab: *s\n",
      "sources:\n  lab: &l {type: mllp, listen: *l}\n",
      "routes: &r\n  - *r\nsources: {lab: {type: mllp, listen: 127.0.0.1:1}}\n",
      "destinations: {d: &d {type: file, dir: *d}}\nsources: {a: {type: mllp, listen: x:1}}\n",
      std::string("sources:\0\n", 11),
      "\xEF\xBB\xBFsources: {a: {type: mllp, listen: 127.0.0.1:1, max_connections: "
      "99999999999999999999999}}\n",
  };
  for (const std::string& input : inputs) {
    auto loaded = parse(input);
    EXPECT_FALSE(loaded.ok()) << input.substr(0, 80);
  }
}

TEST(ConfigStructs, NewDefaultsAreValid) {
  EXPECT_TRUE(RetryConfig{}.validate().empty());
  MllpDestinationConfig mllp;
  mllp.connect = *ListenAddress::parse("127.0.0.1:6661");
  EXPECT_TRUE(mllp.validate().empty());
  FileDestinationConfig file;
  file.dir = "var/out";
  for (FileMode mode : {FileMode::per_message, FileMode::append}) {
    file.mode = mode;
    file.name = std::string(FileDestinationConfig::default_name(mode));
    EXPECT_TRUE(file.validate().empty()) << file.name;
  }
  ZmqDestinationConfig zmq;
  zmq.bind = "tcp://127.0.0.1:5556";
  EXPECT_TRUE(zmq.validate().empty());
  DestinationConfig destination;
  destination.transport = mllp;
  EXPECT_TRUE(destination.validate().empty());
  destination.type = DestinationType::file;  // does not match the mllp settings
  ASSERT_EQ(destination.validate().size(), 1u);
  EXPECT_EQ(destination.validate()[0].key, "type");
}

TEST(ConfigStructs, RetryValidateNamesEachKey) {
  RetryConfig retry;
  retry.initial = milliseconds(0);
  retry.max = milliseconds(-1);
  retry.multiplier = std::numeric_limits<double>::infinity();
  retry.jitter = -0.1;
  retry.max_attempts = -3;
  retry.max_age = milliseconds(-1);
  std::vector<std::string> keys;
  for (const auto& p : retry.validate()) keys.push_back(p.key);
  EXPECT_EQ(keys, (std::vector<std::string>{"initial", "max", "multiplier", "jitter",
                                            "max_attempts", "max_age"}));
  retry = RetryConfig{};
  retry.jitter = std::numeric_limits<double>::quiet_NaN();
  ASSERT_EQ(retry.validate().size(), 1u);
  retry = RetryConfig{};
  retry.multiplier = 1.0;
  retry.jitter = 1.0;
  retry.max_age = milliseconds(0);
  retry.max = retry.initial;
  EXPECT_TRUE(retry.validate().empty());
}

TEST(ConfigStructs, FileNameTemplates) {
  for (const char* good : {"{source}-{control_id}-{id}.hl7", "{destination}-{date}.hl7",
                           "{journal_id}_{route}_{time}.txt", "plain.hl7", "a.b.c"}) {
    EXPECT_FALSE(FileDestinationConfig::name_problem(good).has_value()) << good;
  }
  for (const char* bad :
       {"", "{id", "id}", "{}", "{ID}", "{id}/x", "..", "a..b", "x\\y", ".", "a\tb"}) {
    EXPECT_TRUE(FileDestinationConfig::name_problem(bad).has_value()) << bad;
  }
}

TEST(ConfigStructs, ZmqEndpoints) {
  for (const char* good :
       {"tcp://127.0.0.1:5556", "tcp://*:5556", "tcp://127.0.0.1:*", "tcp://[::1]:5556",
        "tcp://localhost:0", "ipc:///run/hims/events", "inproc://events"}) {
    EXPECT_FALSE(ZmqDestinationConfig::endpoint_problem(good).has_value()) << good;
  }
  for (const char* bad : {"", "127.0.0.1:5556", "tcp://", "tcp://127.0.0.1", "tcp://:5556",
                          "tcp://127.0.0.1:70000", "ipc://", "inproc://", "udp://1.2.3.4:5"}) {
    EXPECT_TRUE(ZmqDestinationConfig::endpoint_problem(bad).has_value()) << bad;
  }
}

TEST(ConfigStructs, EnumNames) {
  EXPECT_EQ(to_string(NackAction::retry), "retry");
  EXPECT_EQ(to_string(NackAction::dead_letter), "dead-letter");
  EXPECT_EQ(to_string(FileMode::per_message), "per-message");
  EXPECT_EQ(to_string(FileMode::append), "append");
  EXPECT_EQ(to_string(DestinationType::mllp), "mllp");
  EXPECT_EQ(to_string(DestinationType::file), "file");
  EXPECT_EQ(to_string(DestinationType::zmq_pub), "zmq-pub");
  EXPECT_EQ(to_string(ConfigErrc::unknown_id), "unknown_id");
  EXPECT_EQ(to_string(ConfigErrc::not_writable), "not_writable");
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
