// Escape decoding on access (ElementView::decoded) and escaping on write (escape()).
#include <gtest/gtest.h>

#include <string>

#include "hl7v2/message.hpp"

namespace hims::hl7v2 {
namespace {

std::string decode(std::string_view raw, const Delimiters& d = {},
                   Charset charset = Charset::utf8) {
  return ElementView(raw, Level::field, d, charset).decoded();
}

TEST(Decode, DelimiterEscapes) {
  EXPECT_EQ(decode("a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f"), "a|b^c&d~e\\f");
}

TEST(Decode, DelimiterEscapesUseTheMessageDelimiters) {
  Delimiters d;
  d.field = '!';
  d.component = '$';
  d.repetition = 'r';
  d.escape = '?';
  d.subcomponent = '@';
  EXPECT_EQ(decode("?F??S??T??R??E?", d), "!$@r?");
  EXPECT_EQ(decode("\\F\\", d), "\\F\\");
}

TEST(Decode, TruncationEscapeOnlyWithATruncationCharacter) {
  Delimiters d;
  EXPECT_EQ(decode("\\P\\", d), "\\P\\");
  d.truncation = '#';
  EXPECT_EQ(decode("\\P\\", d), "#");
}

TEST(Decode, HexEscapes) {
  EXPECT_EQ(decode("\\X41\\\\X4243\\"), "ABC");
  EXPECT_EQ(decode("\\XC3A9\\"), "\xC3\xA9");
  EXPECT_EQ(decode("\\Xe9\\"), "\xC3\xA9");  // not UTF-8: read as ISO-8859-1
  EXPECT_EQ(decode("\\Xe9\\", {}, Charset::latin1), "\xC3\xA9");
}

TEST(Decode, MalformedHexEscapesAreKeptVerbatim) {
  EXPECT_EQ(decode("\\X\\"), "\\X\\");
  EXPECT_EQ(decode("\\X4\\"), "\\X4\\");
  EXPECT_EQ(decode("\\XZZ\\"), "\\XZZ\\");
}

TEST(Decode, FormattingEscapesAreKeptVerbatim) {
  for (const char* s :
       {"\\.br\\", "\\H\\", "\\N\\", "\\.sp2\\", "\\.in+4\\", "\\.ti-2\\", "\\.sk3\\", "\\.ce\\",
        "\\.fi\\", "\\.nf\\", "\\Zabc\\", "\\C2842\\", "\\M2442\\"}) {
    EXPECT_EQ(decode(s), s);
  }
}

TEST(Decode, UnterminatedEscapeIsData) {
  EXPECT_EQ(decode("50\\% off"), "50\\% off");
  EXPECT_EQ(decode("\\"), "\\");
  EXPECT_EQ(decode("a\\F"), "a\\F");
}

TEST(Decode, DoubledEscapeIsKept) { EXPECT_EQ(decode("a\\\\b"), "a\\\\b"); }

TEST(Decode, AppendsToTheGivenString) {
  std::string out = "x:";
  ElementView("a\\S\\b", Level::field, Delimiters{}, Charset::utf8).decode_to(out);
  EXPECT_EQ(out, "x:a^b");
}

TEST(Decode, LowerDelimitersStayInAComponent) {
  auto m = MessageView::parse("MSH|^~\\&|A\rPID|1||a&b\\T\\c^d\r");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment(1).field(3).component(1).decoded(), "a&b&c");
  EXPECT_EQ(m->segment(1).field(3).component(1).subcomponent(2).decoded(), "b&c");
}

TEST(Escape, EscapesEveryDelimiter) {
  EXPECT_EQ(escape("a|b^c&d~e\\f", Delimiters{}), "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f");
}

TEST(Escape, EscapesCrAndLf) { EXPECT_EQ(escape("a\r\nb", Delimiters{}), "a\\X0D\\\\X0A\\b"); }

TEST(Escape, KeepsFormattingEscapes) {
  EXPECT_EQ(escape("line\\.br\\next \\H\\bold\\N\\", Delimiters{}),
            "line\\.br\\next \\H\\bold\\N\\");
  EXPECT_EQ(escape("\\.zz\\", Delimiters{}), "\\E\\.zz\\E\\");
}

TEST(Escape, LeavesTheTruncationCharacterAlone) {
  Delimiters d;
  d.truncation = '#';
  EXPECT_EQ(escape("a#b", d), "a#b");
}

TEST(Escape, AppendsToTheGivenString) {
  std::string out = "x";
  escape_to(out, "^", Delimiters{});
  EXPECT_EQ(out, "x\\S\\");
}

TEST(Escape, RoundTripsThroughDecode) {
  for (const char* s : {"plain", "a|b", "x^y&z~w\\v", "tab\there", "multi\rline", "\\.br\\"}) {
    EXPECT_EQ(decode(escape(s, Delimiters{})), s) << s;
  }
}

}  // namespace
}  // namespace hims::hl7v2
