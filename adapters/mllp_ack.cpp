// message_control_id() and read_ack(): a minimal scan of MSH and MSA (no full parse), enough to
// correlate an ACK with the message it answers.
#include <string>
#include <string_view>
#include <vector>

#include "adapters/mllp_client.hpp"
#include "adapters/mllp_errors.hpp"

namespace hims::adapters {
namespace {

bool is_segment_end(char c) { return c == '\r' || c == '\n'; }

// The fields of the segment starting at `at` (field 0 is the segment id).
std::vector<std::string_view> fields_of(std::string_view text, std::size_t at, char separator) {
  std::vector<std::string_view> out;
  std::size_t end = at;
  while (end < text.size() && !is_segment_end(text[end])) ++end;
  const std::string_view segment = text.substr(at, end - at);
  std::size_t begin = 0;
  for (;;) {
    const std::size_t next = segment.find(separator, begin);
    out.push_back(segment.substr(begin, next == std::string_view::npos ? next : next - begin));
    if (next == std::string_view::npos) break;
    begin = next + 1;
  }
  return out;
}

// The field separator declared by MSH-1, or '\0' when `text` does not start with an MSH.
char field_separator(std::string_view text) {
  if (text.size() < 8 || text.substr(0, 3) != "MSH") return '\0';
  const char sep = text[3];
  if (sep == '\r' || sep == '\n' || sep == '\0') return '\0';
  return sep;
}

// Position of the segment named `id` (at the start of a line), or npos.
std::size_t find_segment(std::string_view text, std::string_view id, char separator) {
  std::size_t at = 0;
  while (at < text.size()) {
    if (text.substr(at, id.size()) == id && at + id.size() < text.size() &&
        text[at + id.size()] == separator) {
      return at;
    }
    while (at < text.size() && !is_segment_end(text[at])) ++at;
    while (at < text.size() && is_segment_end(text[at])) ++at;
  }
  return std::string_view::npos;
}

}  // namespace

Result<std::string_view> message_control_id(std::string_view message) {
  const char sep = field_separator(message);
  if (sep == '\0')
    return Error(MllpErrc::bad_message, "MSH", "the message does not start with MSH");
  // MSH-1 is the separator itself, so MSH-n is fields[n - 1].
  const auto fields = fields_of(message, 0, sep);
  if (fields.size() < 10 || fields[9].empty()) {
    return Error(MllpErrc::bad_message, "MSH-10", "no message control id");
  }
  return fields[9];
}

Result<AckResult> read_ack(std::string_view ack, std::string_view expected_control_id) {
  const char sep = field_separator(ack);
  if (sep == '\0') return Error(MllpErrc::bad_ack, "MSH", "the ACK does not start with MSH");
  const std::size_t msa = find_segment(ack, "MSA", sep);
  if (msa == std::string_view::npos) return Error(MllpErrc::bad_ack, "MSA", "no MSA segment");
  const auto fields = fields_of(ack, msa, sep);
  AckResult out;
  out.code = fields.size() > 1 ? std::string(fields[1]) : std::string();
  out.control_id = fields.size() > 2 ? std::string(fields[2]) : std::string();
  out.text = fields.size() > 3 ? std::string(fields[3]) : std::string();
  static constexpr std::string_view kCodes[] = {"AA", "AE", "AR", "CA", "CE", "CR"};
  bool known = false;
  for (auto code : kCodes) known = known || out.code == code;
  if (!known) {
    return Error(MllpErrc::bad_ack, "MSA-1",
                 "not an acknowledgment code (" + std::to_string(out.code.size()) + " bytes)");
  }
  if (out.control_id != expected_control_id) {
    // Control ids are identifiers, not PHI: both go into the detail for the operator.
    return Error(
        MllpErrc::ack_control_id_mismatch, "MSA-2",
        "expected '" + std::string(expected_control_id) + "', got '" + out.control_id + "'");
  }
  out.ack = std::string(ack);
  return out;
}

}  // namespace hims::adapters
