// The `hims-engine` command line as a user runs it: send, inspect, check, version and --help,
// as processes, checking exit statuses and output.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "engine/store.hpp"
#include "tests/integration/process.hpp"

namespace hims::test {
namespace {

std::filesystem::path sample(const std::string& name) {
  return source_dir() / "samples" / "messages" / name;
}

std::string engine_yaml() {
  return "sources:\n  lab-results:\n    type: mllp\n    listen: 127.0.0.1:0\n";
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = text.find('\n', begin);
    out.push_back(text.substr(begin, end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return out;
}

TEST(Cli, VersionAndHelp) {
  TempDir dir;
  RunResult v = run_process({engine(), "version"}, dir);
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.out.rfind("hims-engine 0.", 0), 0u) << v.out;
  RunResult flag = run_process({engine(), "--version"}, dir);
  EXPECT_EQ(flag.status, 0);
  EXPECT_NE(flag.out.find("hims-engine"), std::string::npos);

  RunResult help = run_process({engine(), "--help"}, dir);
  EXPECT_EQ(help.status, 0);
  for (const char* sub : {"run", "send", "inspect", "check", "version"}) {
    EXPECT_NE(help.out.find(std::string("  ") + sub), std::string::npos) << sub;
  }
  RunResult send_help = run_process({engine(), "send", "--help"}, dir);
  EXPECT_EQ(send_help.status, 0);
  for (const char* option : {"--mllp", "--tls-ca", "--tls-cert", "--tls-key", "--timeout"}) {
    EXPECT_NE(send_help.out.find(option), std::string::npos) << option;
  }
  RunResult run_help = run_process({engine(), "run", "--help"}, dir);
  for (const char* option : {"--config", "--log-format", "--log-level", "--ready-file"}) {
    EXPECT_NE(run_help.out.find(option), std::string::npos) << option;
  }
}

TEST(Cli, UsageErrorsExitWithTwo) {
  TempDir dir;
  EXPECT_EQ(run_process({engine()}, dir).status, 2);
  EXPECT_EQ(run_process({engine(), "frobnicate"}, dir).status, 2);
  EXPECT_EQ(run_process({engine(), "run"}, dir).status, 2);  // --config is required
  EXPECT_EQ(run_process({engine(), "inspect", "/nonexistent.hl7"}, dir).status, 2);
  EXPECT_EQ(run_process({engine(), "send", "--mllp", "127.0.0.1:2575", "--timeout", "soon",
                         sample("adt_a01.hl7").string()},
                        dir)
                .status,
            2);
  RunResult bad_address =
      run_process({engine(), "send", "--mllp", "nowhere", sample("adt_a01.hl7").string()}, dir);
  EXPECT_EQ(bad_address.status, 2);
  EXPECT_NE(bad_address.err.find("HOST:PORT"), std::string::npos) << bad_address.err;
}

TEST(Cli, SendPrintsOneLinePerMessageAndExitsZeroWhenAllAccepted) {
  TempDir dir;
  RunningEngine running(dir, engine_yaml());
  ASSERT_TRUE(running.ready());
  const std::string address = "127.0.0.1:" + std::to_string(running.port("lab-results"));
  RunResult r = run_process(
      {engine(), "send", "--mllp", address, "--timeout", "10s", sample("adt_a01.hl7").string(),
       sample("oru_r01.hl7").string(), sample("oru_r01_batch.hl7").string()},
      dir);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 5u) << r.out;
  EXPECT_NE(lines[0].find("adt_a01.hl7#1 ADT20240305-0001 AA"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("oru_r01.hl7#1 LAB-778812 CA"), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("oru_r01_batch.hl7#1 LAB-779001 AA"), std::string::npos);
  EXPECT_NE(lines[3].find("oru_r01_batch.hl7#2 LAB-779002 AA"), std::string::npos);
  EXPECT_NE(lines[4].find("oru_r01_batch.hl7#3 LAB-779003 AA"), std::string::npos);
  EXPECT_EQ(running.stop(), 0);
}

TEST(Cli, SendExitsNonZeroOnRejection) {
  TempDir dir;
  RunningEngine running(dir, engine_yaml());
  ASSERT_TRUE(running.ready());
  const std::string address = "127.0.0.1:" + std::to_string(running.port("lab-results"));
  RunResult r = run_process({engine(), "send", "--mllp", address, sample("siu_s12.hl7").string(),
                             sample("unsupported_version.hl7").string()},
                            dir);
  EXPECT_EQ(r.status, 1) << r.out << r.err;
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_NE(lines[0].find("SCH-30091 AA"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("LAB-OLD-0001 AR 203 Unsupported version id at MSH-12"),
            std::string::npos)
      << lines[1];
  EXPECT_EQ(running.stop(), 0);
}

TEST(Cli, SendSplitsLooseCrlfFilesAtEachMsh) {
  // EXPECTATIONS item 19: CRLF becomes CR and each MSH starts a message.
  TempDir dir;
  RunningEngine running(dir, engine_yaml());
  ASSERT_TRUE(running.ready());
  spit(dir / "two.hl7",
       "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|LOOSE-1|P|2.5\r\nPID|1\r\n\r\n"
       "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|LOOSE-2|P|2.5\r\nPID|2\r\n");
  const std::string address = "127.0.0.1:" + std::to_string(running.port("lab-results"));
  RunResult r = run_process({engine(), "send", "--mllp", address, (dir / "two.hl7").string()}, dir);
  EXPECT_EQ(r.status, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("#1 LOOSE-1 AA"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("#2 LOOSE-2 AA"), std::string::npos) << r.out;
  EXPECT_EQ(running.stop(), 0);
}

TEST(Cli, SendReportsConnectionFailure) {
  TempDir dir;
  // Port 1 on loopback: nothing listens there.
  RunResult r = run_process({engine(), "send", "--mllp", "127.0.0.1:1", "--timeout", "2s",
                             sample("adt_a01.hl7").string(), sample("siu_s12.hl7").string()},
                            dir);
  EXPECT_EQ(r.status, 1);
  const auto lines = lines_of(r.out);
  ASSERT_EQ(lines.size(), 2u) << r.out;
  EXPECT_NE(lines[0].find("error: mllp.connect_failed"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("not sent"), std::string::npos) << lines[1];
}

TEST(Cli, SendOverMutualTls) {
  TempDir dir;
  auto pki = make_test_pki(dir);
  ASSERT_TRUE(pki.has_value());
  RunningEngine running(dir,
                        "sources:\n  secure:\n    type: mllp\n    listen: 127.0.0.1:0\n"
                        "    tls: {cert: " +
                            pki->server_cert.string() + ", key: " + pki->server_key.string() +
                            ", ca: " + pki->ca.string() + ", client_cert: required}\n");
  ASSERT_TRUE(running.ready());
  const std::string address = "127.0.0.1:" + std::to_string(running.port("secure"));
  RunResult ok = run_process({engine(), "send", "--mllp", address, "--tls-ca", pki->ca.string(),
                              "--tls-cert", pki->client_cert.string(), "--tls-key",
                              pki->client_key.string(), sample("adt_a01.hl7").string()},
                             dir);
  EXPECT_EQ(ok.status, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("ADT20240305-0001 AA"), std::string::npos) << ok.out;

  RunResult no_cert = run_process({engine(), "send", "--mllp", address, "--tls-ca",
                                   pki->ca.string(), sample("adt_a01.hl7").string()},
                                  dir);
  EXPECT_EQ(no_cert.status, 1) << no_cert.out;
  EXPECT_NE(no_cert.out.find("error:"), std::string::npos) << no_cert.out;
  EXPECT_EQ(running.stop(), 0);
}

TEST(Cli, InspectPrintsPathsRawAndDecodedValues) {
  TempDir dir;
  RunResult r = run_process({engine(), "inspect", sample("adt_a01.hl7").string()}, dir);
  EXPECT_EQ(r.status, 0) << r.err;
  for (const char* expected :
       {"ADT^A01, control id ADT20240305-0001, version 2.5.1", "  PID-5 ", "PID-5.1 ",
        "PID-3[2].1 ", "MSH-2 ", "AL1-5 ", "Hives \\T\\ rash  => Hives & rash"}) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << "\n" << r.out;
  }
}

TEST(Cli, InspectShowsSubcomponentPaths) {
  TempDir dir;
  RunResult r = run_process({engine(), "inspect",
                             (corpus_dir() / "hl7v2" / "hapi-hl7v2" /
                              "NewPipeParserTest_L1019_oru_pid5_component_subcomponent.hl7")
                                 .string()},
                            dir);
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.out.find("PID-5.1.1 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PID-5.1.2 "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("PID-5.2 "), std::string::npos) << r.out;
}

TEST(Cli, InspectJsonIsOneDocument) {
  TempDir dir;
  RunResult r =
      run_process({engine(), "inspect", "--json", sample("oru_r01_batch.hl7").string()}, dir);
  EXPECT_EQ(r.status, 0) << r.err;
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << r.out;
  ASSERT_TRUE(doc["messages"].IsArray());
  ASSERT_EQ(doc["messages"].Size(), 3u);
  const auto& second = doc["messages"][1];
  EXPECT_TRUE(second["ok"].GetBool());
  EXPECT_STREQ(second["control_id"].GetString(), "LAB-779002");
  EXPECT_STREQ(second["message_type"].GetString(), "ORU^R01");
  bool found = false;
  for (const auto& segment : second["segments"].GetArray()) {
    if (std::string(segment["name"].GetString()) != "PID") continue;
    for (const auto& field : segment["fields"].GetArray()) {
      if (std::string(field["path"].GetString()) != "PID-5") continue;
      EXPECT_STREQ(field["raw"].GetString(), "EXAMPLE^DANA");
      ASSERT_TRUE(field.HasMember("parts"));
      EXPECT_STREQ(field["parts"][0]["path"].GetString(), "PID-5.1");
      EXPECT_STREQ(field["parts"][0]["value"].GetString(), "EXAMPLE");
      found = true;
    }
  }
  EXPECT_TRUE(found) << r.out;
}

TEST(Cli, InspectShowsParseErrorsWithTheirLocation) {
  TempDir dir;
  spit(dir / "mixed.hl7",
       "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|GOOD-1|P|2.5\rPID|1\r\n"
       "MSH|^&&^|A|B|C|D|20240101||ADT^A01|BAD-1|P|2.5\rPID|1\r\n");
  RunResult text = run_process({engine(), "inspect", (dir / "mixed.hl7").string()}, dir);
  EXPECT_EQ(text.status, 1);
  EXPECT_NE(text.out.find("message 1 of 2: ADT^A01, control id GOOD-1"), std::string::npos)
      << text.out;
  EXPECT_NE(text.out.find("message 2 of 2: parse error: hl7v2.bad_encoding_characters at MSH-2"),
            std::string::npos)
      << text.out;

  RunResult json = run_process({engine(), "inspect", "--json", (dir / "mixed.hl7").string()}, dir);
  EXPECT_EQ(json.status, 1);
  rapidjson::Document doc;
  doc.Parse(json.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json.out;
  const auto& bad = doc["messages"][1];
  EXPECT_FALSE(bad["ok"].GetBool());
  EXPECT_STREQ(bad["error"]["code"].GetString(), "bad_encoding_characters");
  EXPECT_STREQ(bad["error"]["where"].GetString(), "MSH-2");
  EXPECT_EQ(bad["line"].GetUint(), 3u);
}

TEST(Cli, InspectEveryCorpusFileWithoutCrashing) {
  // Exit status 0 or 1, always a JSON document, never a crash or a hang.
  TempDir dir;
  std::size_t files = 0;
  for (const auto& file : files_under(corpus_dir() / "hl7v2")) {
    if (file.extension() == ".md" || file.extension() == ".json") continue;
    ++files;
    RunResult r = run_process({engine(), "inspect", "--json", file.string()}, dir);
    EXPECT_TRUE(r.status == 0 || r.status == 1) << file << ": " << r.status << r.err;
    rapidjson::Document doc;
    doc.Parse(r.out.c_str());
    EXPECT_FALSE(doc.HasParseError()) << file;
  }
  EXPECT_GT(files, 300u);
}

TEST(Cli, CheckPrintsOkOrEveryError) {
  TempDir dir;
  spit(dir / "good.yaml", engine_yaml());
  RunResult ok = run_process({engine(), "check", "--config", (dir / "good.yaml").string()}, dir);
  EXPECT_EQ(ok.status, 0);
  EXPECT_EQ(ok.out, "ok\n");

  spit(dir / "bad.yaml",
       "sources:\n"
       "  lab:\n"
       "    type: mllp\n"
       "    listen: 127.0.0.1:99999\n"
       "    read_timeout: 30\n"
       "    tls: {cert: missing.pem, key: missing.key}\n"
       "routes:\n"
       "  - {name: r, destinations: [nowhere]}\n");
  RunResult bad = run_process({engine(), "check", "--config", (dir / "bad.yaml").string()}, dir);
  EXPECT_EQ(bad.status, 1);
  const std::string file = (dir / "bad.yaml").string();
  for (const std::string& expected :
       {file + ":4:13: sources.lab.listen: ", file + ":5:19: sources.lab.read_timeout: ",
        file + ":6:17: sources.lab.tls.cert: cannot read file",
        file + ":6:35: sources.lab.tls.key: cannot read file",
        file + ":8:30: routes[0].destinations[0]: ", std::string("5 errors")}) {
    EXPECT_NE(bad.out.find(expected), std::string::npos) << expected << "\n" << bad.out;
  }

  RunResult missing =
      run_process({engine(), "check", "--config", (dir / "nope.yaml").string()}, dir);
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.out.find("cannot read file"), std::string::npos);
}

// `map:` routes: a broken mapping file is reported at its own file, line and key; a mapping that
// loads but names what the canonical schema lacks is reported at the route; the shipped sample
// (every shipped mapping) passes.
TEST(Cli, CheckValidatesTheRoutesMappings) {
  TempDir dir;
  spit(dir / "broken.yaml",
       "mapping: b\nfrom: hl7v2\nmessages: ['ADT^*']\nentities:\n"
       "  - as: p\n    table: patients\n    key: [mrn]\n"
       "    columns: {mrn: PID-3.1, born: {path: PID-7, type: dat}}\n");
  spit(dir / "unknown.yaml",
       "mapping: u\nfrom: hl7v2\nmessages: ['ADT^*']\nentities:\n"
       "  - as: p\n    table: patients\n    key: [mrn]\n"
       "    columns: {mrn: PID-3.1, lastname: PID-5.1}\n");
  spit(dir / "routes.yaml",
       "routes:\n  - name: broken\n    map: broken.yaml\n"
       "  - name: unknown\n    map: unknown.yaml\n");
  RunResult r = run_process({engine(), "check", "--config", (dir / "routes.yaml").string()}, dir);
  EXPECT_EQ(r.status, 1) << r.out;
  const std::string broken = (dir / "broken.yaml").string();
  for (const std::string& expected :
       {broken + ":8:55: entities[0].columns.born.type: 'dat' is not a type",
        std::string("routes[1].map: ") + (dir / "unknown.yaml").string() +
            ":5 p: table `patients` has no column `lastname`"}) {
    EXPECT_NE(r.out.find(expected), std::string::npos) << expected << "\n" << r.out;
  }
  // The sample configuration with its mappings (its ports may be taken on this machine: only
  // mapping problems must be absent).
  RunResult sample = run_process(
      {engine(), "check", "--config", (source_dir() / "samples" / "hims-engine.yaml").string()},
      dir);
  EXPECT_EQ(sample.out.find(".map"), std::string::npos) << sample.out;
  EXPECT_EQ(sample.out.find("mappings/hl7v2"), std::string::npos) << sample.out;
}

TEST(Cli, MigrateStatsAndReplayWorkOnANewStore) {
  TempDir dir;
  const std::string store = "sqlite:" + (dir / "new.db").string();
  RunResult status = run_process({engine(), "migrate", "--status", "--store", store}, dir);
  EXPECT_EQ(status.status, 0) << status.err;
  EXPECT_NE(status.out.find("1 pending"), std::string::npos) << status.out;
  const std::string known = std::to_string(hims::store::Store::known_migrations().size());
  EXPECT_NE(status.out.find("sqlite: " + known + " pending"), std::string::npos) << status.out;
  RunResult migrate = run_process({engine(), "migrate", "--store", store}, dir);
  EXPECT_EQ(migrate.status, 0) << migrate.err;
  EXPECT_NE(migrate.out.find(known + " applied, schema up to date"), std::string::npos)
      << migrate.out;
  status = run_process({engine(), "migrate", "--status", "--store", store}, dir);
  EXPECT_NE(status.out.find("sqlite: 0 pending"), std::string::npos) << status.out;

  RunResult stats = run_process({engine(), "stats", "--json", "--store", store}, dir);
  EXPECT_EQ(stats.status, 0) << stats.err;
  EXPECT_NE(stats.out.find("\"destinations\":{}"), std::string::npos) << stats.out;
  RunResult replay = run_process({engine(), "replay", "--message", "42", "--store", store}, dir);
  EXPECT_EQ(replay.status, 1) << replay.out << replay.err;
  EXPECT_NE(replay.out.find("message 42"), std::string::npos) << replay.out;
  RunResult nothing = run_process({engine(), "replay", "--store", store}, dir);
  EXPECT_EQ(nothing.status, 2) << "nothing named to replay";
}

TEST(Cli, CheckReportsAPortInUse) {
  TempDir dir;
  RunningEngine running(dir, engine_yaml());
  ASSERT_TRUE(running.ready());
  spit(dir / "busy.yaml", "sources:\n  lab:\n    type: mllp\n    listen: 127.0.0.1:" +
                              std::to_string(running.port("lab-results")) + "\n");
  RunResult r = run_process({engine(), "check", "--config", (dir / "busy.yaml").string()}, dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.out.find(":4:13: sources.lab.listen: 127.0.0.1:"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("in use"), std::string::npos) << r.out;
  EXPECT_EQ(running.stop(), 0);
}

}  // namespace
}  // namespace hims::test
