// Tests of `inspect` rendering: paths, raw and decoded values, errors, JSON validity.
#include "engine/inspect.hpp"

#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include "tests/support/corpus.hpp"

namespace hims::engine {
namespace {

TEST(Inspect, TextShowsEveryLevelWithItsPath) {
  const std::string message =
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|C1|P|2.5\r"
      "PID|1||X1^^^H^MR~Y2^^^H&1.2&ISO^PI||DOE^JOHN~ROE&VAN^JANE||||||MARIO \\T\\ LUIGI\r";
  const auto report = inspect_messages(message, "m.hl7", InspectFormat::text);
  EXPECT_EQ(report.messages, 1u);
  EXPECT_EQ(report.parse_errors, 0u);
  const std::string& out = report.output;
  for (const char* expected :
       {"m.hl7:1: message 1 of 1: ADT^A01, control id C1, version 2.5, 2 segments", "\nMSH\n",
        "  MSH-1 ", "  MSH-2                 ^~\\&\n", "    PID-3[1] ", "      PID-3[1].1 ",
        "      PID-3[2].4 ", "        PID-3[2].4.2    1.2\n", "    PID-5[2] ",
        "      PID-5[2].1.2 ", "  PID-11                MARIO \\T\\ LUIGI  => MARIO & LUIGI\n"}) {
    EXPECT_NE(out.find(expected), std::string::npos) << "'" << expected << "'\n" << out;
  }
  // Empty components are not listed; single values have no sub-paths.
  EXPECT_EQ(out.find("PID-3[1].2"), std::string::npos);
  EXPECT_EQ(out.find("PID-1.1"), std::string::npos);
}

TEST(Inspect, RepeatedSegmentsCarryTheirOccurrence) {
  const auto report = inspect_messages(
      "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|C1|P|2.5\rOBX|1|NM|a\rOBX|2|NM|b\rPID|1\r", "x",
      InspectFormat::text);
  EXPECT_NE(report.output.find("\nOBX[1]\n  OBX[1]-1 "), std::string::npos) << report.output;
  EXPECT_NE(report.output.find("\nOBX[2]\n  OBX[2]-1 "), std::string::npos) << report.output;
  EXPECT_NE(report.output.find("\nPID\n  PID-1 "), std::string::npos) << report.output;
}

TEST(Inspect, ControlCharactersArePrintable) {
  const auto report = inspect_messages(
      "MSH|^~\\&|A\x01"
      "B|C|D|E|20240101||ADT^A01|C1|P|2.5\r",
      "x", InspectFormat::text);
  EXPECT_NE(report.output.find("A\\x01B"), std::string::npos) << report.output;
}

TEST(Inspect, EmptyAndUnsplittableInput) {
  auto empty = inspect_messages("", "empty.hl7", InspectFormat::text);
  EXPECT_EQ(empty.messages, 0u);
  EXPECT_NE(empty.output.find("empty.hl7"), std::string::npos);
  auto json = inspect_messages("PID|1\rMSH|^~\\&|A\r", "bad.hl7", InspectFormat::json);
  rapidjson::Document doc;
  doc.Parse(json.output.c_str());
  ASSERT_FALSE(doc.HasParseError()) << json.output;
  EXPECT_GT(json.parse_errors, 0u);
}

TEST(Inspect, JsonIsValidUtf8ForEveryCorpusFile) {
  std::size_t files = 0;
  for (const auto& file : test::files_under(test::corpus_dir() / "hl7v2")) {
    if (file.extension() == ".md" || file.extension() == ".json") continue;
    ++files;
    const auto report =
        inspect_messages(test::read_file(file), file.filename().string(), InspectFormat::json);
    rapidjson::Document doc;
    doc.Parse<rapidjson::kParseValidateEncodingFlag>(report.output.c_str());
    EXPECT_FALSE(doc.HasParseError()) << file;
    const auto text =
        inspect_messages(test::read_file(file), file.filename().string(), InspectFormat::text);
    EXPECT_EQ(text.parse_errors, report.parse_errors) << file;
  }
  EXPECT_GT(files, 300u);
}

TEST(Inspect, ValidUtf8ReplacesBadSequences) {
  EXPECT_EQ(valid_utf8("abc"), "abc");
  EXPECT_EQ(valid_utf8("B\xC3\xB6"
                       "ckler"),
            "B\xC3\xB6"
            "ckler");
  EXPECT_EQ(valid_utf8("ELAB\x96"
                       "3"),
            "ELAB\xEF\xBF\xBD"
            "3");
  EXPECT_EQ(valid_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(valid_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(valid_utf8("\xF0\x9F\x98"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // truncated
}

}  // namespace
}  // namespace hims::engine
