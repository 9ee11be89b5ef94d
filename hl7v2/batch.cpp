#include "hl7v2/batch.hpp"

#include <string>

#include "hl7v2/detail/ascii.hpp"

namespace hims::hl7v2 {
namespace {

using detail::is_alnum;

// A line separator: CR, LF, or an MLLP framing byte (VT start block, FS end block).
bool is_line_break(char c) { return c == '\r' || c == '\n' || c == '\x0B' || c == '\x1C'; }

bool is_segment(std::string_view line, std::string_view id) {
  return line.size() >= 3 && line.substr(0, 3) == id && (line.size() == 3 || !is_alnum(line[3]));
}

Error envelope_error(std::size_t line, std::string detail) {
  return Error(Errc::bad_envelope, "line " + std::to_string(line), std::move(detail));
}

}  // namespace

std::size_t Stream::message_count() const {
  std::size_t n = 0;
  for (const Batch& b : batches) n += b.messages.size();
  return n;
}

Result<Stream> split_stream(std::string_view bytes, const StreamOptions& options) {
  Stream stream;
  const char* base = bytes.data();
  const std::size_t n = bytes.size();
  std::size_t pos = 0;
  std::size_t line_no = 1;
  bool in_message = false;
  std::size_t msg_begin = 0;
  std::size_t msg_end = 0;
  bool in_block_comment = false;
  bool batch_open = false;  // a BHS was seen and its BTS not yet
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t current = kNone;  // index of the batch receiving messages
  bool file_closed = false;     // FTS seen
  std::size_t messages = 0;
  std::optional<Error> failure;

  auto close_message = [&]() {
    if (!in_message) return;
    in_message = false;
    if (messages >= options.max_messages) {
      failure = Error(Errc::too_large, "line " + std::to_string(line_no),
                      "more than " + std::to_string(options.max_messages) + " messages");
      return;
    }
    if (current == kNone) {
      stream.batches.emplace_back();
      current = stream.batches.size() - 1;
    }
    stream.batches[current].messages.emplace_back(base + msg_begin, msg_end - msg_begin);
    ++messages;
  };

  while (pos < n && !failure) {
    std::size_t end = pos;
    while (end < n && !is_line_break(base[end])) ++end;
    const std::size_t line_begin = pos;
    const std::size_t this_line = line_no;
    // Next line: CRLF counts as one line break.
    if (end < n) {
      if (base[end] == '\r' && end + 1 < n && base[end + 1] == '\n') {
        pos = end + 2;
      } else {
        pos = end + 1;
      }
      if (base[end] == '\r' || base[end] == '\n') ++line_no;
    } else {
      pos = n;
    }

    std::size_t cb = line_begin;
    if (end - cb >= 3 && static_cast<unsigned char>(base[cb]) == 0xEF &&
        static_cast<unsigned char>(base[cb + 1]) == 0xBB &&
        static_cast<unsigned char>(base[cb + 2]) == 0xBF) {
      cb += 3;
    }
    while (cb < end && (base[cb] == ' ' || base[cb] == '\t' || base[cb] == '\f')) ++cb;
    const std::string_view line(base + cb, end - cb);
    if (line.empty()) continue;
    if (in_block_comment) {
      if (line.find("*/") != std::string_view::npos) in_block_comment = false;
      continue;
    }
    if (options.skip_comment_lines &&
        (line[0] == '#' || line.starts_with("//") || line.starts_with("/*"))) {
      close_message();
      if (line.starts_with("/*") && line.find("*/", 2) == std::string_view::npos) {
        in_block_comment = true;
      }
      continue;
    }
    if (file_closed) {
      close_message();
      failure = envelope_error(this_line, "segment after the file trailer (FTS)");
      break;
    }
    if (is_segment(line, "MSH")) {
      close_message();
      in_message = true;
      msg_begin = cb;
      msg_end = end;
    } else if (is_segment(line, "BHS")) {
      close_message();
      if (batch_open) {
        failure = envelope_error(this_line, "second batch header (BHS) inside a batch");
        break;
      }
      stream.batches.emplace_back();
      current = stream.batches.size() - 1;
      stream.batches[current].header = line;
      batch_open = true;
    } else if (is_segment(line, "BTS")) {
      close_message();
      // A BTS closing BHS-less messages is accepted (python-hl7 does); one with no batch is not.
      if (current == kNone) {
        failure = envelope_error(this_line, "batch trailer (BTS) with no batch to close");
        break;
      }
      stream.batches[current].trailer = line;
      batch_open = false;
      current = kNone;
    } else if (is_segment(line, "FHS")) {
      close_message();
      if (stream.file_header) {
        failure = envelope_error(this_line, "second file header (FHS)");
        break;
      }
      if (!stream.batches.empty()) {
        failure = envelope_error(this_line, "file header (FHS) after messages");
        break;
      }
      stream.file_header = line;
    } else if (is_segment(line, "FTS")) {
      close_message();
      stream.file_trailer = line;
      batch_open = false;
      current = kNone;
      file_closed = true;
    } else if (in_message) {
      msg_end = end;
    } else {
      failure = envelope_error(this_line, "segment received before message header (MSH)");
      break;
    }
  }
  if (!failure) close_message();
  if (failure) return std::move(*failure);
  if (stream.batches.empty() && !stream.file_header) {
    return Error(Errc::empty_input, "", "no message in the input");
  }
  return stream;
}

}  // namespace hims::hl7v2
