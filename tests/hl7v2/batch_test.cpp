// split_stream: files, batches, library files, MLLP captures, and envelope errors.
#include "hl7v2/batch.hpp"

#include <gtest/gtest.h>

#include <string>

namespace hims::hl7v2 {
namespace {

TEST(SplitStream, SplitsAtEachMsh) {
  const std::string in = "MSH|^~\\&|1\rPID|1\rMSH|^~\\&|2\rPID|2\r";
  auto s = split_stream(in);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->batches.size(), 1u);
  ASSERT_EQ(s->message_count(), 2u);
  EXPECT_EQ(s->batches[0].messages[0], "MSH|^~\\&|1\rPID|1");
  EXPECT_EQ(s->batches[0].messages[1], "MSH|^~\\&|2\rPID|2");
}

TEST(SplitStream, ViewsPointIntoTheInput) {
  const std::string in = "MSH|^~\\&|1\nPID|1\n";
  auto s = split_stream(in);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->batches[0].messages[0].data(), in.data());
}

TEST(SplitStream, SkipsBlankLinesAndLeadingWhiteSpace) {
  const std::string in = "\xEF\xBB\xBF  \n\n   MSH|^~\\&|1\r\n\r\nPID|1\r\n\r\n  \nMSH|^~\\&|2\n";
  auto s = split_stream(in);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->message_count(), 2u);
  EXPECT_EQ(s->batches[0].messages[0], "MSH|^~\\&|1\r\n\r\nPID|1");
  EXPECT_EQ(s->batches[0].messages[1], "MSH|^~\\&|2");
}

TEST(SplitStream, SkipsCommentLines) {
  const std::string in =
      "# a comment\nMSH|^~\\&|1\nPID|1\n// another\n/* block\nstill comment\n*/\nMSH|^~\\&|2\n";
  auto s = split_stream(in);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->message_count(), 2u);
  EXPECT_EQ(s->batches[0].messages[0], "MSH|^~\\&|1\nPID|1");
}

TEST(SplitStream, CommentLinesAreSegmentsWhenNotSkipped) {
  StreamOptions options;
  options.skip_comment_lines = false;
  auto s = split_stream("# note\nMSH|^~\\&|1\n", options);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
  EXPECT_EQ(s.error().where(), "line 1");
}

TEST(SplitStream, StripsMllpFraming) {
  const std::string in = "\x0BMSH|^~\\&|1\rPID|1\r\x1C\r\x0BMSH|^~\\&|2\rPID|2\x1C\r\x0B";
  auto s = split_stream(in);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->message_count(), 2u);
  EXPECT_EQ(s->batches[0].messages[0], "MSH|^~\\&|1\rPID|1");
  EXPECT_EQ(s->batches[0].messages[1], "MSH|^~\\&|2\rPID|2");
}

TEST(SplitStream, ReadsBatchEnvelopes) {
  const std::string in = "BHS|^~\\&|A\rMSH|^~\\&|1\rMSH|^~\\&|2\rBTS|2\rMSH|^~\\&|3\r";
  auto s = split_stream(in);
  ASSERT_TRUE(s.ok());
  ASSERT_EQ(s->batches.size(), 2u);
  EXPECT_EQ(*s->batches[0].header, "BHS|^~\\&|A");
  EXPECT_EQ(*s->batches[0].trailer, "BTS|2");
  EXPECT_EQ(s->batches[0].messages.size(), 2u);
  EXPECT_FALSE(s->batches[1].header.has_value());
  EXPECT_EQ(s->batches[1].messages.size(), 1u);
}

TEST(SplitStream, ReadsFileEnvelopes) {
  const std::string in =
      "FHS|^~\\&|F\rBHS|^~\\&|B1\rMSH|^~\\&|1\rBTS|1\rBHS|^~\\&|B2\rMSH|^~\\&|2\rBTS|1\rFTS|2\r";
  auto s = split_stream(in);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(*s->file_header, "FHS|^~\\&|F");
  EXPECT_EQ(*s->file_trailer, "FTS|2");
  ASSERT_EQ(s->batches.size(), 2u);
  EXPECT_EQ(s->message_count(), 2u);
}

TEST(SplitStream, ToleratesMissingHeadersOfTrailers) {
  auto batch = split_stream("MSH|^~\\&|1\rBTS|1\r");
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(*batch->batches[0].trailer, "BTS|1");
  auto file = split_stream("BHS|^~\\&|B\rMSH|^~\\&|1\rBTS|1\rFTS|1\r");
  ASSERT_TRUE(file.ok());
  EXPECT_FALSE(file->file_header.has_value());
  EXPECT_TRUE(file->file_trailer.has_value());
}

TEST(SplitStream, RejectsASegmentBeforeAnyMsh) {
  auto s = split_stream("EVN|A04\rMSH|^~\\&|1\r");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
  EXPECT_EQ(s.error().where(), "line 1");
}

TEST(SplitStream, RejectsASegmentAfterABatchTrailer) {
  auto s = split_stream("BHS|^~\\&|B\rMSH|^~\\&|1\rBTS|1\rPID|1\r");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
  EXPECT_EQ(s.error().where(), "line 4");
}

TEST(SplitStream, RejectsASecondBatchHeaderInsideABatch) {
  auto s = split_stream("BHS|^~\\&|B\rMSH|^~\\&|1\rBHS|^~\\&|B\r");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
  EXPECT_EQ(s.error().where(), "line 3");
}

TEST(SplitStream, RejectsASecondFileHeader) {
  auto s = split_stream("FHS|^~\\&|F\rMSH|^~\\&|1\rFHS|^~\\&|F\r");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
}

TEST(SplitStream, RejectsAFileHeaderAfterMessages) {
  auto s = split_stream("MSH|^~\\&|1\rFHS|^~\\&|F\r");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
}

TEST(SplitStream, RejectsABatchTrailerWithNoBatch) {
  auto s = split_stream("BTS|0\r");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
}

TEST(SplitStream, RejectsSegmentsAfterTheFileTrailer) {
  auto s = split_stream("FHS|^~\\&|F\rMSH|^~\\&|1\rFTS|1\rMSH|^~\\&|2\r");
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::bad_envelope));
  EXPECT_EQ(s.error().where(), "line 4");
}

TEST(SplitStream, CountsCrlfAsOneLine) {
  auto s = split_stream("MSH|^~\\&|1\r\nBTS|1\r\nPID|1\r\n");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().where(), "line 3");
}

TEST(SplitStream, EmptyInputIsAnError) {
  for (const char* in : {"", "\r\n\r\n", "   ", "# only a comment\n"}) {
    auto s = split_stream(in);
    ASSERT_FALSE(s.ok()) << in;
    EXPECT_TRUE(s.error().is(Errc::empty_input));
  }
}

TEST(SplitStream, StopsAtTheMessageLimit) {
  StreamOptions options;
  options.max_messages = 2;
  auto s = split_stream("MSH|^~\\&|1\rMSH|^~\\&|2\rMSH|^~\\&|3\r", options);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::too_large));
  EXPECT_TRUE(split_stream("MSH|^~\\&|1\rMSH|^~\\&|2\r", options).ok());
}

TEST(SplitStream, MshNeedsADelimiterAfterItsId) {
  auto s = split_stream("MSH|^~\\&|1\rMSHX|1\r");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->message_count(), 1u);  // MSHX is a segment of the first message
}

}  // namespace
}  // namespace hims::hl7v2
