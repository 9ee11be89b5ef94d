// Splits a byte stream holding one or many HL7 v2 messages (a file, a batch FHS/BHS...BTS/FTS,
// a library file with comment lines, an MLLP-framed capture) into messages. Pure; the returned
// views point into the caller's buffer.
#pragma once

#include <optional>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "hl7v2/errors.hpp"

namespace hims::hl7v2 {

struct Batch {
  std::optional<std::string_view> header;   // the BHS segment, raw, without terminator
  std::optional<std::string_view> trailer;  // the BTS segment
  std::vector<std::string_view> messages;   // each from its MSH to the end of its last segment
};

struct Stream {
  std::optional<std::string_view> file_header;   // FHS
  std::optional<std::string_view> file_trailer;  // FTS
  std::vector<Batch> batches;  // at least one when there is any message; BHS-less messages
                               // form a batch without header and trailer
  std::size_t message_count() const;
};

struct StreamOptions {
  // Lines starting with '#', '//' or inside '/* */' between messages are comments (library and
  // test files); off for strict envelope checking.
  bool skip_comment_lines = true;
  std::size_t max_messages = 1'000'000;
};

// Input with no segment at all (empty, white space, comments) is Errc::empty_input.
// Errors are Errc::bad_envelope with the line that broke the structure: a segment before any
// MSH, a BHS inside an open batch, a second FHS, an FHS after messages, a BTS with no batch, a
// segment after FTS. A missing BHS/FHS (BTS or FTS alone) or trailer is tolerated, as python-hl7
// does.
Result<Stream> split_stream(std::string_view bytes, const StreamOptions& options = {});

}  // namespace hims::hl7v2
