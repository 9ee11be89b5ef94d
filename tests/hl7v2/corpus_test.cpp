// Every file of ../shared/corpus/hl7v2: split, parsed, walked and round-tripped; malformed ones
// give a specific error; none crash or hang.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "hl7v2/batch.hpp"
#include "hl7v2/message.hpp"
#include "tests/support/corpus.hpp"

namespace hims::hl7v2 {
namespace {

namespace fs = std::filesystem;

fs::path hl7_dir() { return test::corpus_dir() / "hl7v2"; }

std::vector<fs::path> corpus_files() {
  std::vector<fs::path> out;
  for (const fs::path& p : test::files_under(hl7_dir())) {
    const std::string ext = p.extension().string();
    if (ext == ".json" || ext == ".md") continue;
    out.push_back(p);
  }
  return out;
}

std::string rel(const fs::path& p) { return fs::relative(p, hl7_dir()).generic_string(); }

bool contains(const std::string& s, std::string_view part) {
  return s.find(part) != std::string::npos;
}

// Files that must be rejected, and the error they must be rejected with.
bool is_expected_bad(const std::string& r) {
  return contains(r, "/HL7Exception/") || contains(r, "/EncodingNotSupportedException/") ||
         contains(r, "hl7apy/bad_") || contains(r, "python-hl7/sample_bad_") ||
         contains(r, "NewPipeParserTest_L831_bad_msh_foo") ||
         contains(r, "ExtendedMinLowerLayerProtocolTest_L116_adt_a01_v25_bad_msh2");
}

// Walks every element of a message and decodes every leaf.
std::size_t walk(const MessageView& m) {
  std::size_t n = 0;
  std::string text;
  for (const SegmentView s : m) {
    for (std::size_t f = 0; f <= s.field_count(); ++f) {
      for (const ElementView rep : s.field(f).children()) {
        for (const ElementView c : rep.children()) {
          for (const ElementView sc : c.children()) {
            text.clear();
            sc.decode_to(text);
            n += 1;
          }
        }
      }
      text.clear();
      s.field(f).decode_to(text);
    }
  }
  return n;
}

// The first error of split + tolerant parse + strict parse, or nullopt when all succeed.
std::optional<Error> first_error(std::string_view bytes, ParseMode mode) {
  auto stream = split_stream(bytes);
  if (!stream) return stream.error();
  ParseOptions options;
  options.mode = mode;
  for (const Batch& b : stream->batches) {
    for (std::string_view msg : b.messages) {
      auto m = MessageView::parse(msg, options);
      if (!m) return m.error();
    }
  }
  return std::nullopt;
}

TEST(Corpus, HasTheFilesTheManifestDescribes) { EXPECT_GE(corpus_files().size(), 360u); }

TEST(Corpus, GoodFilesSplitParseWalkAndRoundTrip) {
  std::size_t messages = 0;
  for (const fs::path& p : corpus_files()) {
    const std::string r = rel(p);
    if (is_expected_bad(r) || contains(r, "non_ascii_cp1252_no_msh18") ||
        contains(r, "/NoException/")) {
      continue;
    }
    const std::string bytes = test::read_file(p);
    auto stream = split_stream(bytes);
    ASSERT_TRUE(stream.ok()) << r << ": " << stream.error().message();
    EXPECT_GE(stream->message_count(), 1u) << r;
    for (const Batch& b : stream->batches) {
      for (std::string_view msg : b.messages) {
        ++messages;
        auto m = Message::parse(std::string(msg));
        if (!m.ok() && contains(r, "resources_messages.txt") && msg.starts_with("MSH|^~}|")) {
          // HAPI's library file holds one message with a 3-character MSH-2.
          EXPECT_TRUE(m.error().is(Errc::bad_encoding_characters));
          continue;
        }
        ASSERT_TRUE(m.ok()) << r << ": " << m.error().message();
        EXPECT_EQ(m->bytes(), msg) << r;
        EXPECT_GT(walk(m->view()), 0u) << r;
        // Canonical encode re-parses to the same segments.
        const std::string encoded = m->encode();
        auto again = MessageView::parse(encoded);
        ASSERT_TRUE(again.ok()) << r;
        ASSERT_EQ(again->segment_count(), m->view().segment_count()) << r;
        for (std::size_t i = 0; i < again->segment_count(); ++i) {
          EXPECT_EQ(again->segment(i).raw(), m->view().segment(i).raw()) << r;
        }
      }
    }
  }
  EXPECT_GE(messages, 360u);
}

TEST(Corpus, NhapiNoExceptionInputsParse) {
  std::size_t seen = 0;
  for (const fs::path& p : corpus_files()) {
    const std::string r = rel(p);
    if (!contains(r, "/NoException/")) continue;
    ++seen;
    // Read byte-transparently, as nHapi reads them: one holds a lone 0x80 that the default
    // (UTF-8) reading reports as invalid_text.
    const std::string bytes = test::read_file(p);
    auto stream = split_stream(bytes);
    ASSERT_TRUE(stream.ok()) << r << ": " << stream.error().message();
    ParseOptions latin1;
    latin1.default_charset = Charset::latin1;
    for (const Batch& b : stream->batches) {
      for (std::string_view msg : b.messages) {
        auto m = MessageView::parse(msg, latin1);
        ASSERT_TRUE(m.ok()) << r << ": " << m.error().message();
        EXPECT_GT(walk(*m), 0u);
      }
    }
  }
  EXPECT_EQ(seen, 4u);
}

TEST(Corpus, NhapiHl7ExceptionInputsAreRejected) {
  std::size_t seen = 0;
  for (const fs::path& p : corpus_files()) {
    const std::string r = rel(p);
    if (!contains(r, "/HL7Exception/")) continue;
    ++seen;
    // nHapi's parser knows message structures; ours rejects the same inputs on the header in
    // tolerant mode, or on the delimiter and segment-id rules of strict mode.
    const auto err = first_error(test::read_file(p), ParseMode::strict);
    ASSERT_TRUE(err.has_value()) << r;
    EXPECT_TRUE(err->is(Errc::bad_encoding_characters) || err->is(Errc::bad_header) ||
                err->is(Errc::bad_segment) || err->is(Errc::missing_field) ||
                err->is(Errc::unsupported_version))
        << r << ": " << err->message();
  }
  EXPECT_EQ(seen, 29u);
}

TEST(Corpus, NhapiHl7ExceptionInputsWithABadHeaderFailEvenWhenTolerant) {
  std::size_t rejected = 0;
  for (const fs::path& p : corpus_files()) {
    const std::string r = rel(p);
    if (!contains(r, "/HL7Exception/")) continue;
    const auto err = first_error(test::read_file(p), ParseMode::tolerant);
    if (err) ++rejected;
  }
  // All but the two whose MSH-2 is legal for a tolerant reader (^~y& and "^ \E"); strict mode
  // rejects those (alphanumeric and space delimiters).
  EXPECT_EQ(rejected, 27u);
}

TEST(Corpus, NhapiEncodingNotSupportedInputsAreRejected) {
  std::size_t seen = 0;
  for (const fs::path& p : corpus_files()) {
    const std::string r = rel(p);
    if (!contains(r, "/EncodingNotSupportedException/")) continue;
    ++seen;
    const std::string bytes = test::read_file(p);
    const auto err = first_error(bytes, ParseMode::tolerant);
    ASSERT_TRUE(err.has_value()) << r;
    auto direct = MessageView::parse(bytes);
    ASSERT_FALSE(direct.ok()) << r;
    EXPECT_TRUE(direct.error().is(Errc::empty_input) || direct.error().is(Errc::no_header) ||
                direct.error().is(Errc::bad_header))
        << r << ": " << direct.error().message();
  }
  EXPECT_EQ(seen, 4u);
}

TEST(Corpus, Hl7apyBadHeadersAreRejected) {
  std::size_t seen = 0;
  for (const fs::path& p : corpus_files()) {
    const std::string r = rel(p);
    if (!contains(r, "hl7apy/bad_")) continue;
    ++seen;
    const std::string bytes = test::read_file(p);
    auto m = MessageView::parse(bytes);
    ASSERT_FALSE(m.ok()) << r;
    EXPECT_TRUE(m.error().is(Errc::bad_encoding_characters) || m.error().is(Errc::no_header))
        << r << ": " << m.error().message();
  }
  EXPECT_EQ(seen, 8u);
}

TEST(Corpus, PythonHl7BadEnvelopesAreRejected) {
  std::size_t seen = 0;
  for (const fs::path& p : corpus_files()) {
    const std::string r = rel(p);
    if (!contains(r, "python-hl7/sample_bad_")) continue;
    ++seen;
    const std::string bytes = test::read_file(p);
    auto s = split_stream(bytes);
    ASSERT_FALSE(s.ok()) << r;
    EXPECT_TRUE(s.error().is(Errc::bad_envelope)) << r << ": " << s.error().message();
  }
  EXPECT_EQ(seen, 6u);
}

}  // namespace
}  // namespace hims::hl7v2
