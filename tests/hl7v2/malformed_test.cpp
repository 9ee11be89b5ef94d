// Hostile and malformed input: specific errors, limits, no crash, no unbounded allocation;
// replays every fuzzer finding under tests/data/hl7v2/fuzz/.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "hl7v2/batch.hpp"
#include "hl7v2/message.hpp"
#include "tests/support/corpus.hpp"

// Counts heap allocations so a test can prove reparse allocates nothing once warmed up.
namespace {
std::atomic<std::size_t> g_allocations{0};
}  // namespace

void* operator new(std::size_t size) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace hims::hl7v2 {
namespace {

// Everything a reader might do with a message; must never crash.
void exercise(std::string_view bytes) {
  auto stream = split_stream(bytes);
  std::vector<std::string_view> messages = {bytes};
  if (stream) {
    for (const Batch& b : stream->batches) {
      messages.insert(messages.end(), b.messages.begin(), b.messages.end());
    }
  }
  for (std::string_view msg : messages) {
    for (ParseMode mode : {ParseMode::tolerant, ParseMode::strict}) {
      ParseOptions o;
      o.mode = mode;
      auto m = MessageView::parse(msg, o);
      if (!m) {
        EXPECT_FALSE(m.error().message().empty());
        continue;
      }
      std::string text;
      for (const SegmentView s : *m) {
        for (std::size_t f = 0; f <= s.field_count() + 1; ++f) {
          const ElementView e = s.field(f);
          for (const ElementView r : e.children()) {
            for (const ElementView c : r.children()) {
              for (const ElementView sc : c.children()) sc.decode_to(text);
              (void)c.subcomponent(3).raw();
            }
          }
          (void)e.component(3).subcomponent(2).decoded();
        }
      }
      auto owned = Message::parse(std::string(msg), o);
      if (owned) {
        (void)owned->set("PID-5[2].1.2", "x^y");
        (void)owned->set("MSH-3", "z");
        (void)owned->encode();
      }
    }
  }
}

TEST(Malformed, FuzzFindingsReplayWithoutCrashing) {
  const auto dir = test::source_dir() / "tests" / "data" / "hl7v2" / "fuzz";
  const auto files = test::files_under(dir);
  EXPECT_FALSE(files.empty());
  for (const auto& p : files) {
    SCOPED_TRACE(p.filename().string());
    exercise(test::read_file(p));
  }
}

TEST(Malformed, LiteralHeaderFieldsAnswerEveryLevel) {
  // Found by the fuzzer: component() on MSH-2 recursed without end.
  auto m = MessageView::parse("MSH|^~\\&|foo\r\nbar\r\n");
  ASSERT_TRUE(m.ok());
  const ElementView msh2 = m->header().field(2);
  EXPECT_EQ(msh2.component(1).raw(), "^~\\&");
  EXPECT_TRUE(msh2.component(2).empty());
  EXPECT_EQ(msh2.subcomponent(1).raw(), "^~\\&");
  EXPECT_EQ(m->header().field(1).component(1).subcomponent(1).raw(), "|");
  EXPECT_TRUE(m->header().field(1).repetition(2).empty());
}

TEST(Malformed, RejectsAnAlphanumericFieldSeparator) {
  auto m = MessageView::parse("MSHH0\r");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::bad_header));
  EXPECT_EQ(m.error().where(), "MSH-1");
}

TEST(Malformed, RejectsGarbageBeforeTheHeader) {
  const std::string in("\0\0\x02MSH|^~\\&|x", 12);
  auto m = MessageView::parse(in);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::no_header));
}

TEST(Malformed, RejectsEncodingCharactersEqualToTheFieldSeparator) {
  auto m = MessageView::parse("MSH|^~|&|x\r");
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::bad_encoding_characters));
}

TEST(Malformed, StrictModeRejectsUnusualDelimiters) {
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  for (const char* in :
       {"MSH|^~y&|A|B|C|D|1||ADT^A01|1|P|2.5\r", "MSH|^ \\E|A|B|C|D|1||ADT^A01|1|P|2.5\r",
        "MSH|^~\\\"|A|B|C|D|1||ADT^A01|1|P|2.5\r", "MSH|^~\\\\&|A|B|C|D|1||ADT^A01|1|P|2.5\r"}) {
    auto t = MessageView::parse(in);
    EXPECT_TRUE(t.ok()) << in;
    auto s = MessageView::parse(in, strict);
    ASSERT_FALSE(s.ok()) << in;
    EXPECT_TRUE(s.error().is(Errc::bad_encoding_characters)) << in;
  }
}

TEST(Malformed, StrictModeRejectsAMissingControlIdAndVersion) {
  ParseOptions strict;
  strict.mode = ParseMode::strict;
  auto no_id = MessageView::parse("MSH|^~\\&|A|B|C|D|1||ADT^A01||P|2.5\r", strict);
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().where(), "MSH-10");
  auto no_version = MessageView::parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P\r", strict);
  ASSERT_FALSE(no_version.ok());
  EXPECT_EQ(no_version.error().where(), "MSH-12");
  EXPECT_TRUE(MessageView::parse("MSH|^~\\&|A|B|C|D|1||ADT^A01|1|P|2.5.1\rPID|1\r", strict).ok());
}

TEST(Malformed, EnforcesTheByteLimit) {
  ParseOptions o;
  o.limits.max_bytes = 32;
  const std::string in = "MSH|^~\\&|A\rNTE|1||" + std::string(64, 'x');
  auto m = MessageView::parse(in, o);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::too_large));
}

TEST(Malformed, EnforcesTheSegmentLimit) {
  ParseOptions o;
  o.limits.max_segments = 10;
  std::string in = "MSH|^~\\&|A\r";
  for (int i = 0; i < 20; ++i) in += "NTE|1\r";
  auto m = MessageView::parse(in, o);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::too_many_segments));
  EXPECT_EQ(m.error().where(), "segment 11");
}

TEST(Malformed, EnforcesTheFieldLimit) {
  ParseOptions o;
  o.limits.max_fields_per_segment = 50;
  const std::string in = "MSH|^~\\&|A\rNTE" + std::string(60, '|') + "\r";
  auto m = MessageView::parse(in, o);
  ASSERT_FALSE(m.ok());
  EXPECT_TRUE(m.error().is(Errc::too_many_fields));
  EXPECT_EQ(m.error().where(), "segment 2");
  const std::string ok = "MSH|^~\\&|A\rNTE" + std::string(50, '|') + "\r";
  EXPECT_TRUE(MessageView::parse(ok, o).ok());
}

TEST(Malformed, DefaultLimitsHoldAgainstAFlood) {
  const std::string fields = "MSH|^~\\&|A\rNTE" + std::string(100'000, '|');
  EXPECT_TRUE(MessageView::parse(fields).error().is(Errc::too_many_fields));
  std::string segments = "MSH|^~\\&|A\r";
  for (int i = 0; i < 100'001; ++i) segments += "Z\r";
  EXPECT_TRUE(MessageView::parse(segments).error().is(Errc::too_many_segments));
}

TEST(Malformed, ControlBytesAndNulsAreData) {
  const std::string in("MSH|^~\\&|A\rZ\0\x10|\0\x01^\x7F\r\x10\0||0\r", 24);
  exercise(in);
  auto m = MessageView::parse(in);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment_count(), 3u);
  EXPECT_EQ(m->segment(1).field(1).component(1).raw(), std::string_view("\0\x01", 2));
}

TEST(Malformed, LongRunsOfDelimitersDoNotExplode) {
  std::string in = "MSH|^~\\&|A\rPID|" + std::string(10'000, '~') + "|" + std::string(10'000, '^') +
                   "|" + std::string(10'000, '&') + "|" + std::string(10'000, '\\') + "\r";
  exercise(in);
  auto m = MessageView::parse(in);
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->segment(1).field(1).size(), 10'001u);
  EXPECT_EQ(m->segment(1).field(2).component(10'001).raw(), "");
}

TEST(Malformed, ReparseAllocatesNothingOnceWarm) {
  const std::string big =
      "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\r" + std::string(200, 'x') + "\r";
  std::string msg = "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\r";
  for (int i = 0; i < 50; ++i) msg += "OBX|" + std::to_string(i) + "|NM|GLU^Glucose||5.5|mmol/L\r";
  MessageView view;
  ASSERT_TRUE(view.reparse(msg).ok());
  ASSERT_TRUE(view.reparse(big).ok());
  const std::size_t before = g_allocations.load();
  for (int i = 0; i < 100; ++i) {
    ASSERT_TRUE(view.reparse(msg).ok());
    ASSERT_TRUE(view.reparse(big).ok());
  }
  EXPECT_EQ(g_allocations.load(), before);
}

TEST(Malformed, WalkingAndRawAccessAllocateNothing) {
  std::string msg = "MSH|^~\\&|A|B|C|D|20240101||ORU^R01|1|P|2.5\r";
  for (int i = 0; i < 20; ++i) msg += "OBX|1|CE|A^B&C~D||x\\T\\y\r";
  auto m = MessageView::parse(msg);
  ASSERT_TRUE(m.ok());
  const std::size_t before = g_allocations.load();
  std::size_t bytes = 0;
  for (const SegmentView s : *m) {
    for (std::size_t f = 1; f <= s.field_count(); ++f) {
      for (const ElementView r : s.field(f).children()) {
        for (const ElementView c : r.children()) {
          for (const ElementView sc : c.children()) bytes += sc.raw().size();
        }
      }
    }
  }
  EXPECT_EQ(g_allocations.load(), before);
  EXPECT_GT(bytes, 0u);
}

TEST(Malformed, ErrorsNeverEchoMessageContent) {
  const std::string secret = "ZZSECRETZZ";
  for (const std::string& in : {"MSH|" + secret, "PID|" + secret, "MSH|^~\\&|" + secret + "\xFF",
                                "MSH|^~\\&|A|||||||||||||||" + secret}) {
    auto m = MessageView::parse(in);
    ASSERT_FALSE(m.ok()) << in;
    EXPECT_EQ(m.error().message().find("SECRET"), std::string::npos) << m.error().message();
  }
  auto s = split_stream("EVN|" + secret + "\rMSH|^~\\&|A\r");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message().find("SECRET"), std::string::npos);
}

}  // namespace
}  // namespace hims::hl7v2
