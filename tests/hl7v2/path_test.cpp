// Path parsing and printing, and get/select over a message.
#include "hl7v2/path.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hl7v2/message.hpp"

namespace hims::hl7v2 {
namespace {

Path parse_ok(std::string_view text) {
  auto p = Path::parse(text);
  EXPECT_TRUE(p.ok()) << text << ": " << (p.ok() ? "" : p.error().message());
  return p.ok() ? *p : Path{};
}

TEST(Path, ParsesFieldComponentAndSubcomponent) {
  const Path p = parse_ok("PID-5.1.2");
  EXPECT_EQ(p.segment, "PID");
  EXPECT_EQ(p.occurrence, 1u);
  EXPECT_EQ(p.field, 5u);
  EXPECT_EQ(p.repetition, Path::kUnset);
  EXPECT_EQ(p.component, 1u);
  EXPECT_EQ(p.subcomponent, 2u);
  EXPECT_FALSE(p.selects_many());
}

TEST(Path, ParsesOccurrenceAndRepetition) {
  const Path p = parse_ok("OBX[3]-5[2].1");
  EXPECT_EQ(p.occurrence, 3u);
  EXPECT_EQ(p.repetition, 2u);
  EXPECT_EQ(parse_ok("PID-3(2)").repetition, 2u);
}

TEST(Path, ParsesWildcards) {
  EXPECT_EQ(parse_ok("PID-3[*].1").repetition, Path::kAll);
  EXPECT_EQ(parse_ok("OBX[*]-5").occurrence, Path::kAll);
  EXPECT_TRUE(parse_ok("OBX[*]-5").selects_many());
}

TEST(Path, ParsesAWholeSegment) {
  const Path p = parse_ok("ZPI");
  EXPECT_EQ(p.field, Path::kUnset);
  EXPECT_EQ(parse_ok("Z1").segment, "Z1");
}

TEST(Path, PrintsTheCanonicalForm) {
  for (const char* text : {"PID-5.1", "PID-3[2].1", "OBX[3]-5", "PID-3[*].1", "PID-5.1.1",
                           "OBX[*]-5", "MSH-9.2", "ZPI", "OBX[2]"}) {
    EXPECT_EQ(parse_ok(text).to_string(), text);
    EXPECT_EQ(parse_ok(parse_ok(text).to_string()), parse_ok(text));
  }
  EXPECT_EQ(parse_ok("PID[1]-3(1)").to_string(), "PID-3[1]");
}

TEST(Path, RejectsMalformedText) {
  for (const char* text :
       {"",         "P",           "pid-5",    "PID-",      "PID-0",   "PID-5.",  "PID-5.0",
        "PID-5..1", "PID-5.1.1.1", "PID[0]-1", "PID[-1]",   "PID[]-1", "PID[2-1", "PID-3[x]",
        "PID 5",    "PID-5 ",      "PIDX-1",   "PID-99999", "PID-3[*", "-5"}) {
    auto p = Path::parse(text);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_TRUE(p.error().is(Errc::bad_path)) << text;
    EXPECT_EQ(p.error().where().substr(0, 7), "column ") << text;
  }
}

TEST(Path, NamesTheColumnOfTheProblem) {
  auto p = Path::parse("PID-5.x");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().where(), "column 7");
}

const char* const kMsg =
    "MSH|^~\\&|A|B|C|D|20240101||ORU^R01^ORU_R01|42|P|2.5.1\r"
    "PID|1||111^^^H^MR~222^^^S^SS||DOE&VAN^JOHN^Q\r"
    "OBX|1|NM|GLU||5.5\r"
    "OBX|2|NM|NA||140\r"
    "OBX|3|ST|TXT||a\\T\\b\r";

TEST(PathGet, ReturnsTheFirstMatch) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->get(parse_ok("PID-3.1")).raw(), "111");
  EXPECT_EQ(m->get(parse_ok("PID-3[2].1")).raw(), "222");
  EXPECT_EQ(m->get(parse_ok("PID-3")).raw(), "111^^^H^MR~222^^^S^SS");
  EXPECT_EQ(m->get(parse_ok("PID-5.1.2")).raw(), "VAN");
  EXPECT_EQ(m->get(parse_ok("OBX[3]-5")).decoded(), "a&b");
  EXPECT_EQ(m->get(parse_ok("OBX[*]-5")).raw(), "5.5");
  EXPECT_EQ(m->get(parse_ok("MSH-9.2")).raw(), "R01");
  EXPECT_EQ(m->get(parse_ok("OBX[2]")).raw(), "OBX|2|NM|NA||140");
}

TEST(PathGet, AbsentPartsAreEmpty) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->get(parse_ok("OBX[4]-5")).empty());
  EXPECT_TRUE(m->get(parse_ok("ZZZ-1")).empty());
  EXPECT_TRUE(m->get(parse_ok("PID-3[3].1")).empty());
  EXPECT_TRUE(m->get(parse_ok("PID-99")).empty());
}

TEST(PathGet, StringFormReportsABadPath) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  auto r = m->get("PID-");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::bad_path));
  EXPECT_EQ(m->get("PID-5.2").value().raw(), "JOHN");
}

TEST(PathSelect, ExpandsRepetitionWildcards) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  std::vector<ElementView> out;
  m->select(parse_ok("PID-3[*].1"), out);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].raw(), "111");
  EXPECT_EQ(out[1].raw(), "222");
}

TEST(PathSelect, ExpandsSegmentWildcards) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  std::vector<ElementView> out;
  m->select(parse_ok("OBX[*]-3"), out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[2].raw(), "TXT");
  out.clear();
  m->select(parse_ok("OBX[*]-3[*]"), out);
  EXPECT_EQ(out.size(), 3u);
}

TEST(PathSelect, SelectsOneOccurrenceWithoutWildcard) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  std::vector<ElementView> out;
  m->select(parse_ok("OBX[2]-5"), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].raw(), "140");
}

TEST(PathSelect, SelectsNothingWhenAbsent) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  std::vector<ElementView> out;
  m->select(parse_ok("ZZZ[*]-1"), out);
  m->select(parse_ok("PID-4[*]"), out);
  m->select(parse_ok("OBX[9]-1"), out);
  EXPECT_TRUE(out.empty());
}

TEST(PathGet, LiteralHeaderFieldsHaveNoParts) {
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->get(parse_ok("MSH-2")).raw(), "^~\\&");
  EXPECT_EQ(m->get(parse_ok("MSH-2.1")).raw(), "^~\\&");
  EXPECT_EQ(m->get(parse_ok("MSH-2.1.1")).raw(), "^~\\&");
  EXPECT_TRUE(m->get(parse_ok("MSH-2.2")).empty());
  EXPECT_TRUE(m->get(parse_ok("MSH-1[2]")).empty());
}

TEST(PathFilter, ParsesComponentAndSubcomponentFilters) {
  const Path p = parse_ok("PID-3[5=MR].1");
  EXPECT_EQ(p.repetition, Path::kFiltered);
  ASSERT_TRUE(p.filter.has_value());
  EXPECT_EQ(p.filter->component, 5u);
  EXPECT_EQ(p.filter->subcomponent, Path::kUnset);
  EXPECT_EQ(p.filter->value, "MR");
  EXPECT_EQ(p.component, 1u);
  EXPECT_TRUE(p.filtered());
  EXPECT_TRUE(p.selects_many());  // cannot be set
  const Path s = parse_ok("PID-3[4.1=HOSP A].4.2");
  EXPECT_EQ(s.filter->component, 4u);
  EXPECT_EQ(s.filter->subcomponent, 1u);
  EXPECT_EQ(s.filter->value, "HOSP A");
  EXPECT_FALSE(parse_ok("PID-3[2].1").filter.has_value());
}

TEST(PathFilter, PrintsAndReparsesTheFilter) {
  for (const char* text :
       {"PID-3[5=MR].1", "PID-3[4.1=H].1", "PID-3[5=MR]", "PID-11[7=H].1.1", "PID-3[1=a.b=c]"}) {
    EXPECT_EQ(parse_ok(text).to_string(), text);
    EXPECT_EQ(parse_ok(parse_ok(text).to_string()), parse_ok(text));
  }
}

TEST(PathFilter, RejectsMalformedFilters) {
  for (const char* text :
       {"PID-3[5=]", "PID-3[5=MR", "PID-3[0=MR]", "PID-3[5.=MR]", "PID-3[5.0=MR]", "PID-3[5.1]",
        "PID-3(5=MR)", "PID[5=MR]-3", "PID-3[=MR]", "PID-3[5=MR]x"}) {
    auto p = Path::parse(text);
    ASSERT_FALSE(p.ok()) << text;
    EXPECT_TRUE(p.error().is(Errc::bad_path)) << text;
  }
}

TEST(PathFilter, PicksTheFirstMatchingRepetition) {
  auto m = MessageView::parse(
      "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\r"
      "PID|1||111^^^H&1.2&ISO^PI~222^^^S^MR~333^^^T^MR~4\\T\\4^^^X^A\\T\\B||DOE\r");
  ASSERT_TRUE(m.ok());
  const ElementView field = m->find("PID")->field(3);
  EXPECT_EQ(parse_ok("PID-3[5=MR].1").in_field(field).raw(), "222");
  EXPECT_EQ(parse_ok("PID-3[5=MR]").in_field(field).raw(), "222^^^S^MR");
  EXPECT_EQ(parse_ok("PID-3[4.1=H].4.2").in_field(field).raw(), "1.2");
  EXPECT_EQ(parse_ok("PID-3[4.2=1.2].1").in_field(field).raw(), "111");
  // Compared with the decoded text: A\T\B is A&B.
  EXPECT_EQ(parse_ok("PID-3[5=A&B].1").in_field(field).decoded(), "4&4");
  EXPECT_TRUE(parse_ok("PID-3[5=ZZ].1").in_field(field).empty());
  EXPECT_TRUE(parse_ok("PID-3[5=mr].1").in_field(field).empty());  // case-sensitive
  // Unfiltered forms give what MessageView::get gives.
  for (const char* text : {"PID-3", "PID-3[2].1", "PID-3[*].1", "PID-3.4.2", "PID-3[9].1"}) {
    EXPECT_EQ(parse_ok(text).in_field(field).raw(), m->get(parse_ok(text)).raw()) << text;
  }
}

TEST(PathFilter, GetSelectsNothingForAFilteredPath) {
  // MessageView::get does not evaluate filters: it must not return another repetition instead.
  auto m = MessageView::parse(kMsg);
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->get(parse_ok("PID-3[5=SS].1")).empty());
}

}  // namespace
}  // namespace hims::hl7v2
