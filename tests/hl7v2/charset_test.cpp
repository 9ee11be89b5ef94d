// MSH-18 charsets: recognition, validation on parse, conversion to UTF-8 on access.
#include <gtest/gtest.h>

#include <string>

#include "hl7v2/message.hpp"

namespace hims::hl7v2 {
namespace {

std::string with_msh18(std::string_view msh18, std::string_view pid5) {
  std::string out = "MSH|^~\\&|A|||||||||||||||";
  out.append(msh18).append("\rPID|1||||").append(pid5).append("\r");
  return out;
}

TEST(Charset, RecognisesMsh18Values) {
  EXPECT_EQ(charset_from_msh18("ASCII"), Charset::ascii);
  EXPECT_EQ(charset_from_msh18(""), Charset::ascii);
  EXPECT_EQ(charset_from_msh18("8859/1"), Charset::latin1);
  EXPECT_EQ(charset_from_msh18("8859"), Charset::latin1);
  EXPECT_EQ(charset_from_msh18("ISO IR100"), Charset::latin1);
  EXPECT_EQ(charset_from_msh18("8859/15"), Charset::latin9);
  EXPECT_EQ(charset_from_msh18("UNICODE UTF-8"), Charset::utf8);
  EXPECT_EQ(charset_from_msh18(" unicode utf-8 "), Charset::utf8);
  EXPECT_EQ(charset_from_msh18("UNICODE_UTF-8"), Charset::utf8);
  EXPECT_EQ(charset_from_msh18("CP1252"), Charset::cp1252);
}

TEST(Charset, UnknownCharsetsAreNotConvertible) {
  for (const char* s :
       {"UNICODE UTF-16", "UNICODE UTF-32", "ISO IR87", "8859/2", "GB 18030-2000", "BIG-5", "?"}) {
    EXPECT_EQ(charset_from_msh18(s), std::nullopt) << s;
  }
}

TEST(Charset, EmptyMsh18UsesTheDefault) {
  auto m = MessageView::parse("MSH|^~\\&|A\rPID|1\r");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->charset(), Charset::utf8);
  ParseOptions o;
  o.default_charset = Charset::latin1;
  auto l = MessageView::parse("MSH|^~\\&|A\rPID|1\r", o);
  ASSERT_TRUE(l.ok());
  EXPECT_EQ(l->charset(), Charset::latin1);
}

TEST(Charset, Utf8TextIsReturnedAsIs) {
  const std::string in = with_msh18("UNICODE UTF-8", "M\xC3\xBCller");
  auto m = MessageView::parse(in);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment(1).field(5).decoded(), "M\xC3\xBCller");
}

TEST(Charset, Latin1IsConvertedToUtf8OnAccess) {
  const std::string in = with_msh18("8859/1", "M\xFCller");
  auto m = MessageView::parse(in);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->charset(), Charset::latin1);
  EXPECT_EQ(m->segment(1).field(5).raw(), "M\xFCller");
  EXPECT_EQ(m->segment(1).field(5).decoded(), "M\xC3\xBCller");
}

TEST(Charset, Cp1252IsConvertedToUtf8OnAccess) {
  ParseOptions o;
  o.default_charset = Charset::cp1252;
  auto m = MessageView::parse("MSH|^~\\&|A\rNTE|1||\x93quoted\x94 \x80 \x81\r", o);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment(1).field(3).decoded(),
            "\xE2\x80\x9Cquoted\xE2\x80\x9D \xE2\x82\xAC \xC2\x81");
}

TEST(Charset, Latin9IsConvertedToUtf8OnAccess) {
  const std::string in = with_msh18("8859/15", "\xA4 \xE9");
  auto m = MessageView::parse(in);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment(1).field(5).decoded(), "\xE2\x82\xAC \xC3\xA9");
}

TEST(Charset, InvalidUtf8IsAnErrorWithItsOffset) {
  const std::string in = "MSH|^~\\&|A\rPID|1||||\xC3(\r";
  auto m = MessageView::parse(in);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::invalid_text));
  EXPECT_EQ(m.error().where(), "byte " + std::to_string(in.find('\xC3')));
}

TEST(Charset, OverlongAndSurrogateUtf8AreRejected) {
  for (const char* bad :
       {"\xC0\xAF", "\xE0\x80\xAF", "\xED\xA0\x80", "\xF4\x90\x80\x80", "\xFF", "\xE2\x82"}) {
    const std::string in = std::string("MSH|^~\\&|A\rPID|") + bad;
    auto m = MessageView::parse(in);
    EXPECT_FALSE(m.ok()) << testing::PrintToString(std::string(bad));
  }
}

TEST(Charset, NonAsciiInAnAsciiMessageIsAnError) {
  const std::string in = with_msh18("ASCII", "M\xC3\xBCller");
  auto m = MessageView::parse(in);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::invalid_text));
}

TEST(Charset, UnsupportedCharsetIsRejectedByDefault) {
  const std::string in = with_msh18("UNICODE UTF-16", "X");
  auto m = MessageView::parse(in);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::unsupported_charset));
  EXPECT_EQ(m.error().where(), "MSH-18");
  EXPECT_EQ(m.error().message().find("UTF-16"), std::string::npos);
}

TEST(Charset, UnsupportedCharsetPassesThroughWhenAccepted) {
  ParseOptions o;
  o.accept_unknown_charset = true;
  const std::string in = with_msh18("ISO IR87", "\x1B$B");
  auto m = MessageView::parse(in, o);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment(1).field(5).decoded(), "\x1B$B");
}

TEST(Charset, FirstRepetitionOfMsh18Decides) {
  const std::string in = with_msh18("8859/1~ISO IR87", "\xE9");
  auto m = MessageView::parse(in);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->charset(), Charset::latin1);
}

TEST(Charset, NamesPrint) {
  EXPECT_EQ(to_string(Charset::latin1), "8859/1");
  EXPECT_EQ(to_string(Charset::utf8), "UNICODE UTF-8");
  EXPECT_EQ(charset_from_msh18(to_string(Charset::latin9)), Charset::latin9);
}

}  // namespace
}  // namespace hims::hl7v2
