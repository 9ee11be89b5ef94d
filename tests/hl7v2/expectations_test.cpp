// ../shared/corpus/hl7v2/EXPECTATIONS.md sections A-H, one test per item (ItemNN_...).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "hl7v2/batch.hpp"
#include "hl7v2/message.hpp"
#include "tests/support/corpus.hpp"

namespace hims::hl7v2 {
namespace {

std::string load(const std::string& rel) {
  return test::read_file(test::corpus_dir() / "hl7v2" / rel);
}

// The n-th (0-based) message of a corpus file, split then parsed, as an owning Message.
Message message(const std::string& rel, std::size_t n = 0, const ParseOptions& options = {}) {
  const std::string bytes = load(rel);
  auto stream = split_stream(bytes);
  EXPECT_TRUE(stream.ok()) << rel;
  std::vector<std::string_view> all;
  if (stream.ok()) {
    for (const Batch& b : stream->batches)
      all.insert(all.end(), b.messages.begin(), b.messages.end());
  }
  EXPECT_LT(n, all.size()) << rel;
  auto m =
      Message::parse(n < all.size() ? std::string(all[n]) : std::string("MSH|^~\\&|"), options);
  EXPECT_TRUE(m.ok()) << rel << ": " << (m.ok() ? "" : m.error().message());
  if (!m.ok()) return Message::parse("MSH|^~\\&|x").value();
  return std::move(m).value();
}

std::string get(const Message& m, std::string_view path) {
  auto e = m.view().get(path);
  EXPECT_TRUE(e.ok()) << path;
  return e.ok() ? std::string(e->raw()) : std::string();
}
std::string text(const Message& m, std::string_view path) {
  auto e = m.view().get(path);
  EXPECT_TRUE(e.ok()) << path;
  return e.ok() ? e->decoded() : std::string();
}
std::string names(const MessageView& m) {
  std::string out;
  for (const SegmentView s : m) out.append(s.name()).append(" ");
  if (!out.empty()) out.pop_back();
  return out;
}

Error parse_error(const std::string& rel, ParseMode mode = ParseMode::tolerant) {
  ParseOptions options;
  options.mode = mode;
  const std::string bytes = load(rel);
  auto m = MessageView::parse(bytes, options);
  EXPECT_FALSE(m.ok()) << rel;
  return m.ok() ? Error(Errc::bad_value, "", "parsed") : m.error();
}

// ---- A. MSH / delimiter rules ----

TEST(Expectations, Item01_Msh1IsTheFieldSeparatorAndMsh2IsLiteral) {
  const Message m = message("python-hl7/sample_hl7.hl7");
  EXPECT_EQ(get(m, "MSH-1"), "|");
  EXPECT_EQ(get(m, "MSH-2"), "^~\\&");
  EXPECT_EQ(text(m, "MSH-2"), "^~\\&");
  EXPECT_EQ(m.view().header().field(2).size(), 1u);
  EXPECT_EQ(get(m, "MSH-3"), "GHH LAB");
  EXPECT_EQ(get(m, "MSH-4"), "ELAB-3");
  EXPECT_EQ(get(m, "MSH-5"), "GHH OE");
  EXPECT_EQ(get(m, "MSH-6"), "BLDG4");
  EXPECT_EQ(get(m, "MSH-10"), "CNTRL-3456");
}

TEST(Expectations, Item02_MshFieldsAreNumberedFromTheSeparator) {
  const Message m =
      message("hapi-hl7v2/NewPipeParserTest_L821_msh_numbered_fields_version_is_12.hl7");
  EXPECT_EQ(get(m, "MSH-3"), "3");
  EXPECT_EQ(get(m, "MSH-12"), "12");
  EXPECT_EQ(m.view().version(), "12");
  EXPECT_EQ(get(m, "MSH-13"), "13");
  EXPECT_EQ(get(m, "MSA-1"), "foo");
  EXPECT_EQ(get(m, "ERR-1"), "bar");
}

TEST(Expectations, Item03_Msh9HasItsComponents) {
  const Message a = message("microsoft-fhir-converter/ADT-A01-01.hl7");
  EXPECT_EQ(get(a, "MSH-9"), "ADT^A01^ADT_A01");
  EXPECT_EQ(a.view().message_code(), "ADT");
  EXPECT_EQ(a.view().trigger_event(), "A01");
  EXPECT_EQ(a.view().structure(), "ADT_A01");
  const Message b = message("python-hl7/sample_hl7.hl7");
  EXPECT_EQ(get(b, "MSH-9"), "ORU^R01");
  EXPECT_EQ(get(b, "MSH-9.3"), "");
}

TEST(Expectations, Item04_VersionIsTheFirstComponentOfMsh12) {
  const Message a =
      message("hapi-hl7v2/NewPipeParserTest_L825_adt_a08_v22_msh12_with_components.hl7");
  EXPECT_EQ(get(a, "MSH-12"), "2.2^x^x");
  EXPECT_EQ(a.view().version(), "2.2");
  const Message b =
      message("hapi-hl7v2/NewPipeParserTest_L455_adt_a45_v25_msh11_msh12_components_8859_1.hl7");
  EXPECT_EQ(get(b, "MSH-11"), "T^");
  EXPECT_EQ(b.view().processing_id(), "T");
  EXPECT_EQ(get(b, "MSH-12"), "2.5^^");
  EXPECT_EQ(b.view().version(), "2.5");
}

TEST(Expectations, Item05_DelimitersComeFromTheMessage) {
  const std::string bytes = load("python-hl7/nonstandard_separators.hl7");
  auto m = Message::parse(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->view().delimiters().field, '$');
  EXPECT_EQ(m->view().delimiters().component, '%');
  EXPECT_EQ(m->view().segment_count(), 2u);
  std::vector<std::string> comps;
  for (const ElementView c : m->view().get(Path::parse("PID-5").value()).repetition(1).children()) {
    comps.emplace_back(c.raw());
  }
  EXPECT_EQ(comps, (std::vector<std::string>{"EVERYWOMAN", "EVE", "E", "", "", "L"}));
  EXPECT_EQ(m->bytes(), bytes);
}

TEST(Expectations, Item06_CaretAsFieldSeparator) {
  const Message m =
      message("hapi-hl7v2/NewPipeParserTest_L1184_oru_r01_v24_caret_field_separator_va.hl7");
  const Delimiters d = m.view().delimiters();
  EXPECT_EQ(d.field, '^');
  EXPECT_EQ(d.component, '~');
  EXPECT_EQ(d.repetition, '|');
  EXPECT_EQ(d.escape, '\\');
  EXPECT_EQ(d.subcomponent, '&');
  EXPECT_EQ(get(m, "MSH-3.1"), "HDRVTLS");
  EXPECT_EQ(get(m, "MSH-4.1"), "552");
  EXPECT_EQ(get(m, "MSH-4.2"), "DAYTDEV.FO-BAYPINES.MED.VA.GOV");
  EXPECT_EQ(get(m, "MSH-9.1"), "ORU");
  EXPECT_EQ(get(m, "MSH-9.2"), "R01");
  EXPECT_EQ(get(m, "MSH-12"), "2.4");
  EXPECT_EQ(names(m.view()), "MSH ORC OBR OBX OBX ZSC");

  const Message a24 = message("hapi-hl7v2/resources_segmentfinder_a24.hl7");
  EXPECT_EQ(get(a24, "MSH-9.1"), "ADT");
  EXPECT_EQ(get(a24, "MSH-9.2"), "A24");
  EXPECT_EQ(a24.view().count("PID"), 2u);
  EXPECT_EQ(get(a24, "PID-5.1"), "SMITH");
  EXPECT_EQ(get(a24, "PID-5.2"), "JOHN");
}

TEST(Expectations, Item07_CustomSubcomponentSeparator) {
  const Message m = message(
      "nhapi/tests/LegacyPipeParserV231Tests_L120_oru_r01_v231_dollar_subcomponent_sep.hl7");
  EXPECT_EQ(m.view().delimiters().subcomponent, '$');
  EXPECT_EQ(m.view().message_code(), "ORU");
  EXPECT_EQ(m.view().trigger_event(), "R01");
  EXPECT_EQ(m.view().version(), "2.3.1");
  EXPECT_EQ(m.view().segment_count(), 23u);
  EXPECT_EQ(m.view().count("OBX"), 20u);
  EXPECT_EQ(get(m, "PID-5"), "BARNES^TEST");
  EXPECT_EQ(get(m, "OBX-3"), "WBC");
  EXPECT_EQ(get(m, "OBX[1]-5"), "20.0");
}

TEST(Expectations, Item08_CustomSeparatorsEverywhere) {
  const Message m = message("hl7apy/msh_only_custom_delimiters.hl7");
  const Delimiters d = m.view().delimiters();
  EXPECT_EQ(d.field, '!');
  EXPECT_EQ(d.component, '$');
  EXPECT_EQ(d.repetition, 'r');
  EXPECT_EQ(d.escape, '?');
  EXPECT_EQ(d.subcomponent, '@');
  EXPECT_EQ(get(m, "MSH-2"), "$r?@");
  EXPECT_EQ(get(m, "MSH-12"), "2.5");
  EXPECT_EQ(get(m, "MSH-17"), "IT");
  EXPECT_EQ(get(m, "MSH-9"), "RSP^SLI^RSP_K11");
  EXPECT_EQ(m.view().header().field(9).repetition(1).size(), 1u);
  EXPECT_EQ(get(m, "MSH-9.1"), "RSP^SLI^RSP_K11");
}

TEST(Expectations, Item09_TruncationCharacterOfV27) {
  const std::string bytes = load("hl7apy/rsp_k22_v27_truncation_char.hl7");
  auto m = Message::parse(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(get(*m, "MSH-2"), "^~\\&#");
  EXPECT_EQ(m->view().delimiters().truncation, '#');
  EXPECT_EQ(m->view().delimiters().encoding_characters(), "^~\\&#");
  EXPECT_EQ(m->bytes(), bytes);
  const Message none = message("hl7apy/rsp_k22_v27_no_truncation_char.hl7");
  EXPECT_EQ(get(none, "MSH-2"), "^~\\&");
  EXPECT_EQ(none.view().delimiters().truncation, '\0');
  const Message hapi = message("hapi-hl7v2/ParserTest_L159_orm_o01_v27_truncation_char.hl7");
  EXPECT_EQ(hapi.view().delimiters().truncation, '#');
  // '#' in data is not escaped on write.
  EXPECT_EQ(escape("Truncation#escape", hapi.view().delimiters()), "Truncation#escape");
}

TEST(Expectations, Item10_InvalidEncodingCharactersAreRejectedInBothModes) {
  for (const char* f :
       {"hl7apy/bad_msh_no_encoding_chars.hl7", "hl7apy/bad_msh_three_encoding_chars_v27.hl7",
        "hl7apy/bad_msh_custom_three_encoding_chars.hl7",
        "hl7apy/bad_msh_too_many_encoding_chars.hl7",
        "hl7apy/bad_msh_too_many_encoding_chars_v27.hl7",
        "hl7apy/bad_msh_duplicate_encoding_chars.hl7",
        "hl7apy/bad_msh_duplicate_encoding_chars_v27.hl7"}) {
    for (ParseMode mode : {ParseMode::tolerant, ParseMode::strict}) {
      const Error e = parse_error(f, mode);
      EXPECT_TRUE(e.is(Errc::bad_encoding_characters)) << f << ": " << e.message();
      EXPECT_EQ(e.where(), "MSH-2") << f;
    }
  }
}

TEST(Expectations, Item11_MessageMustStartWithAHeader) {
  const Error e = parse_error("hl7apy/bad_first_segment_pid_not_msh.hl7");
  EXPECT_TRUE(e.is(Errc::no_header)) << e.message();
  const std::string bytes = load("hl7apy/bad_first_segment_pid_not_msh.hl7");
  auto s = split_stream(bytes);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
}

// ---- B. Segment separators, framing, streams ----

TEST(Expectations, Item12_TrailingTerminatorIsNotASegment) {
  const Message a = message("python-hl7/sample_hl7.hl7");
  EXPECT_EQ(names(a.view()), "MSH PID OBR OBX OBX");
  const std::string bytes = load("hl7apy/adt_a01_v25_no_trailing_cr.hl7");
  auto b = Message::parse(bytes);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(names(b->view()), "MSH EVN PID NK1 PV1 IN1");
  EXPECT_EQ(get(*b, "PID-5.1"), "SURNAME");
  EXPECT_EQ(get(*b, "EVN-5"), "AAA");
  EXPECT_EQ(b->bytes(), bytes);
  EXPECT_NE(b->bytes().back(), '\r');
}

TEST(Expectations, Item13_LfTerminatedMessagesParseAndEncodeWithCr) {
  const Message m = message("hl7-parser-rust/sample_adt_a08.hl7");
  EXPECT_EQ(get(m, "PID-5.2"), "DONALD");
  const std::string wire = m.encode();
  EXPECT_EQ(wire.find('\n'), std::string::npos);
  EXPECT_EQ(wire.back(), '\r');
  for (const auto& p :
       test::files_under(test::corpus_dir() / "hl7v2" / "microsoft-fhir-converter", {".hl7"})) {
    const std::string bytes = test::read_file(p);
    auto v = MessageView::parse(bytes);
    EXPECT_TRUE(v.ok()) << p;
  }
}

TEST(Expectations, Item14_LfAndCrlfGiveTheSameTree) {
  for (const char* f : {"linuxforhealth-hl7v2-fhir-converter/resources_sample_unix.hl7",
                        "linuxforhealth-hl7v2-fhir-converter/resources_sample_win.hl7"}) {
    const Message m = message(f);
    EXPECT_EQ(names(m.view()), "MSH EVN PID PV1 OBX AL1 AL1 PRB") << f;
    EXPECT_EQ(get(m, "PID-3.1"), "PID1234") << f;
    EXPECT_EQ(get(m, "PID-5.1"), "DOE") << f;
    EXPECT_EQ(get(m, "PID-5.2"), "JOHN") << f;
    // Non-standard 5-char MSH-2 `^~\\&` is accepted when tolerant, kept as written.
    EXPECT_EQ(get(m, "MSH-2"), "^~\\\\&") << f;
    EXPECT_EQ(m.view().delimiters().escape, '\\');
    EXPECT_EQ(m.view().delimiters().subcomponent, '&');
    EXPECT_EQ(m.view().delimiters().truncation, '\0');
  }
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  const std::string unix_bytes =
      load("linuxforhealth-hl7v2-fhir-converter/resources_sample_unix.hl7");
  auto s = MessageView::parse(unix_bytes, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_encoding_characters));
}

TEST(Expectations, Item15_MixedCrAndCrlf) {
  const Message m = message("hapi-hl7v2/NewPipeParserTest_L493_oru_r01_v24_mixed_cr_crlf_ft.hl7");
  EXPECT_EQ(names(m.view()), "MSH PID PV1 ORC OBR OBX");
  EXPECT_EQ(m.view().message_code(), "ORU");
}

TEST(Expectations, Item16_BlankLinesAreSkipped) {
  const std::string bytes = load("hapi-hl7v2/resources_adt_a03.txt");
  auto m = MessageView::parse(bytes);
  ASSERT_TRUE(m.ok()) << m.error().message();
  for (const SegmentView s : *m) EXPECT_FALSE(s.raw().empty());
  // Same segments as the text with every run of CR/LF collapsed to one CR.
  std::string collapsed;
  for (char c : bytes) {
    if (c == '\r' || c == '\n') {
      if (!collapsed.empty() && collapsed.back() != '\r') collapsed.push_back('\r');
    } else {
      collapsed.push_back(c);
    }
  }
  auto c = MessageView::parse(collapsed);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(names(*c), names(*m));
}

TEST(Expectations, Item17_StreamsSplitIntoThreeMessages) {
  for (const char* f :
       {"hapi-hl7v2/Hl7InputStreamMessageIteratorTest_L28_stream_three_adt_a45_blank_lines.hl7",
        "hapi-hl7v2/"
        "Hl7InputStreamMessageIteratorTest_L63_stream_three_adt_a45_hash_comments_crlf.hl7",
        "hapi-hl7v2/Hl7InputStreamMessageIteratorTest_L98_stream_leading_whitespace.hl7"}) {
    const std::string bytes = load(f);
    auto s = split_stream(bytes);
    ASSERT_TRUE(s.ok()) << f;
    ASSERT_EQ(s->message_count(), 3u) << f;
    const std::vector<std::string> ids = {"102416", "102417", "102418"};
    for (std::size_t i = 0; i < 3; ++i) {
      auto m = Message::parse(std::string(s->batches[0].messages[i]));
      ASSERT_TRUE(m.ok()) << f;
      EXPECT_EQ(m->view().control_id(), ids[i]) << f;
      const std::string wire = m->encode();
      EXPECT_EQ(wire.find('\n'), std::string::npos);
      EXPECT_EQ(wire.substr(0, 3), "MSH");
    }
  }
}

TEST(Expectations, Item18_MllpFramedStreamGivesThreeMessages) {
  const std::string bytes =
      load("hapi-hl7v2/Hl7InputStreamMessageIteratorTest_L201_stream_mllp_framed.hl7");
  auto s = split_stream(bytes);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->message_count(), 3u);
  for (std::string_view msg : s->batches[0].messages) {
    EXPECT_EQ(msg.find('\x0B'), std::string_view::npos);
    EXPECT_EQ(msg.find('\x1C'), std::string_view::npos);
    EXPECT_TRUE(MessageView::parse(msg).ok());
  }
}

TEST(Expectations, Item19_LooseCrlfStreamSplitsIntoTwoMessagesEncodedWithCr) {
  const std::string bytes = load("python-hl7/loose_crlf_two_messages.hl7");
  auto s = split_stream(bytes);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->message_count(), 2u);
  auto a = Message::parse(std::string(s->batches[0].messages[0]));
  auto b = Message::parse(std::string(s->batches[0].messages[1]));
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->encode(), "MSH|^~\\&|1\rOBX|1\r");
  EXPECT_EQ(b->encode(), "MSH|^~\\&|2\rOBX|2\r");
}

TEST(Expectations, Item20_LibraryFileCommentsAreNotSegments) {
  const std::string bytes = load("hapi-hl7v2/resources_messages.txt");
  auto s = split_stream(bytes);
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_EQ(s->message_count(), 18u);
  for (const Batch& b : s->batches) {
    for (std::string_view msg : b.messages) {
      EXPECT_EQ(msg.find("//"), std::string_view::npos);
      EXPECT_EQ(msg.find("/*"), std::string_view::npos);
    }
  }
  StreamOptions no_comments;
  no_comments.skip_comment_lines = false;
  EXPECT_FALSE(split_stream(bytes, no_comments).ok());
}

TEST(Expectations, Item21_Utf8BomIsStripped) {
  const std::string bytes = load("microsoft-fhir-converter/ADT01-23.hl7");
  ASSERT_EQ(bytes.substr(0, 3), "\xEF\xBB\xBF");
  const Message m = message("microsoft-fhir-converter/ADT01-23.hl7");
  EXPECT_EQ(get(m, "MSH-3"), "AccMgr");
  EXPECT_EQ(get(m, "PID-5"), "DUCK^DONALD^D");
  auto direct = Message::parse(bytes);
  ASSERT_TRUE(direct.ok());
  EXPECT_EQ(direct->bytes(), bytes);
  EXPECT_EQ(direct->encode().substr(0, 3), "MSH");
  std::size_t with_bom = 0;
  for (const auto& p :
       test::files_under(test::corpus_dir() / "hl7v2" / "microsoft-fhir-converter", {".hl7"})) {
    if (test::read_file(p).starts_with("\xEF\xBB\xBF")) ++with_bom;
  }
  EXPECT_EQ(with_bom, 27u);
}

// ---- C. Fields, repetitions, components, sub-components ----

TEST(Expectations, Item22_Repetitions) {
  const Message m = message("python-hl7/rep_sample_hl7.hl7");
  const ElementView pid4 = m.view().get(Path::parse("PID-4").value());
  ASSERT_EQ(pid4.size(), 2u);
  EXPECT_EQ(pid4.repetition(1).raw(), "Repeat1");
  EXPECT_EQ(pid4.repetition(2).raw(), "Repeat2");
  auto edited = MessageView::parse("MSH|^~\\&|x\rPID|Field1||x|~Repeat2|\r");
  ASSERT_TRUE(edited.ok());
  const ElementView e = edited->get(Path::parse("PID-4").value());
  EXPECT_EQ(e.size(), 2u);
  EXPECT_TRUE(e.repetition(1).empty());
}

TEST(Expectations, Item23_SubcomponentsAndAbsentParts) {
  const Message m = message("python-hl7/rep_sample_hl7.hl7");
  EXPECT_EQ(get(m, "PID-1"), "Field1");
  EXPECT_EQ(get(m, "PID-3.2.1"), "Sub-Component1");
  EXPECT_EQ(get(m, "PID-3.2.2"), "Sub-Component2");
  EXPECT_EQ(get(m, "PID-3.3"), "Component3");
  EXPECT_EQ(get(m, "PID-3.4"), "");
  EXPECT_EQ(get(m, "PID-3.2.3"), "");
  EXPECT_EQ(get(m, "MSH-20"), "");
  // Below a sub-component there is nothing to name: a bad path, not an empty value.
  auto deeper = m.view().get("PID-1.1.1.2");
  ASSERT_FALSE(deeper.ok());
  EXPECT_TRUE(deeper.error().is(Errc::bad_path));
}

TEST(Expectations, Item24_NameWithSubcomponents) {
  const Message m = message("microsoft-fhir-converter/ADT-A01-01.hl7");
  EXPECT_EQ(get(m, "PID-5[1].1"), "EVERYMAN&&&&Aniston");
  EXPECT_EQ(get(m, "PID-5.1.1"), "EVERYMAN");
  EXPECT_EQ(get(m, "PID-5[1].2"), "ADAM");
  EXPECT_TRUE(get(m, "PID-5[2]").starts_with("Josh&&&&Bing"));
}

TEST(Expectations, Item25_ComponentVersusSubcomponent) {
  const Message m =
      message("hapi-hl7v2/NewPipeParserTest_L1019_oru_pid5_component_subcomponent.hl7");
  EXPECT_EQ(get(m, "PID-5.1.1"), "x");
  EXPECT_EQ(get(m, "PID-5.1.2"), "y");
  EXPECT_EQ(get(m, "PID-5.2"), "z");
}

TEST(Expectations, Item26_ExtraComponentsOnAPrimitiveAreKept) {
  const Message m = message("hapi-hl7v2/NewPipeParserTest_L1046_oru_pid1_extra_components.hl7");
  EXPECT_EQ(get(m, "PID-1.1.1"), "4");
  EXPECT_EQ(get(m, "PID-1.1.2"), "y");
  EXPECT_EQ(get(m, "PID-1.2.1"), "x");
  EXPECT_EQ(get(m, "PID-1.2.2"), "z");
  EXPECT_EQ(get(m, "PID-1"), "4&y^x&z");
}

TEST(Expectations, Item27_MshFieldsCanRepeat) {
  const Message m = message("hapi-hl7v2/NewPipeParserTest_L1058_oru_msh3_repetitions.hl7");
  EXPECT_EQ(get(m, "MSH-3"), "one~two~three");
  EXPECT_EQ(get(m, "MSH-3[3].1"), "three");
  std::vector<ElementView> all;
  m.view().select(Path::parse("MSH-3[*]").value(), all);
  EXPECT_EQ(all.size(), 3u);
}

TEST(Expectations, Item28_RepeatedIdentifiers) {
  const Message m = message("hapi-hl7v2/resources_omd_o03_rep.txt");
  EXPECT_EQ(get(m, "PID-3[1].1"), "CIPNUM");
  EXPECT_EQ(get(m, "PID-3[2].1"), "CIPTWO");
  EXPECT_EQ(get(m, "PID-32[1]"), "A");
  EXPECT_EQ(get(m, "PID-32[2]"), "B");
  EXPECT_EQ(get(m, "PID-5.1"), "DUMAS");
  EXPECT_EQ(get(m, "PID-6[2]"), "");
  EXPECT_EQ(get(m, "PID-3[1].9"), "EX&&ES-EX");
  EXPECT_EQ(get(m, "PID-3[1].9.3"), "ES-EX");
}

TEST(Expectations, Item29_In1RepetitionsWithUtf8Text) {
  const Message m = message(
      "nhapi/tests/LegacyPipeParserV23Tests_L383_adt_a08_v23_german_umlauts_in1_repetitions.hl7");
  std::vector<ElementView> cx5;
  m.view().select(Path::parse("IN1-3[*].5").value(), cx5);
  ASSERT_EQ(cx5.size(), 3u);
  EXPECT_EQ(cx5[0].raw(), "NII");
  EXPECT_EQ(cx5[1].raw(), "NIIP");
  EXPECT_EQ(cx5[2].raw(), "XX");
  EXPECT_EQ(get(m, "IN1-4[3].1"), "Comp 3");
  std::vector<ElementView> cities;
  m.view().select(Path::parse("IN1-5[*].3").value(), cities);
  ASSERT_EQ(cities.size(), 3u);
  EXPECT_EQ(cities[0].decoded(), "Hannover");
  EXPECT_EQ(cities[1].decoded(), "Berlin");
  EXPECT_EQ(cities[2].decoded(), "Moscow");
  EXPECT_EQ(text(m, "IN1-5[1].1"),
            "Hans-B\xC3\xB6"
            "ckler-Allee 30");
}

TEST(Expectations, Item30_WhiteSpaceIsData) {
  const Message m = message("python-hl7/sample_msh.hl7");
  EXPECT_EQ(get(m, "PV1-5"), " 863968");
  EXPECT_EQ(get(m, "PV1-16"), " U");
  EXPECT_EQ(get(m, "PID-4[2]"), "184737^0^^IID^DONOR ");
  EXPECT_EQ(m.view().count("MSH"), 1u);
}

TEST(Expectations, Item31_ThirdObxCodedValue) {
  const Message m = message("microsoft-fhir-converter/ORU-R01-01.hl7");
  EXPECT_EQ(get(m, "OBX[3]-2"), "CWE");
  EXPECT_EQ(get(m, "OBX[3]-3"),
            "625-4^Bacteria identified in Stool by Culture^XYZ^^^^2.33^^result1");
  EXPECT_EQ(get(m, "OBX[3]-5"), "27268008^Salmonella^SCT^^^^^^Salmonella species");
  EXPECT_EQ(get(m, "OBX[3]-6"), "beats/min^^ISO");
  EXPECT_EQ(get(m, "OBX[1]-2"), "RP");
  EXPECT_EQ(get(m, "OBX[1]-5"), "https://testurl.com^^SD^PICT");
  EXPECT_EQ(get(m, "OBX[2]-2"), "ED");
  EXPECT_EQ(get(m, "OBX[2]-5"), "App5^NS^Octet-stream^Base64");
  EXPECT_EQ(get(m, "OBX[2]-5.5"), "");
}

TEST(Expectations, Item32_LargeEmbeddedDocuments) {
  const Message m = message(
      "nhapi/tests/"
      "LegacyPipePipeParserLargeEmbeddedFileTests_L21_oru_r01_v251_large_embedded_base64_pdf_20_"
      "obx.hl7");
  EXPECT_EQ(m.view().count("OBX"), 20u);
  std::vector<ElementView> obx5;
  m.view().select(Path::parse("OBX[*]-5").value(), obx5);
  ASSERT_EQ(obx5.size(), 20u);
  for (const ElementView e : obx5) {
    EXPECT_EQ(e.component(2).raw(), "TX");
    EXPECT_EQ(e.component(3).raw(), "PDF");
    EXPECT_EQ(e.component(4).raw(), "Base64");
    EXPECT_GT(e.component(5).raw().size(), 5000u);
  }
  EXPECT_EQ(get(m, "OBX-2"), "ED");
}

TEST(Expectations, Item33_QueryParametersWithRepetitions) {
  const Message m = message("nhapi/tests/PipeParserV25Tests_L102_qbp_q22_v25_ihe_pdq_unicode.hl7");
  EXPECT_EQ(m.view().charset(), Charset::utf8);
  std::vector<ElementView> qpd3;
  m.view().select(Path::parse("QPD-3[*]").value(), qpd3);
  ASSERT_EQ(qpd3.size(), 3u);
  EXPECT_EQ(qpd3[0].component(1).raw(), "@PID.5.2");
  EXPECT_EQ(qpd3[0].component(2).raw(), "fname");
  EXPECT_EQ(qpd3[1].component(1).raw(), "@PID.7.1");
  EXPECT_EQ(qpd3[1].component(2).raw(), "20220202");
  EXPECT_EQ(qpd3[2].component(1).raw(), "@PID.8");
  EXPECT_EQ(qpd3[2].component(2).raw(), "M");
  EXPECT_EQ(get(m, "QPD-8[1].4.1"), "IHEFACILITY");
  EXPECT_EQ(get(m, "QPD-8[1].4.2"), "1.3.6.1.4.1.21367.3000.1.6");
  EXPECT_EQ(get(m, "QPD-8[1].4.3"), "ISO");
  EXPECT_EQ(get(m, "QPD-8[2].4.1"), "IHEBLUE");
  EXPECT_EQ(get(m, "RCP-1"), "I");
}

// ---- D. Escape sequences ----

TEST(Expectations, Item34_DelimiterAndHexEscapesDecode) {
  const Delimiters d;
  auto dec = [&](std::string_view raw) {
    return ElementView(raw, Level::subcomponent, d, Charset::utf8).decoded();
  };
  EXPECT_EQ(dec("\\F\\\\S\\\\T\\\\R\\\\E\\"), "|^&~\\");
  EXPECT_EQ(dec("\\X20202020\\"), "    ");
  EXPECT_EQ(dec("\\Xe1\\\\Xe9\\\\Xed\\\\Xf3\\\\Xfa\\"), "\xC3\xA1\xC3\xA9\xC3\xAD\xC3\xB3\xC3\xBA");
  EXPECT_EQ(escape("|^&~\\", d), "\\F\\\\S\\\\T\\\\R\\\\E\\");
}

TEST(Expectations, Item35_TEscapeInAnAddress) {
  const Message m =
      message("hapi-hl7v2/NewPipeParserTest_L1674_adt_a04_v23_T_escape_in_xad_crlf.hl7");
  EXPECT_EQ(get(m, "PID-11.2"), "MARIO \\T\\ LUIGI BROS PLACE");
  EXPECT_EQ(text(m, "PID-11.2"), "MARIO & LUIGI BROS PLACE");
  EXPECT_EQ(escape(text(m, "PID-11.2"), m.view().delimiters()), "MARIO \\T\\ LUIGI BROS PLACE");
  const Message a = message("microsoft-fhir-converter/ADT-A01-01.hl7");
  EXPECT_EQ(text(a, "PV1-14"), "NHS Provider-General (inc.A&E-this Hosp)");
}

TEST(Expectations, Item36_EscapedFieldSeparatorInMsh) {
  const Message m = message("hapi-hl7v2/NewPipeParserTest_L1076_oru_msh3_escaped_field_sep.hl7");
  EXPECT_EQ(get(m, "MSH-3"), "\\F\\");
  EXPECT_EQ(text(m, "MSH-3"), "|");
  auto ack = Message::parse("MSH|^~\\&|A\rMSA|x\r");
  ASSERT_TRUE(ack.ok());
  ASSERT_TRUE(ack->set("MSA-1", "|").ok());
  EXPECT_EQ(ack->view().segment(1).raw(), "MSA|\\F\\");
}

TEST(Expectations, Item37_EscapeInsideStIsOneValue) {
  const Message m = message("hapi-hl7v2/VariesTest_L158_oru_obx5_st_T_escape.hl7");
  EXPECT_EQ(get(m, "OBX-5"), "F1C1\\T\\F1C2");
  EXPECT_EQ(m.view().get(Path::parse("OBX-5.1").value()).size(), 1u);
  EXPECT_EQ(text(m, "OBX-5"), "F1C1&F1C2");
}

TEST(Expectations, Item38_FormattingEscapesArePreserved) {
  const Message m = message("hapi-hl7v2/NewPipeParserTest_L493_oru_r01_v24_mixed_cr_crlf_ft.hl7");
  const std::string obx5 = text(m, "OBX-5");
  EXPECT_NE(obx5.find("Type Venous\\.br\\\\.br\\ Analysis"), std::string::npos);
  EXPECT_NE(obx5.find("pH : \\H\\ 7.28\\N\\"), std::string::npos);
  EXPECT_EQ(escape(obx5, m.view().delimiters()), get(m, "OBX-5"));
  for (const char* f : {"hapi-hl7v2/EscapeTest_L89_oru_r01_nte_formatting_F_br.hl7",
                        "hapi-hl7v2/EscapeTest_L114_oru_r01_ft_highlight_H_N_S.hl7"}) {
    const std::string bytes = load(f);
    auto msg = Message::parse(bytes);
    ASSERT_TRUE(msg.ok()) << f;
    EXPECT_EQ(msg->bytes(), bytes);
    // Decoding then re-escaping every field gives the raw field back.
    for (const SegmentView s : msg->view()) {
      for (std::size_t i = 3; i <= s.field_count(); ++i) {
        for (const ElementView rep : s.field(i).children()) {
          for (const ElementView c : rep.children()) {
            for (const ElementView sc : c.children()) {
              EXPECT_EQ(escape(sc.decoded(), msg->view().delimiters()), sc.raw()) << f;
            }
          }
        }
      }
    }
  }
  const Message h = message("hl7apy/msh_only_highlight_escapes.hl7");
  EXPECT_EQ(get(h, "MSH-8"), "\\H\\HIGHLIGHTED\\N\\TEXT\\H\\IMPORTANT\\N\\");
  EXPECT_EQ(text(h, "MSH-8"), "\\H\\HIGHLIGHTED\\N\\TEXT\\H\\IMPORTANT\\N\\");
}

TEST(Expectations, Item39_ControlCharactersAndComponentSeparatorsAreEscaped) {
  const Delimiters d;
  EXPECT_EQ(escape("a\rb\nc", d), "a\\X0D\\b\\X0A\\c");
  EXPECT_EQ(escape("GLUCOSE^1H POST", d), "GLUCOSE\\S\\1H POST");
  EXPECT_EQ(ElementView("a\\X0D\\b\\X000d\\", Level::field, d, Charset::utf8).decoded(),
            std::string("a\rb\0\r", 5));
}

TEST(Expectations, Item40_EscapesInMsh5) {
  const Message m = message("hl7-parser-rust/sample_adt_a01_encoded.hl7");
  EXPECT_EQ(get(m, "MSH-5"), "Isaac\\S\\2");
  EXPECT_EQ(text(m, "MSH-5"), "Isaac^2");
}

TEST(Expectations, Item41_REscapeInData) {
  const Message m =
      message("linuxforhealth-hl7v2-fhir-converter/Hl7CustomMessageTest_L89_custom_pat_v26.hl7");
  EXPECT_EQ(get(m, "AL1[2]-5"), "hives\\R\\ difficult breathing");
  EXPECT_EQ(text(m, "AL1[2]-5"), "hives~ difficult breathing");
}

// ---- E. Empty, null and trailing delimiters ----

TEST(Expectations, Item42_NullIsDistinctFromEmptyAndRoundTrips) {
  const std::string bytes = load("python-hl7/sample_msh.hl7");
  auto s = split_stream(bytes);
  ASSERT_TRUE(s.ok());
  const std::string first(s->batches[0].messages[0]);
  auto m = Message::parse(first);
  ASSERT_TRUE(m.ok());
  const MessageView& v = m->view();
  EXPECT_TRUE(v.get(Path::parse("PV1-9").value()).is_null());
  EXPECT_TRUE(v.get(Path::parse("PV1-45").value()).is_null());
  EXPECT_TRUE(v.get(Path::parse("DG1-5").value()).is_null());
  EXPECT_EQ(get(*m, "IN1[1]-5"), "PO BOX 223^\"\"^NEW YORK^NY^10116^US^^^\"\"");
  EXPECT_TRUE(v.get(Path::parse("IN1[1]-5.2").value()).is_null());
  EXPECT_FALSE(v.get(Path::parse("IN1[1]-5.7").value()).is_null());
  EXPECT_TRUE(v.get(Path::parse("IN1[1]-5.7").value()).empty());
  EXPECT_EQ(text(*m, "PV1-9"), "\"\"");
  EXPECT_EQ(m->bytes(), first);
}

TEST(Expectations, Item43_EmptySegmentsAreValid) {
  const Message a =
      message("hapi-hl7v2/NewPipeParserTest_L989_adt_a31_v23_fr_8859_1_empty_pd1.hl7");
  ASSERT_TRUE(a.view().find("PD1").has_value());
  EXPECT_EQ(a.view().find("PD1")->raw(), "PD1");
  EXPECT_EQ(get(a, "PID-5.1"), "DUPONT");
  const Message b =
      message("hapi-hl7v2/NewPipeParserTest_L1253_adt_a03_v25_trailing_empty_pv1.hl7");
  EXPECT_EQ(b.view().segment(b.view().segment_count() - 1).raw(), "PV1");
}

TEST(Expectations, Item44_TrailingDelimitersAreKeptByteIdentical) {
  const std::string bytes = load("hl7apy/rsp_k22_v25.hl7");
  auto m = Message::parse(bytes);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->bytes(), bytes);
  EXPECT_EQ(get(*m, "MSA-3"), "");
  const std::string wire = m->encode();
  EXPECT_NE(wire.find("QPD|"), std::string::npos);
  // Canonical encode changes terminators only, never fields: trailing '|' stay.
  auto again = MessageView::parse(wire);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->find("QPD")->raw(), m->view().find("QPD")->raw());
}

// ---- F. Batches and files ----

TEST(Expectations, Item45_BatchWithHeaderAndTrailer) {
  const std::string bytes = load("python-hl7/sample_batch.hl7");
  auto s = split_stream(bytes);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->batches.size(), 1u);
  ASSERT_TRUE(s->batches[0].header.has_value());
  auto bhs = MessageView::parse(*s->batches[0].header);
  ASSERT_TRUE(bhs.ok());
  EXPECT_EQ(bhs->header().field(1).raw(), "|");
  EXPECT_EQ(bhs->header().field(2).raw(), "^~\\&");
  EXPECT_EQ(bhs->header().field(4).raw(), "ABCHS");
  EXPECT_EQ(bhs->header().field(11).raw(), "abchs20070101123401-1");
  EXPECT_EQ(s->message_count(), 1u);
  ASSERT_TRUE(s->batches[0].trailer.has_value());
  EXPECT_EQ(std::string(*s->batches[0].trailer).substr(0, 6), "BTS|1");
}

TEST(Expectations, Item46_BatchesWithAndWithoutEnvelope) {
  for (const char* f : {"python-hl7/sample_batch1.hl7", "python-hl7/sample_batch2.hl7"}) {
    const std::string bytes = load(f);
    auto s = split_stream(bytes);
    ASSERT_TRUE(s.ok()) << f;
    ASSERT_EQ(s->batches.size(), 1u);
    ASSERT_EQ(s->message_count(), 2u);
    auto a = MessageView::parse(s->batches[0].messages[0]);
    auto b = MessageView::parse(s->batches[0].messages[1]);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->control_id(), "12334456778890");
    EXPECT_EQ(b->control_id(), "12334456778891");
  }
  const std::string with_bytes = load("python-hl7/sample_batch1.hl7");
  auto with = split_stream(with_bytes);
  ASSERT_TRUE(with.ok());
  EXPECT_EQ(with->batches[0].trailer->substr(0, 5), "BTS|2");
  const std::string without_bytes = load("python-hl7/sample_batch2.hl7");
  auto without = split_stream(without_bytes);
  ASSERT_TRUE(without.ok());
  EXPECT_FALSE(without->batches[0].header.has_value());
  EXPECT_FALSE(without->batches[0].trailer.has_value());
}

TEST(Expectations, Item47_FilesWithBatches) {
  const std::string bytes = load("python-hl7/sample_file1.hl7");
  auto s = split_stream(bytes);
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE(s->file_header.has_value());
  ASSERT_EQ(s->batches.size(), 2u);
  EXPECT_EQ(s->batches[0].trailer->substr(0, 5), "BTS|2");
  EXPECT_EQ(s->batches[1].trailer->substr(0, 5), "BTS|1");
  EXPECT_EQ(s->file_trailer->substr(0, 5), "FTS|2");
  EXPECT_EQ(s->message_count(), 3u);
  const std::string one = load("python-hl7/sample_file.hl7");
  auto f = split_stream(one);
  ASSERT_TRUE(f.ok());
  ASSERT_EQ(f->message_count(), 1u);
  auto m = MessageView::parse(f->batches[0].messages[0]);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(names(*m), "MSH EVN PID PD1 NK1 PV1");
}

TEST(Expectations, Item48_InvalidEnvelopesFail) {
  struct Case {
    const char* file;
    const char* detail;
  };
  for (const Case& c : {Case{"python-hl7/sample_bad_batch.hl7", "before message header"},
                        Case{"python-hl7/sample_bad_file.hl7", "before message header"},
                        Case{"python-hl7/sample_bad_file3.hl7", "before message header"},
                        Case{"python-hl7/sample_bad_batch1.hl7", "second batch header"},
                        Case{"python-hl7/sample_bad_file1.hl7", "second batch header"},
                        Case{"python-hl7/sample_bad_file2.hl7", "second file header"}}) {
    const std::string bytes = load(c.file);
    auto s = split_stream(bytes);
    ASSERT_FALSE(s.ok()) << c.file;
    EXPECT_TRUE(s.error().is(Errc::bad_envelope)) << c.file;
    EXPECT_NE(s.error().detail().find(c.detail), std::string::npos)
        << c.file << ": " << s.error().message();
    EXPECT_EQ(s.error().where().substr(0, 5), "line ");
  }
}

// ---- G. Malformed / hostile input ----

TEST(Expectations, Item49_TinyInputsAreRejected) {
  const std::vector<std::pair<std::string, Errc>> cases = {
      {"", Errc::empty_input},
      {"M", Errc::no_header},
      {"MS", Errc::no_header},
      {"MSH", Errc::bad_header},
      {"MSH|", Errc::bad_encoding_characters},
      {"\r", Errc::empty_input},
      {"MSH\r", Errc::bad_header},
      {"MSH|\r", Errc::bad_encoding_characters}};
  for (const auto& [input, code] : cases) {
    auto m = MessageView::parse(input);
    ASSERT_FALSE(m.ok()) << testing::PrintToString(input);
    EXPECT_TRUE(m.error().is(code)) << testing::PrintToString(input) << ": " << m.error().message();
  }
}

TEST(Expectations, Item50_GarbageMshGivesNoControlId) {
  const Error e = parse_error("hapi-hl7v2/NewPipeParserTest_L831_bad_msh_foo.hl7");
  EXPECT_TRUE(e.is(Errc::bad_encoding_characters)) << e.message();
}

TEST(Expectations, Item51_UnknownAndEarlyZSegmentsAreKept) {
  const Message i =
      message("hapi-hl7v2/NewPipeParserTest_L1174_oru_r01_v23_invalid_segment_name_I.hl7");
  bool has_i = false;
  for (const SegmentView s : i.view()) has_i |= s.name() == "I";
  EXPECT_TRUE(has_i);
  const Message zzz = message("hapi-hl7v2/NewPipeParserTest_L1084_adt_a03_v25_early_zzz_crlf.hl7");
  EXPECT_EQ(zzz.view().segment(2).name(), "ZZZ");
  const Message zza =
      message("hapi-hl7v2/NewPipeParserTest_L383_adt_a01_v26_crlf_unexpected_zza.hl7");
  EXPECT_TRUE(zza.view().find("ZZA").has_value());
  const std::string bytes =
      load("hapi-hl7v2/NewPipeParserTest_L473_oru_r01_v23_zpi_repeating_pid.hl7");
  auto zpi = Message::parse(bytes);
  ASSERT_TRUE(zpi.ok());
  EXPECT_TRUE(zpi->view().find("ZPI").has_value());
  EXPECT_EQ(zpi->bytes(), bytes);
}

TEST(Expectations, Item52_OddMsh9AndMsh12AndTheUnknownVersionCheck) {
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  const std::string empty9 = load("hl7apy/msh9_empty_with_pid.hl7");
  EXPECT_TRUE(MessageView::parse(empty9).ok());
  auto s = MessageView::parse(empty9, strict);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::missing_field));
  EXPECT_EQ(s.error().where(), "MSH-9");
  EXPECT_TRUE(MessageView::parse(load("hl7apy/msh9_incomplete_adt_only.hl7")).ok());
  EXPECT_TRUE(MessageView::parse(load("hl7apy/msh12_version_missing.hl7")).ok());
  const Message zzz = message("hapi-hl7v2/ParserTest_L73_zzz_unknown_message_type_v22.hl7");
  EXPECT_EQ(zzz.view().message_code(), "ZZZ");
  EXPECT_EQ(get(zzz, "MSH-5"), "DMCRES");
  EXPECT_EQ(get(zzz, "OBX-2"), "NM");
  const Message v2999 =
      message("hapi-hl7v2/NewPipeParserTest_L1196_oru_r01_unknown_version_2_999.hl7");
  EXPECT_EQ(v2999.view().version(), "2.999");
  EXPECT_FALSE(is_known_version(v2999.view().version()));
  auto rejected = MessageView::parse(
      load("hapi-hl7v2/NewPipeParserTest_L1196_oru_r01_unknown_version_2_999.hl7"), strict);
  ASSERT_FALSE(rejected.ok());
  EXPECT_TRUE(rejected.error().is(Errc::unsupported_version));
  EXPECT_EQ(error_condition(Errc::unsupported_version), ErrorCondition::unsupported_version_id);
  EXPECT_EQ(static_cast<int>(ErrorCondition::unsupported_version_id), 203);
}

TEST(Expectations, Item53_GluedSegmentsAreNotRepaired) {
  const Message m = message("hl7-parser-rust/sample_adt_a01.hl7");
  EXPECT_EQ(names(m.view()), "MSH EVN PID PV1 GT1 DG1 IN1 IN2 IN1 IN2 IN1");
  EXPECT_FALSE(m.view().find("NK1").has_value());
}

// ---- H. Character sets ----

TEST(Expectations, Item54_Cp1252WhenTheCallerChoosesItAndAnErrorForUtf8) {
  const std::string bytes = load("python-hl7/non_ascii_cp1252_no_msh18.hl7");
  auto utf8 = MessageView::parse(bytes);
  ASSERT_FALSE(utf8.ok());
  EXPECT_TRUE(utf8.error().is(Errc::invalid_text));
  ParseOptions cp1252;
  cp1252.default_charset = Charset::cp1252;
  auto m = MessageView::parse(bytes, cp1252);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->header().field(4).decoded(),
            "ELAB\xE2\x80\x93"
            "3");
}

TEST(Expectations, Item55_DeclaredCharsetsAreRecognised) {
  const std::vector<std::pair<std::string, Charset>> cases = {
      {"hapi-hl7v2/NewPipeParserTest_L455_adt_a45_v25_msh11_msh12_components_8859_1.hl7",
       Charset::latin1},
      {"hapi-hl7v2/NewPipeParserTest_L989_adt_a31_v23_fr_8859_1_empty_pd1.hl7", Charset::latin1},
      {"hapi-hl7v2/resources_cv.04_001_chem.hl7", Charset::latin1},
      {"nhapi/tests/LegacyPipeParserV24Tests_L315_oru_r01_v24_msh18_8859_replacement_chars.hl7",
       Charset::latin1},
      {"hapi-hl7v2/NewPipeParserTest_L521_orm_o01_v231_unicode_utf8_slovene.hl7", Charset::utf8},
      {"nhapi/tests/PipeParserV251Tests_L210_oml_o33_v251_unicode_utf8.hl7", Charset::utf8},
      {"python-hl7/sample_batch.hl7", Charset::ascii}};
  for (const auto& [file, charset] : cases) {
    const Message m = message(file);
    EXPECT_EQ(m.view().charset(), charset) << file;
  }
  EXPECT_EQ(charset_from_msh18("UNICODE UTF-16"), std::nullopt);
}

TEST(Expectations, Item56_BrokenMsh2IsAHeaderErrorNotACrash) {
  const Error e = parse_error(
      "hapi-hl7v2/"
      "ExtendedMinLowerLayerProtocolTest_L116_adt_a01_v25_bad_msh2_replacement_char_utf8.hl7");
  EXPECT_TRUE(e.is(Errc::bad_encoding_characters)) << e.message();
  EXPECT_EQ(e.where(), "MSH-2");
  // The bytes are still whole for an MLLP reader to hand on: the split keeps the body.
  const std::string bytes = load(
      "hapi-hl7v2/"
      "ExtendedMinLowerLayerProtocolTest_L116_adt_a01_v25_bad_msh2_replacement_char_utf8.hl7");
  auto s = split_stream(bytes);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->message_count(), 1u);
  EXPECT_NE(s->batches[0].messages[0].find("EVN||20111219123224||||20111219123224"),
            std::string_view::npos);
}

}  // namespace
}  // namespace hims::hl7v2
