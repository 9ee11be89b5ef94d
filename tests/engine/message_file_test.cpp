// Tests of splitting message files for `send`: terminators, batches, comments, framing.
#include "engine/message_file.hpp"

#include <gtest/gtest.h>

#include "tests/support/corpus.hpp"

namespace hims::engine {
namespace {

TEST(MessageFile, NormalizesTerminatorsToCr) {
  EXPECT_EQ(normalize_segments("MSH|1\r\nPID|1\r\n"), "MSH|1\rPID|1");
  EXPECT_EQ(normalize_segments("MSH|1\nPID|1\n\n\nOBX|1"), "MSH|1\rPID|1\rOBX|1");
  EXPECT_EQ(normalize_segments("MSH|1\rPID|1\r"), "MSH|1\rPID|1");
  EXPECT_EQ(normalize_segments(""), "");
}

TEST(MessageFile, LooseCrlfTwoMessages) {
  // EXPECTATIONS item 19.
  const std::string bytes =
      test::read_file(test::corpus_dir() / "hl7v2" / "python-hl7" / "loose_crlf_two_messages.hl7");
  auto messages = split_message_file(bytes);
  ASSERT_TRUE(messages.ok()) << messages.error().message();
  ASSERT_EQ(messages->size(), 2u);
  EXPECT_EQ((*messages)[0], "MSH|^~\\&|1\rOBX|1");
  EXPECT_EQ((*messages)[1], "MSH|^~\\&|2\rOBX|2");
}

TEST(MessageFile, StreamsBatchesAndFramedCaptures) {
  const auto hapi = test::corpus_dir() / "hl7v2" / "hapi-hl7v2";
  for (const char* name :
       {"Hl7InputStreamMessageIteratorTest_L28_stream_three_adt_a45_blank_lines.hl7",
        "Hl7InputStreamMessageIteratorTest_L63_stream_three_adt_a45_hash_comments_crlf.hl7",
        "Hl7InputStreamMessageIteratorTest_L98_stream_leading_whitespace.hl7",
        "Hl7InputStreamMessageIteratorTest_L201_stream_mllp_framed.hl7"}) {
    auto messages = split_message_file(test::read_file(hapi / name));
    ASSERT_TRUE(messages.ok()) << name;
    ASSERT_EQ(messages->size(), 3u) << name;
    for (const auto& m : *messages) {
      EXPECT_EQ(m.rfind("MSH|", 0), 0u) << name;
      EXPECT_EQ(m.find('\n'), std::string::npos) << name;
      EXPECT_EQ(m.find('\x0b'), std::string::npos) << name;
    }
  }
  auto library = split_message_file(test::read_file(hapi / "resources_messages.txt"));
  ASSERT_TRUE(library.ok());
  EXPECT_EQ(library->size(), 18u);

  auto batch = split_message_file(
      test::read_file(test::source_dir() / "samples" / "messages" / "oru_r01_batch.hl7"));
  ASSERT_TRUE(batch.ok());
  ASSERT_EQ(batch->size(), 3u);
}

TEST(MessageFile, BadEnvelopeIsAnError) {
  auto messages = split_message_file(
      test::read_file(test::corpus_dir() / "hl7v2" / "python-hl7" / "sample_bad_batch1.hl7"));
  EXPECT_FALSE(messages.ok());
}

}  // namespace
}  // namespace hims::engine
