#include "hl7v2/mllp_frame.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/support/corpus.hpp"

namespace hims::hl7v2 {
namespace {

const std::string kAdt = "MSH|^~\\&|A|B|C|D|20240101||ADT^A01|MSG1|P|2.5\rPID|1||123^^^H^MR\r";
const std::string kOru = "MSH|^~\\&|LAB|X|||20240101||ORU^R01|MSG2|P|2.5\rOBX|1|NM|GLU||5.5\r";

struct Decoded {
  std::vector<std::string> frames;
  FrameStatus last = FrameStatus::need_more;
};

// Feeds every piece, drains next() after each, stops at the first error status.
Decoded decode(FrameDecoder& decoder, const std::vector<std::string_view>& pieces) {
  Decoded out;
  for (auto piece : pieces) {
    decoder.feed(piece);
    for (;;) {
      auto r = decoder.next();
      out.last = r.status;
      if (r.status == FrameStatus::frame) {
        out.frames.emplace_back(r.frame);
        continue;
      }
      if (r.status != FrameStatus::need_more) return out;
      break;
    }
  }
  return out;
}

Decoded decode_whole(std::string_view bytes, FrameLimits limits = {}) {
  FrameDecoder decoder(limits);
  return decode(decoder, {bytes});
}

TEST(MllpFrame, EncodesStartAndEndBlocks) {
  EXPECT_EQ(frame("abc"), std::string("\x0B"
                                      "abc\x1C\r"));
  std::string out = "x";
  append_frame(out, "");
  EXPECT_EQ(out, std::string("x\x0B\x1C\r"));
  EXPECT_TRUE(contains_mllp_control("a\x1C"));
  EXPECT_TRUE(contains_mllp_control("\x0B"));
  EXPECT_FALSE(contains_mllp_control(kAdt));
}

TEST(FrameDecoder, DecodesOneFrame) {
  auto d = decode_whole(frame(kAdt));
  ASSERT_EQ(d.frames.size(), 1u);
  EXPECT_EQ(d.frames[0], kAdt);
  EXPECT_EQ(d.last, FrameStatus::need_more);
}

TEST(FrameDecoder, DecodesEmptyFrame) {
  auto d = decode_whole(frame(""));
  ASSERT_EQ(d.frames.size(), 1u);
  EXPECT_EQ(d.frames[0], "");
}

TEST(FrameDecoder, NeedsMoreUntilEndBlock) {
  FrameDecoder decoder;
  decoder.feed("\x0BMSH|");
  EXPECT_EQ(decoder.next().status, FrameStatus::need_more);
  EXPECT_TRUE(decoder.in_frame());
  decoder.feed("x");
  EXPECT_EQ(decoder.next().status, FrameStatus::need_more);
  decoder.feed("\x1C\r");
  auto r = decoder.next();
  ASSERT_EQ(r.status, FrameStatus::frame);
  EXPECT_EQ(r.frame, "MSH|x");
  EXPECT_FALSE(decoder.in_frame());
  EXPECT_EQ(decoder.next().status, FrameStatus::need_more);
  EXPECT_EQ(decoder.buffered(), 0u);
}

TEST(FrameDecoder, SplitAtEveryBytePosition) {
  const std::string wire = frame(kAdt) + frame(kOru);
  for (FrameLimits limits : {FrameLimits{}, FrameLimits{1 << 20, MllpTrailer::strict}}) {
    for (std::size_t cut = 0; cut <= wire.size(); ++cut) {
      FrameDecoder decoder(limits);
      std::string_view w(wire);
      auto d = decode(decoder, {w.substr(0, cut), w.substr(cut)});
      ASSERT_EQ(d.frames.size(), 2u) << "cut at " << cut;
      EXPECT_EQ(d.frames[0], kAdt) << "cut at " << cut;
      EXPECT_EQ(d.frames[1], kOru) << "cut at " << cut;
      EXPECT_EQ(decoder.stats().bytes_outside_frames, 0u) << "cut at " << cut;
    }
  }
}

TEST(FrameDecoder, OneByteAtATime) {
  const std::string wire = "junk" + frame(kAdt) + "\n" + frame(kOru);
  FrameDecoder decoder;
  std::vector<std::string_view> pieces;
  for (std::size_t i = 0; i < wire.size(); ++i)
    pieces.push_back(std::string_view(wire).substr(i, 1));
  auto d = decode(decoder, pieces);
  ASSERT_EQ(d.frames.size(), 2u);
  EXPECT_EQ(d.frames[1], kOru);
  EXPECT_EQ(decoder.stats().bytes_outside_frames, 5u);
}

TEST(FrameDecoder, ManyFramesInOneFeedStayValidUntilNextFeed) {
  std::string wire;
  for (int i = 0; i < 100; ++i) append_frame(wire, kAdt + std::to_string(i));
  FrameDecoder decoder;
  decoder.feed(wire);
  std::vector<std::string_view> views;  // all views of one feed are valid together
  for (auto r = decoder.next(); r.status == FrameStatus::frame; r = decoder.next()) {
    views.push_back(r.frame);
  }
  ASSERT_EQ(views.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(views[i], kAdt + std::to_string(i));
  EXPECT_EQ(decoder.stats().frames, 100u);
}

TEST(FrameDecoder, SkipsAndCountsJunkBetweenFrames) {
  const std::string wire = "abc" + frame(kAdt) + "\r\n" + frame(kOru) + "zz";
  auto d = decode_whole(wire);
  ASSERT_EQ(d.frames.size(), 2u);
  FrameDecoder decoder;
  decode(decoder, {wire});
  EXPECT_EQ(decoder.stats().bytes_outside_frames, 7u);
  EXPECT_EQ(decoder.stats().frames, 2u);
}

TEST(FrameDecoder, StartBlockInsideFrameRestartsIt) {
  const std::string wire =
      "\x0B"
      "partial" +
      frame(kAdt);
  FrameDecoder decoder;
  auto d = decode(decoder, {wire});
  ASSERT_EQ(d.frames.size(), 1u);
  EXPECT_EQ(d.frames[0], kAdt);
  EXPECT_EQ(decoder.stats().frames_abandoned, 1u);
  EXPECT_EQ(decoder.stats().bytes_abandoned, 8u);
}

TEST(FrameDecoder, LenientTrailerReturnsFrameAtEndBlock) {
  FrameDecoder decoder;
  decoder.feed(
      "\x0B"
      "A\x1C");
  auto r = decoder.next();  // no CR yet: a sender waiting for its ACK must not be stalled
  ASSERT_EQ(r.status, FrameStatus::frame);
  EXPECT_EQ(r.frame, "A");
  decoder.feed(
      "\x0B"
      "B\x1C\r");  // no CR after the first FS
  r = decoder.next();
  ASSERT_EQ(r.status, FrameStatus::frame);
  EXPECT_EQ(r.frame, "B");
  EXPECT_EQ(decoder.stats().missing_end_cr, 1u);
  EXPECT_EQ(decoder.stats().bytes_outside_frames, 0u);
}

TEST(FrameDecoder, StrictTrailerRejectsMissingCarriageReturn) {
  FrameLimits limits;
  limits.trailer = MllpTrailer::strict;
  FrameDecoder decoder(limits);
  decoder.feed(
      "\x0B"
      "A\x1C");
  EXPECT_EQ(decoder.next().status, FrameStatus::need_more);
  decoder.feed("X");
  EXPECT_EQ(decoder.next().status, FrameStatus::bad);
  EXPECT_EQ(decoder.next().status, FrameStatus::bad);  // sticky
  decoder.feed(frame("B"));
  EXPECT_EQ(decoder.next().status, FrameStatus::bad);
  decoder.reset();
  decoder.feed(frame("B"));
  EXPECT_EQ(decoder.next().frame, "B");
}

TEST(FrameDecoder, RejectsOversizeFrameBeforeEndBlockArrives) {
  FrameLimits limits;
  limits.max_frame_bytes = 10;
  FrameDecoder decoder(limits);
  decoder.feed(
      "\x0B"
      "0123456789");  // exactly the limit: still fine
  EXPECT_EQ(decoder.next().status, FrameStatus::need_more);
  decoder.feed("A");  // one more byte and no FS: too large, without waiting for the end
  EXPECT_EQ(decoder.next().status, FrameStatus::too_large);
  EXPECT_EQ(decoder.next().status, FrameStatus::too_large);
  decoder.feed(std::string(1000, 'x'));
  EXPECT_EQ(decoder.buffered(), 0u);  // a dead decoder keeps nothing
}

TEST(FrameDecoder, AcceptsFrameOfExactlyMaxSize) {
  FrameLimits limits;
  limits.max_frame_bytes = 10;
  auto d = decode_whole(frame("0123456789"), limits);
  ASSERT_EQ(d.frames.size(), 1u);
  d = decode_whole(frame("0123456789A"), limits);
  EXPECT_EQ(d.frames.size(), 0u);
  EXPECT_EQ(d.last, FrameStatus::too_large);
}

TEST(FrameDecoder, JunkDoesNotGrowTheBuffer) {
  FrameDecoder decoder;
  for (int i = 0; i < 100; ++i) {
    decoder.feed(std::string(4096, 'j'));
    EXPECT_EQ(decoder.next().status, FrameStatus::need_more);
    EXPECT_EQ(decoder.buffered(), 0u);
  }
  EXPECT_EQ(decoder.stats().bytes_outside_frames, 409600u);
}

TEST(FrameDecoder, PrepareCommitReadsStraightIntoTheBuffer) {
  const std::string wire = frame(kAdt);
  FrameDecoder decoder;
  auto space = decoder.prepare(4096);
  ASSERT_GE(space.size(), wire.size());
  std::copy(wire.begin(), wire.end(), space.begin());
  decoder.commit(wire.size());
  auto r = decoder.next();
  ASSERT_EQ(r.status, FrameStatus::frame);
  EXPECT_EQ(r.frame, kAdt);
}

TEST(FrameDecoder, HapiStreamHasExactlyThreeMessagesAndAStrayStartBlock) {
  const auto bytes = test::read_file(
      test::corpus_dir() /
      "hl7v2/hapi-hl7v2/Hl7InputStreamMessageIteratorTest_L201_stream_mllp_framed.hl7");
  ASSERT_FALSE(bytes.empty());
  FrameDecoder decoder;
  auto d = decode(decoder, {bytes});
  ASSERT_EQ(d.frames.size(), 3u);
  for (const auto& f : d.frames) {
    EXPECT_EQ(f.rfind("MSH|", 0), 0u);
    EXPECT_EQ(f.back(), '\r');
  }
  EXPECT_NE(d.frames[0].find("|102416|"), std::string::npos);
  EXPECT_NE(d.frames[2].find("|102418|"), std::string::npos);
  EXPECT_TRUE(decoder.in_frame());  // the trailing VT opened a frame that never ends
  EXPECT_EQ(decoder.stats().bytes_outside_frames, 0u);
}

// Every input the fuzzer flagged (tests/data/mllp/fuzz/, same layout as fuzz/mllp_frame_fuzz.cpp:
// byte 0 bit 0 = strict trailer, byte 1 = max_frame_bytes, then the stream) decodes the same in one
// feed and byte by byte, and never returns a frame over the limit.
TEST(FrameDecoder, ReplaysFuzzFindings) {
  const auto dir = test::source_dir() / "tests/data/mllp/fuzz";
  for (const auto& path : test::files_under(dir)) {
    const auto input = test::read_file(path);
    if (input.size() < 2) continue;
    FrameLimits limits;
    limits.trailer = (input[0] & 1) != 0 ? MllpTrailer::strict : MllpTrailer::lenient;
    limits.max_frame_bytes = static_cast<unsigned char>(input[1]);
    const std::string_view bytes = std::string_view(input).substr(2);
    auto whole = decode_whole(bytes, limits);
    FrameDecoder decoder(limits);
    std::vector<std::string_view> pieces;
    for (std::size_t i = 0; i < bytes.size(); ++i) pieces.push_back(bytes.substr(i, 1));
    auto split = decode(decoder, pieces);
    EXPECT_EQ(whole.frames, split.frames) << path;
    EXPECT_EQ(whole.last, split.last) << path;
    for (const auto& f : whole.frames) EXPECT_LE(f.size(), limits.max_frame_bytes) << path;
  }
}

}  // namespace
}  // namespace hims::hl7v2
