// `hims-engine map MAPPING INPUT` as a user runs it: one JSON document per message on stdout,
// exit status 1 with the problems on stderr for a broken mapping or a message that does not map.
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <string>
#include <vector>

#include "tests/integration/process.hpp"

namespace hims::test {
namespace {

std::string data(const std::string& name) {
  return (source_dir() / "tests" / "data" / "mappings" / name).string();
}

// The JSON documents of a --compact run, one per line.
std::vector<std::string> documents(const std::string& out) {
  std::vector<std::string> docs;
  std::size_t begin = 0;
  while (begin < out.size()) {
    const std::size_t end = out.find('\n', begin);
    if (end != begin) docs.push_back(out.substr(begin, end - begin));
    if (end == std::string::npos) break;
    begin = end + 1;
  }
  return docs;
}

TEST(MapCli, PrintsTheRowsOfEachMessage) {
  TempDir dir;
  RunResult r = run_process({engine(), "map", data("oru_results.yaml"), data("oru_r01.hl7")}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_TRUE(r.err.empty()) << r.err;
  rapidjson::Document doc;
  doc.Parse(r.out.c_str());
  ASSERT_FALSE(doc.HasParseError()) << r.out;
  EXPECT_STREQ(doc["mapping"].GetString(), "oru-results");
  const auto& rows = doc["rows"];
  ASSERT_EQ(rows.Size(), 6u);
  EXPECT_STREQ(rows[0]["table"].GetString(), "patients");
  EXPECT_STREQ(rows[2]["as"].GetString(), "result");
  EXPECT_STREQ(rows[2]["columns"]["lab_order_id"]["ref"].GetString(), "order#0");
  EXPECT_STREQ(rows[5]["columns"]["lab_order_id"]["ref"].GetString(), "order#1");
  EXPECT_EQ(rows[2]["columns"]["set_id"].GetInt(), 1);
  EXPECT_STREQ(rows[2]["key"][0].GetString(), "lab_order_id");
}

TEST(MapCli, MapsEveryMessageOfACorpusFile) {
  TempDir dir;
  // Two ADT messages in one file (batch/blank-line separated), CRLF or LF as written.
  const std::string adt = slurp(data("adt_a01.hl7"));
  spit(dir / "two.hl7", adt + "\n" + adt);
  RunResult r = run_process(
      {engine(), "map", "--compact", data("adt_patient.yaml"), (dir / "two.hl7").string()}, dir);
  ASSERT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(documents(r.out).size(), 2u) << r.out;

  const auto corpus = corpus_dir() / "hl7v2" / "microsoft-fhir-converter" / "LAB-ORU-2.hl7";
  RunResult oru =
      run_process({engine(), "map", "--compact", data("oru_results.yaml"), corpus.string()}, dir);
  ASSERT_EQ(oru.status, 0) << oru.err;
  const auto docs = documents(oru.out);
  ASSERT_EQ(docs.size(), 1u);
  rapidjson::Document doc;
  doc.Parse(docs[0].c_str());
  ASSERT_FALSE(doc.HasParseError());
  EXPECT_GT(doc["rows"].Size(), 10u);
}

TEST(MapCli, ABrokenMappingExitsOneWithEveryProblem) {
  TempDir dir;
  spit(dir / "bad.yaml",
       "mapping: bad\nfrom: hl7v2\nmessages: [ADT^A01]\nentities:\n  - as: p\n    table: t\n"
       "    key: [a]\n    columns:\n      a: PID-\n      g: {path: PID-8, code: sexx}\n");
  RunResult r =
      run_process({engine(), "map", (dir / "bad.yaml").string(), data("adt_a01.hl7")}, dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_NE(r.err.find("bad.yaml:9:10: entities[0].columns.a: 'PID-' is not an HL7 v2 path"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("bad.yaml:10:30: entities[0].columns.g.code: unknown code table \"sexx\""),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("is not valid (2 errors)"), std::string::npos) << r.err;
}

TEST(MapCli, AMessageThatDoesNotMapExitsOneWithoutItsValues) {
  TempDir dir;
  std::string adt = slurp(data("adt_a01.hl7"));
  const std::size_t dob = adt.find("19800102");
  ASSERT_NE(dob, std::string::npos);
  adt.replace(dob, 8, "19801302");
  spit(dir / "bad_date.hl7", adt);
  RunResult r = run_process(
      {engine(), "map", data("adt_patient.yaml"), (dir / "bad_date.hl7").string()}, dir);
  EXPECT_EQ(r.status, 1);
  EXPECT_NE(r.err.find("engine.bad_value at "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("adt_patient.yaml:19 patient.date_of_birth: PID-7 (8 bytes) is not an HL7 "
                       "date"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("19801302"), std::string::npos) << r.err;

  // A type the mapping does not take.
  RunResult other =
      run_process({engine(), "map", data("adt_patient.yaml"), data("oru_r01.hl7")}, dir);
  EXPECT_EQ(other.status, 1);
  EXPECT_NE(other.err.find("does not take ORU^R01"), std::string::npos) << other.err;
}

TEST(MapCli, UsageErrorsExitTwo) {
  TempDir dir;
  EXPECT_EQ(run_process({engine(), "map", data("adt_patient.yaml")}, dir).status, 2);
  EXPECT_EQ(run_process({engine(), "map", "/nonexistent.yaml", data("adt_a01.hl7")}, dir).status,
            2);
  RunResult help = run_process({engine(), "map", "--help"}, dir);
  EXPECT_EQ(help.status, 0);
  EXPECT_NE(help.out.find("--compact"), std::string::npos);
}

}  // namespace
}  // namespace hims::test
