// MessageView tokenizing, ElementView splitting, Message editing and encoding.
#include "hl7v2/message.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

namespace hims::hl7v2 {
namespace {

const std::string kOru =
    "MSH|^~\\&|GHH LAB|ELAB-3|GHH OE|BLDG4|200202150930||ORU^R01|CNTRL-3456|P|2.4\r"
    "PID|||555-44-4444||EVERYWOMAN^EVE^E^^^^L|JONES|19620320|F|||153 FERNWOOD "
    "DR.^^STATESVILLE^OH^35292||(206)3345232|(206)752-121||||AC555444444||67-A4335^OH^20030520\r"
    "OBR|1|845439^GHH OE|1045813^GHH LAB|15545^GLUCOSE|||200202150730\r"
    "OBX|1|SN|1554-5^GLUCOSE^POST 12H CFST:MCNC:PT:SER/PLAS:QN||^182|mg/dl|70_105|H|||F\r"
    "OBX|2|SN|1554-5^GLUCOSE||^190|mg/dl|70_105|H|||F\r";

MessageView parse_ok(std::string_view bytes, const ParseOptions& options = {}) {
  auto r = MessageView::parse(bytes, options);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : MessageView();
}

TEST(MessageView, CountsSegmentsWithoutATrailingEmptyOne) {
  const MessageView m = parse_ok(kOru);
  ASSERT_EQ(m.segment_count(), 5u);
  EXPECT_EQ(m.segment(0).name(), "MSH");
  EXPECT_EQ(m.segment(4).name(), "OBX");
  EXPECT_EQ(m.segment(4).occurrence(), 2u);
}

TEST(MessageView, NumbersMshFieldsFromTheFieldSeparator) {
  const MessageView m = parse_ok(kOru);
  const SegmentView msh = m.header();
  EXPECT_EQ(msh.field(1).raw(), "|");
  EXPECT_EQ(msh.field(2).raw(), "^~\\&");
  EXPECT_EQ(msh.field(2).decoded(), "^~\\&");
  EXPECT_EQ(msh.field(2).size(), 1u);
  EXPECT_EQ(msh.field(3).raw(), "GHH LAB");
  EXPECT_EQ(msh.field(10).raw(), "CNTRL-3456");
  EXPECT_EQ(msh.field_count(), 12u);
  EXPECT_EQ(m.message_code(), "ORU");
  EXPECT_EQ(m.trigger_event(), "R01");
  EXPECT_EQ(m.structure(), "");
  EXPECT_EQ(m.control_id(), "CNTRL-3456");
  EXPECT_EQ(m.processing_id(), "P");
  EXPECT_EQ(m.version(), "2.4");
}

TEST(MessageView, SplitsComponentsRepetitionsAndSubcomponents) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPID|1||a^b&c&d~e^f||x&y^z\r");
  const SegmentView pid = m.segment(1);
  const ElementView f3 = pid.field(3);
  EXPECT_EQ(f3.size(), 2u);
  EXPECT_EQ(f3.repetition(1).raw(), "a^b&c&d");
  EXPECT_EQ(f3.repetition(2).component(2).raw(), "f");
  EXPECT_EQ(f3.component(2).raw(), "b&c&d");
  EXPECT_EQ(f3.component(2).size(), 3u);
  EXPECT_EQ(f3.component(2).subcomponent(3).raw(), "d");
  EXPECT_EQ(pid.field(5).component(1).subcomponent(2).raw(), "y");
  EXPECT_EQ(pid.field(5).component(2).raw(), "z");
}

TEST(MessageView, AbsentPositionsAreEmptyNotErrors) {
  const MessageView m = parse_ok(kOru);
  EXPECT_TRUE(m.segment(1).field(99).empty());
  EXPECT_TRUE(m.segment(1).field(3).repetition(4).empty());
  EXPECT_TRUE(m.segment(1).field(5).component(9).subcomponent(2).empty());
  EXPECT_EQ(m.segment(1).field(99).size(), 0u);
}

TEST(MessageView, ChildrenRangeMatchesIndexedAccess) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPID|1||a^b&c~~e\r");
  std::vector<std::string> reps;
  for (const ElementView r : m.segment(1).field(3).children()) reps.emplace_back(r.raw());
  EXPECT_EQ(reps, (std::vector<std::string>{"a^b&c", "", "e"}));
  std::vector<std::string> subs;
  for (const ElementView s : m.segment(1).field(3).component(2).children()) {
    subs.emplace_back(s.raw());
  }
  EXPECT_EQ(subs, (std::vector<std::string>{"b", "c"}));
  int empty_children = 0;
  for (const ElementView e : m.segment(1).field(9).children()) {
    (void)e;
    ++empty_children;
  }
  EXPECT_EQ(empty_children, 0);
}

// --- ElementView::for_each_leaf and the padded (past-the-end word) searches -------------------

struct Leaf {
  std::size_t r, c, s;
  std::string raw;
  Level level;
  bool literal;
  bool operator==(const Leaf&) const = default;
};

std::vector<Leaf> leaves_of(const ElementView& e) {
  std::vector<Leaf> out;
  e.for_each_leaf([&](std::size_t r, std::size_t c, std::size_t s, ElementView leaf) {
    out.push_back({r, c, s, std::string(leaf.raw()), leaf.level(), leaf.literal()});
  });
  return out;
}

// Every position the indexed accessors give, empty ones included, for a field.
std::vector<Leaf> indexed_leaves(const ElementView& field) {
  std::vector<Leaf> out;
  const std::size_t reps = field.size();
  for (std::size_t r = 1; r <= reps; ++r) {
    const ElementView rep = field.repetition(r);
    const std::size_t comps = std::max<std::size_t>(rep.size(), 1);
    for (std::size_t c = 1; c <= comps; ++c) {
      const ElementView comp = rep.component(c);
      const std::size_t subs = std::max<std::size_t>(comp.size(), 1);
      for (std::size_t s = 1; s <= subs; ++s) {
        const ElementView sub = comp.subcomponent(s);
        out.push_back({r, c, s, std::string(sub.raw()), sub.level(), sub.literal()});
      }
    }
  }
  return out;
}

std::vector<std::string> raws(const std::vector<Leaf>& leaves) {
  std::vector<std::string> out;
  for (const Leaf& l : leaves) out.push_back(l.raw);
  return out;
}

// The children() walk down to sub-components, as raw strings.
std::vector<std::string> children_walk(const ElementView& field) {
  std::vector<std::string> out;
  for (const ElementView rep : field.children()) {
    for (const ElementView comp : rep.children()) {
      for (const ElementView sub : comp.children()) out.emplace_back(sub.raw());
    }
  }
  return out;
}

TEST(ForEachLeaf, VisitsEveryPositionInOrderWithOneBasedNumbers) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPID|1||a~~b^|x^y&z&~q\r");
  const std::vector<Leaf> f3 = leaves_of(m.segment(1).field(3));
  const std::vector<Leaf> want3 = {{1, 1, 1, "a", Level::subcomponent, false},
                                   {2, 1, 1, "", Level::subcomponent, false},
                                   {3, 1, 1, "b", Level::subcomponent, false},
                                   {3, 2, 1, "", Level::subcomponent, false}};
  EXPECT_EQ(f3, want3);
  const std::vector<Leaf> f4 = leaves_of(m.segment(1).field(4));
  const std::vector<Leaf> want4 = {{1, 1, 1, "x", Level::subcomponent, false},
                                   {1, 2, 1, "y", Level::subcomponent, false},
                                   {1, 2, 2, "z", Level::subcomponent, false},
                                   {1, 2, 3, "", Level::subcomponent, false},
                                   {2, 1, 1, "q", Level::subcomponent, false}};
  EXPECT_EQ(f4, want4);
}

TEST(ForEachLeaf, MatchesIndexedAccessAndChildrenOnEveryField) {
  // Long and short fields, delimiters at the edges and across 16-byte blocks, escapes, nulls.
  const std::string msg =
      "MSH|^~\\&|SND|FAC||RCV|20240101||ADT^A01^ADT_A01|1|P|2.5.1\r"
      "PID|1||123^^^HOSP&1.2.3&ISO^MR~456^^^X||DOE^JOHN\\S\\JR^^^^^L||19700101|M|||"
      "1 A STREET^APT \\T\\ 2^CITY^ST^12345^USA^H~^^^^^^M||^PRN^PH^^^555^1234567|\"\"|~|^|&|"
      "^~&|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa^bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb&c~ddddddddddddddddd|"
      "abcdefghijklmno^|abcdefghijklmnop^|abcdefghijklmnopq^\r"
      "OBX|1|TX|||line one\\.br\\line two with a long text value to pass sixty-four bytes "
      "in one piece^x\r"
      "ZZZ|last&field^ends~at^the&buffer&end";
  const MessageView m = parse_ok(msg);
  std::size_t checked = 0;
  for (const SegmentView seg : m) {
    for (std::size_t f = 0; f <= seg.field_count(); ++f) {
      const ElementView field = seg.field(f);
      const std::vector<Leaf> got = leaves_of(field);
      if (field.literal()) {
        ASSERT_EQ(got.size(), 1u);
        EXPECT_EQ(got[0].raw, field.raw());
        EXPECT_TRUE(got[0].literal);
        EXPECT_EQ(got[0].level, Level::subcomponent);
        continue;
      }
      EXPECT_EQ(got, indexed_leaves(field)) << seg.name() << "-" << f << " " << field.raw();
      // The children() walk skips empty repetitions and components; otherwise the same bytes.
      std::vector<std::string> non_empty;
      for (const Leaf& l : got) {
        const ElementView comp = field.repetition(l.r).component(l.c);
        if (!comp.empty()) non_empty.push_back(l.raw);
      }
      EXPECT_EQ(non_empty, children_walk(field)) << seg.name() << "-" << f;
      ++checked;
    }
  }
  EXPECT_GT(checked, 30u);
}

TEST(ForEachLeaf, EmptyFieldVisitsNothingAndNullIsOneLeaf) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPID|1||\"\"|\r");
  EXPECT_TRUE(leaves_of(m.segment(1).field(2)).empty());
  EXPECT_TRUE(leaves_of(m.segment(1).field(4)).empty());   // trailing empty field
  EXPECT_TRUE(leaves_of(m.segment(1).field(40)).empty());  // absent field
  const std::vector<Leaf> null = leaves_of(m.segment(1).field(3));
  ASSERT_EQ(null.size(), 1u);
  EXPECT_EQ(null[0].raw, "\"\"");
  bool is_null = false;
  m.segment(1).field(3).for_each_leaf(
      [&](std::size_t, std::size_t, std::size_t, ElementView leaf) { is_null = leaf.is_null(); });
  EXPECT_TRUE(is_null);
}

TEST(ForEachLeaf, TrailingDelimitersGiveEmptyPositions) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPID|a~|b^|c&|~^&\r");
  EXPECT_EQ(raws(leaves_of(m.segment(1).field(1))), (std::vector<std::string>{"a", ""}));
  EXPECT_EQ(raws(leaves_of(m.segment(1).field(2))), (std::vector<std::string>{"b", ""}));
  EXPECT_EQ(raws(leaves_of(m.segment(1).field(3))), (std::vector<std::string>{"c", ""}));
  const std::vector<Leaf> all = leaves_of(m.segment(1).field(4));
  const std::vector<Leaf> want = {{1, 1, 1, "", Level::subcomponent, false},
                                  {2, 1, 1, "", Level::subcomponent, false},
                                  {2, 2, 1, "", Level::subcomponent, false},
                                  {2, 2, 2, "", Level::subcomponent, false}};
  EXPECT_EQ(all, want);
}

TEST(ForEachLeaf, Msh1AndMsh2AreLiteralSingleLeaves) {
  const MessageView m = parse_ok("MSH|^~\\&|A\r");
  const std::vector<Leaf> msh1 = leaves_of(m.segment(0).field(1));
  const std::vector<Leaf> want1 = {{1, 1, 1, "|", Level::subcomponent, true}};
  EXPECT_EQ(msh1, want1);
  const std::vector<Leaf> msh2 = leaves_of(m.segment(0).field(2));
  const std::vector<Leaf> want2 = {{1, 1, 1, "^~\\&", Level::subcomponent, true}};
  EXPECT_EQ(msh2, want2);
  // The same as the indexed accessors and children(): never split.
  EXPECT_EQ(m.segment(0).field(2).repetition(1).component(1).subcomponent(1).raw(), "^~\\&");
  EXPECT_EQ(children_walk(m.segment(0).field(2)), (std::vector<std::string>{"^~\\&"}));
}

TEST(ForEachLeaf, EscapesAreRawAndDecodeOnTheLeaf) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPID|a\\S\\b^c\\T\\d&e\\R\\f\r");
  const std::vector<Leaf> got = leaves_of(m.segment(1).field(1));
  EXPECT_EQ(raws(got), (std::vector<std::string>{"a\\S\\b", "c\\T\\d", "e\\R\\f"}));
  std::vector<std::string> decoded;
  m.segment(1).field(1).for_each_leaf([&](std::size_t, std::size_t, std::size_t, ElementView leaf) {
    decoded.push_back(leaf.decoded());
  });
  EXPECT_EQ(decoded, (std::vector<std::string>{"a^b", "c&d", "e~f"}));
}

TEST(ForEachLeaf, OnARepetitionOrComponentTheHigherDelimitersAreData) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPID|a^b&c~d\r");
  const ElementView field = m.segment(1).field(1);
  const std::vector<Leaf> rep = leaves_of(field.repetition(1));
  const std::vector<Leaf> want_rep = {{1, 1, 1, "a", Level::subcomponent, false},
                                      {1, 2, 1, "b", Level::subcomponent, false},
                                      {1, 2, 2, "c", Level::subcomponent, false}};
  EXPECT_EQ(rep, want_rep);
  const std::vector<Leaf> comp = leaves_of(field.component(2));
  const std::vector<Leaf> want_comp = {{1, 1, 1, "b", Level::subcomponent, false},
                                       {1, 1, 2, "c", Level::subcomponent, false}};
  EXPECT_EQ(comp, want_comp);
  const std::vector<Leaf> sub = leaves_of(field.component(2).subcomponent(2));
  const std::vector<Leaf> want_sub = {{1, 1, 1, "c", Level::subcomponent, false}};
  EXPECT_EQ(sub, want_sub);
  // A caller-built element (no message behind it) is never read past its end.
  const ElementView loose("x^y&z~w", Level::field, Delimiters{}, Charset::utf8);
  EXPECT_EQ(raws(leaves_of(loose)), (std::vector<std::string>{"x", "y", "z", "w"}));
  EXPECT_EQ(children_walk(loose), (std::vector<std::string>{"x", "y", "z", "w"}));
}

TEST(ForEachLeaf, FieldsEndingAtTheEndOfTheBufferAreNotReadPast) {
  // Exactly sized heap buffers, no terminator: ASan reports any read past the last byte.
  const std::vector<std::string> tails = {"a",
                                          "a^b",
                                          "a^b&c~d",
                                          "0123456789abcde",
                                          "0123456789abcdef",
                                          "^~&",
                                          "abc^defg&",
                                          "0123456789ab^c~",
                                          "0123456789abcd&ef^0123456789abcdef~g"};
  for (const std::string& tail : tails) {
    const std::string text = "MSH|^~\\&|A\rPID|1|" + tail;
    const std::unique_ptr<char[]> buf(new char[text.size()]);
    std::memcpy(buf.get(), text.data(), text.size());
    const MessageView m = parse_ok(std::string_view(buf.get(), text.size()));
    const ElementView field = m.segment(1).field(2);
    ASSERT_EQ(field.raw(), tail);
    EXPECT_EQ(leaves_of(field), indexed_leaves(field)) << tail;
    std::vector<std::string> non_empty;
    for (const Leaf& l : leaves_of(field)) {
      if (!field.repetition(l.r).component(l.c).empty()) non_empty.push_back(l.raw);
    }
    EXPECT_EQ(non_empty, children_walk(field)) << tail;
  }
}

TEST(MessageView, AcceptsLfCrlfAndMixedTerminators) {
  const MessageView lf = parse_ok("MSH|^~\\&|A\nPID|1\nOBX|1\n");
  const MessageView crlf = parse_ok("MSH|^~\\&|A\r\nPID|1\r\nOBX|1\r\n");
  const MessageView mixed = parse_ok("MSH|^~\\&|A\rPID|1\r\nOBX|1");
  for (const MessageView* m : {&lf, &crlf, &mixed}) {
    ASSERT_EQ(m->segment_count(), 3u);
    EXPECT_EQ(m->segment(2).raw(), "OBX|1");
  }
}

TEST(MessageView, SkipsBlankLinesBomAndLeadingWhiteSpace) {
  const MessageView m = parse_ok("\xEF\xBB\xBF \r\n\nMSH|^~\\&|A\r\r\n\nPID|1\r  \r\n");
  ASSERT_EQ(m.segment_count(), 2u);
  EXPECT_EQ(m.bytes().substr(0, 3), "MSH");
}

TEST(MessageView, KeepsSegmentsWithoutFields) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPD1\rPV1");
  ASSERT_EQ(m.segment_count(), 3u);
  EXPECT_EQ(m.segment(1).name(), "PD1");
  EXPECT_EQ(m.segment(1).field_count(), 0u);
  EXPECT_TRUE(m.segment(2).field(1).empty());
}

TEST(MessageView, TrailingSeparatorsCountAsFields) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rMSA|AA|1||\r");
  EXPECT_EQ(m.segment(1).field_count(), 4u);
  EXPECT_TRUE(m.segment(1).field(3).empty());
}

TEST(MessageView, NullIsDistinctFromEmpty) {
  const MessageView m = parse_ok("MSH|^~\\&|A\rPV1|\"\"||x\r");
  EXPECT_TRUE(m.segment(1).field(1).is_null());
  EXPECT_FALSE(m.segment(1).field(1).empty());
  EXPECT_FALSE(m.segment(1).field(2).is_null());
  EXPECT_TRUE(m.segment(1).field(2).empty());
  EXPECT_EQ(m.segment(1).field(1).decoded(), "\"\"");
}

TEST(MessageView, FindsAndCountsSegments) {
  const MessageView m = parse_ok(kOru);
  EXPECT_EQ(m.count("OBX"), 2u);
  ASSERT_TRUE(m.find("OBX", 2).has_value());
  EXPECT_EQ(m.find("OBX", 2)->field(5).raw(), "^190");
  EXPECT_FALSE(m.find("OBX", 3).has_value());
  EXPECT_FALSE(m.find("ZZZ").has_value());
}

TEST(MessageView, IteratesSegmentsInOrder) {
  const MessageView m = parse_ok(kOru);
  std::string names;
  for (const SegmentView s : m) names.append(s.name());
  EXPECT_EQ(names, "MSHPIDOBROBXOBX");
}

TEST(MessageView, ReparseReusesTheObject) {
  MessageView m;
  ASSERT_TRUE(m.reparse(kOru).ok());
  EXPECT_EQ(m.segment_count(), 5u);
  ASSERT_TRUE(m.reparse("MSH|^~\\&|B\rEVN|A01\r").ok());
  EXPECT_EQ(m.segment_count(), 2u);
  EXPECT_EQ(m.header().field(3).raw(), "B");
  EXPECT_FALSE(m.reparse("PID|1").ok());
  EXPECT_EQ(m.segment_count(), 0u);
}

TEST(MessageView, ParsesBatchAndFileHeadersAsHeaders) {
  const MessageView m = parse_ok("BHS|^~\\&|APP||||||||batch-1");
  EXPECT_EQ(m.header().field(1).raw(), "|");
  EXPECT_EQ(m.header().field(11).raw(), "batch-1");
  EXPECT_EQ(m.control_id(), "");
}

TEST(MessageView, StrictModeRejectsAMissingMessageType) {
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  auto r = MessageView::parse("MSH|^~\\&|A|B|C|D|20080115||||1|P|2.6\rPID|1\r", strict);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::missing_field));
  EXPECT_EQ(r.error().where(), "MSH-9");
  EXPECT_TRUE(MessageView::parse("MSH|^~\\&|A|B|C|D|20080115||||1|P|2.6\rPID|1\r").ok());
}

TEST(MessageView, StrictModeRejectsMalformedSegmentIds) {
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  auto r = MessageView::parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5\rI|x\r", strict);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::bad_segment));
  EXPECT_EQ(r.error().where(), "segment 2");
}

TEST(MessageView, StrictModeRejectsAnUnknownVersion) {
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  auto r = MessageView::parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.999\r", strict);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::unsupported_version));
  EXPECT_EQ(error_condition(r.error().code_as<Errc>()), ErrorCondition::unsupported_version_id);
}

TEST(MessageView, KnowsTheHl7Versions) {
  for (const char* v : {"2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1",
                        "2.8", "2.8.1", "2.8.2"}) {
    EXPECT_TRUE(is_known_version(v)) << v;
  }
  for (const char* v : {"2.999", "12", "", "2.5 ", "3.0", "2"}) {
    EXPECT_FALSE(is_known_version(v)) << v;
  }
}

TEST(ErrorCondition, MapsCodesToTable0357) {
  EXPECT_EQ(error_condition(Errc::missing_field), ErrorCondition::required_field_missing);
  EXPECT_EQ(error_condition(Errc::bad_envelope), ErrorCondition::segment_sequence);
  EXPECT_EQ(error_condition(Errc::no_header), ErrorCondition::segment_sequence);
  EXPECT_EQ(error_condition(Errc::bad_value), ErrorCondition::data_type);
  EXPECT_EQ(error_condition(Errc::unsupported_version), ErrorCondition::unsupported_version_id);
  EXPECT_EQ(error_condition(Errc::too_large), ErrorCondition::application_internal_error);
  EXPECT_EQ(to_string(Errc::bad_encoding_characters), "bad_encoding_characters");
}

TEST(MessageView, ErrorMessagesNamePositionsNotValues) {
  auto r = MessageView::parse("MSH|^~\\&|SECRETNAME\rPID|1|\xFF\xFESMITH\r");
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::invalid_text));
  EXPECT_EQ(r.error().message().find("SMITH"), std::string::npos);
  EXPECT_EQ(r.error().message().find("SECRETNAME"), std::string::npos);
}

// --- Message (owning, editable) ---

TEST(Message, BytesOfAnUnchangedMessageAreIdentical) {
  const std::string input = "\xEF\xBB\xBFMSH|^~\\&|A\r\nPID|1\n\nOBX|1";
  auto m = Message::parse(input);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->bytes(), input);
}

TEST(Message, EncodeWritesCanonicalTerminators) {
  auto m = Message::parse("\xEF\xBB\xBFMSH|^~\\&|A\r\nPID|1\n\nOBX|1");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->encode(), "MSH|^~\\&|A\rPID|1\rOBX|1\r");
  EXPECT_EQ(m->encode(Terminator::lf), "MSH|^~\\&|A\nPID|1\nOBX|1\n");
  EXPECT_EQ(m->encode(Terminator::crlf), "MSH|^~\\&|A\r\nPID|1\r\nOBX|1\r\n");
}

TEST(Message, SetEscapesDelimitersAndKeepsFormattingEscapes) {
  auto m = Message::parse("MSH|^~\\&|A\rOBX|1|FT|||old\r");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->set("OBX-5", "a|b^c&d~e\\f \\.br\\ next").ok());
  EXPECT_EQ(m->view().segment(1).field(5).raw(), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f \\.br\\ next");
  EXPECT_EQ(m->view().segment(1).field(5).decoded(), "a|b^c&d~e\\f \\.br\\ next");
  EXPECT_EQ(m->bytes(), "MSH|^~\\&|A\rOBX|1|FT|||a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f \\.br\\ next\r");
}

TEST(Message, SetCreatesMissingFieldsComponentsAndSubcomponents) {
  auto m = Message::parse("MSH|^~\\&|A\rPID|1\r");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->set("PID-5.3", "E").ok());
  EXPECT_EQ(m->view().segment(1).raw(), "PID|1||||^^E");
  ASSERT_TRUE(m->set("PID-3[2].4.2", "ISO").ok());
  EXPECT_EQ(m->view().segment(1).raw(), "PID|1||~^^^&ISO||^^E");
  ASSERT_TRUE(m->set("PID-5.1", "DOE").ok());
  EXPECT_EQ(m->view().get(Path::parse("PID-5.1").value()).raw(), "DOE");
  EXPECT_EQ(m->view().segment(1).raw(), "PID|1||~^^^&ISO||DOE^^E");
}

TEST(Message, SetReplacesAWholeFieldAndKeepsTheRest) {
  auto m = Message::parse("MSH|^~\\&|A\r\nPID|1|2|3\r\nPV1|1\r\n");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->set("PID-2", "x").ok());
  EXPECT_EQ(m->bytes(), "MSH|^~\\&|A\r\nPID|1|x|3\r\nPV1|1\r\n");
  ASSERT_TRUE(m->set("MSH-10", "CTRL").ok());
  EXPECT_EQ(m->view().control_id(), "CTRL");
}

TEST(Message, SetAppendsTheNextOccurrenceOfASegment) {
  auto m = Message::parse("MSH|^~\\&|A\nOBX|1\n");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->set("OBX[2]-1", "2").ok());
  EXPECT_EQ(m->bytes(), "MSH|^~\\&|A\nOBX|1\nOBX|2\n");
  ASSERT_TRUE(m->set("NTE-3", "note").ok());
  EXPECT_EQ(m->encode(), "MSH|^~\\&|A\rOBX|1\rOBX|2\rNTE|||note\r");
}

TEST(Message, SetRejectsTheDelimiterFields) {
  auto m = Message::parse("MSH|^~\\&|A\r");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->set("MSH-1", "#").error().is(Errc::not_settable));
  EXPECT_TRUE(m->set("MSH-2", "#").error().is(Errc::not_settable));
  EXPECT_EQ(m->bytes(), "MSH|^~\\&|A\r");
}

TEST(Message, SetRejectsManyElementPaths) {
  auto m = Message::parse("MSH|^~\\&|A\rPID|1\r");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->set("PID-3[*].1", "x").error().is(Errc::not_settable));
  EXPECT_TRUE(m->set("OBX[*]-5", "x").error().is(Errc::not_settable));
  EXPECT_TRUE(m->set("PID", "x").error().is(Errc::not_settable));
}

TEST(Message, SetRejectsAnOccurrenceBeyondTheNextOne) {
  auto m = Message::parse("MSH|^~\\&|A\rOBX|1\r");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->set("OBX[3]-1", "x").error().is(Errc::not_settable));
}

TEST(Message, SetRejectsAMalformedPath) {
  auto m = Message::parse("MSH|^~\\&|A\r");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->set("PID-", "x").error().is(Errc::bad_path));
}

TEST(Message, SetRejectsAFieldBeyondTheLimit) {
  auto m = Message::parse("MSH|^~\\&|A\rPID|1\r");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->set("PID-5000", "x").error().is(Errc::too_many_fields));
}

TEST(Message, SetRawWritesBytesAsGiven) {
  auto m = Message::parse("MSH|^~\\&|A\rPID|1\r");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->set_raw(Path::parse("PID-5").value(), "DOE^JOHN").ok());
  EXPECT_EQ(m->view().segment(1).field(5).component(2).raw(), "JOHN");
}

TEST(Message, AppendSegmentAddsAtTheEnd) {
  auto m = Message::parse("MSH|^~\\&|A\rPID|1");
  ASSERT_TRUE(m.ok());
  auto idx = m->append_segment("NTE|1||hello");
  ASSERT_TRUE(idx.ok());
  EXPECT_EQ(*idx, 2u);
  EXPECT_EQ(m->bytes(), "MSH|^~\\&|A\rPID|1\rNTE|1||hello\r");
  EXPECT_FALSE(m->append_segment("NTE|1\rPID").ok());
  EXPECT_FALSE(m->append_segment("").ok());
}

TEST(Message, CopiesAndMovesKeepViewsOnTheirOwnBytes) {
  auto parsed = Message::parse("MSH|^~\\&|A\r");  // short: SSO buffer moves with the string
  ASSERT_TRUE(parsed.ok());
  Message a = std::move(parsed).value();
  Message b = a;
  ASSERT_TRUE(a.set("MSH-3", "changed").ok());
  EXPECT_EQ(b.view().header().field(3).raw(), "A");
  EXPECT_EQ(b.view().bytes().data(), b.bytes().data());
  Message c = std::move(b);
  EXPECT_EQ(c.view().header().field(3).raw(), "A");
  EXPECT_EQ(c.view().bytes().data(), c.bytes().data());
  c = a;
  EXPECT_EQ(c.view().header().field(3).raw(), "changed");
}

TEST(Message, SetOnALatin1MessageWritesLatin1Bytes) {
  auto m = Message::parse("MSH|^~\\&|A|||||||||||||||8859/1\rPID|1\r");
  ASSERT_TRUE(m.ok());
  ASSERT_TRUE(m->set("PID-5", "B\xC3\xB6hm").ok());  // "Böhm" in UTF-8
  EXPECT_EQ(m->view().segment(1).field(5).raw(), "B\xF6hm");
  EXPECT_EQ(m->view().segment(1).field(5).decoded(), "B\xC3\xB6hm");
  EXPECT_TRUE(m->set("PID-5", "\xE2\x82\xAC").error().is(Errc::invalid_text));  // EUR sign
}

TEST(Message, SetRejectsInvalidUtf8) {
  auto m = Message::parse("MSH|^~\\&|A\rPID|1\r");
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->set("PID-5", "\xFF").error().is(Errc::invalid_text));
  EXPECT_EQ(m->bytes(), "MSH|^~\\&|A\rPID|1\r");
}

}  // namespace
}  // namespace hims::hl7v2
