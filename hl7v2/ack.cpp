// HL7 v2 acknowledgements: ACK building per mode and version, header recovery, reading ACKs.
#include "hl7v2/ack.hpp"

#include "hl7v2/detail/ascii.hpp"
#include "hl7v2/detail/scan.hpp"
#include "hl7v2/detail/text.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <limits>

namespace hims::hl7v2 {
namespace {

constexpr std::size_t kMaxEchoedField = 256;

// "2.5.1" -> {2, 5, 1}; nullopt for anything that is not digits and dots.
struct VersionNumber {
  unsigned major = 0;
  unsigned minor = 0;
  unsigned patch = 0;
  auto operator<=>(const VersionNumber&) const = default;
};

std::optional<VersionNumber> parse_version(std::string_view text) {
  std::array<unsigned, 3> parts{};
  std::size_t index = 0;
  std::size_t pos = 0;
  while (true) {
    const char* begin = text.data() + pos;
    const char* end = text.data() + text.size();
    unsigned value = 0;
    const auto [ptr, ec] = std::from_chars(begin, end, value);
    if (ec != std::errc{} || ptr == begin) return std::nullopt;
    parts[index++] = value;
    pos = static_cast<std::size_t>(ptr - text.data());
    if (pos == text.size()) break;
    if (text[pos] != '.' || index == parts.size()) return std::nullopt;
    ++pos;
  }
  return VersionNumber{parts[0], parts[1], parts[2]};
}

using detail::is_alnum;
using detail::is_upper_alnum;

// A byte that can serve as a delimiter: printable ASCII punctuation.
bool is_delimiter_char(char c) { return c > 0x20 && c < 0x7F && !is_alnum(c); }

// Whether a value taken from the original may be copied into the ACK: short, no control bytes,
// and valid in the charset the ACK will declare (`charset`: what the original's MSH-18 names,
// nullopt when it names none this codec knows, so the ACK goes out without MSH-18 as UTF-8).
bool echoable(std::string_view value, std::optional<Charset> charset = Charset::utf8) {
  if (value.size() > kMaxEchoedField) return false;
  const bool controls = std::any_of(value.begin(), value.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
  });
  if (controls) return false;
  if (charset == Charset::latin1 || charset == Charset::cp1252) return true;
  if (charset == Charset::ascii) {
    return std::none_of(value.begin(), value.end(),
                        [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
  }
  return detail::is_valid_utf8(value);
}

using detail::nth_piece;

// MSH-18 is echoed only when it names a charset this codec knows: an ACK declaring one it
// cannot read would be unreadable to ourselves (and garbage there is no charset at all).
std::string known_charset(std::string_view msh18) {
  return !msh18.empty() && echoable(msh18) && charset_from_msh18(msh18) ? std::string(msh18)
                                                                        : std::string();
}

std::string not_null(std::string_view raw) {
  return raw == "\"\"" ? std::string() : std::string(raw);
}

std::string number_or_empty(std::uint32_t n) { return n == 0 ? std::string() : std::to_string(n); }

std::uint32_t to_number(std::string_view text) {
  std::uint32_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size()) return 0;
  return value;
}

// Joins parts with `separator`, dropping trailing empty ones.
std::string join_trimmed(std::vector<std::string> parts, char separator) {
  while (!parts.empty() && parts.back().empty()) parts.pop_back();
  std::string out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (i > 0) out += separator;
    out += parts[i];
  }
  return out;
}

// Our HD from configuration: '^' between components, each escaped for the message.
std::string encode_hd(std::string_view configured, const Delimiters& d) {
  std::vector<std::string> parts;
  while (true) {
    const auto pos = configured.find('^');
    parts.push_back(escape(configured.substr(0, pos), d));
    if (pos == std::string_view::npos) break;
    configured.remove_prefix(pos + 1);
  }
  return join_trimmed(std::move(parts), d.component);
}

std::string_view severity_code(ErrorSeverity severity) {
  switch (severity) {
    case ErrorSeverity::error:
      return "E";
    case ErrorSeverity::warning:
      return "W";
    case ErrorSeverity::information:
      return "I";
  }
  return "E";
}

std::string condition_number(ErrorCondition condition) {
  return std::to_string(static_cast<unsigned>(condition));
}

// code <sep> text <sep> HL70357 (CWE/CE in components, or in sub-components inside ELD).
std::string coded_condition(ErrorCondition condition, const Delimiters& d, char separator) {
  std::string out = condition_number(condition);
  out += separator;
  out += escape(condition_text(condition), d);
  out += separator;
  out += "HL70357";
  return out;
}

// The segment's sequence to write: MSH is always the first.
std::uint32_t sequence_of(const ErrorLocation& loc) {
  return loc.sequence == 0 && loc.segment == "MSH" ? 1 : loc.sequence;
}

std::string erl(const ErrorLocation& loc, const Delimiters& d) {
  if (loc.segment.empty()) return {};
  std::vector<std::string> parts{escape(loc.segment, d), number_or_empty(sequence_of(loc))};
  if (loc.field != 0) {
    parts.push_back(std::to_string(loc.field));
    parts.push_back(number_or_empty(loc.repetition));
    parts.push_back(number_or_empty(loc.component));
    parts.push_back(number_or_empty(loc.subcomponent));
  }
  return join_trimmed(std::move(parts), d.component);
}

std::string eld(const AckError& e, const Delimiters& d) {
  std::vector<std::string> parts{
      escape(e.location.segment, d), number_or_empty(sequence_of(e.location)),
      number_or_empty(e.location.field), coded_condition(e.condition, d, d.subcomponent)};
  return join_trimmed(std::move(parts), d.component);
}

bool wanted(AckCondition condition, AckOutcome outcome) {
  switch (condition) {
    case AckCondition::always:
      return true;
    case AckCondition::never:
      return false;
    case AckCondition::error_only:
      return outcome != AckOutcome::accepted;
    case AckCondition::success_only:
      return outcome == AckOutcome::accepted;
  }
  return true;
}

// Parses "SEG", "SEG-f", "SEG[o]-f[r].c.s" and "segment 4 (SEG)" (the forms of Error::where);
// nullopt otherwise. The segment's position in the message is not its occurrence: dropped.
std::optional<ErrorLocation> parse_where(std::string_view text) {
  ErrorLocation loc;
  if (text.starts_with("segment ") && text.ends_with(")")) {
    const auto open = text.find(" (");
    if (open == std::string_view::npos) return std::nullopt;
    const std::string_view name = text.substr(open + 2, text.size() - open - 3);
    if (name.size() < 2 || name.size() > 3 ||
        !std::all_of(name.begin(), name.end(), is_upper_alnum)) {
      return std::nullopt;
    }
    loc.segment = std::string(name);
    if (loc.segment == "MSH") loc.sequence = 1;
    return loc;
  }
  std::size_t pos = 0;
  while (pos < text.size() && is_upper_alnum(text[pos])) ++pos;
  if (pos < 2 || pos > 3) return std::nullopt;
  loc.segment = std::string(text.substr(0, pos));
  auto number = [&](std::uint32_t& out) {
    const char* begin = text.data() + pos;
    const auto [ptr, ec] = std::from_chars(begin, text.data() + text.size(), out);
    if (ec != std::errc{} || ptr == begin || out == 0) return false;
    pos = static_cast<std::size_t>(ptr - text.data());
    return true;
  };
  auto bracket = [&](std::uint32_t& out) {
    if (pos >= text.size() || text[pos] != '[') return true;
    ++pos;
    if (!number(out) || pos >= text.size() || text[pos] != ']') return false;
    ++pos;
    return true;
  };
  if (!bracket(loc.sequence)) return std::nullopt;
  if (pos < text.size() && text[pos] == '-') {
    ++pos;
    if (!number(loc.field) || !bracket(loc.repetition)) return std::nullopt;
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      if (!number(loc.component)) return std::nullopt;
      if (pos < text.size() && text[pos] == '.') {
        ++pos;
        if (!number(loc.subcomponent)) return std::nullopt;
      }
    }
  }
  if (pos != text.size()) return std::nullopt;
  if (loc.segment == "MSH" && loc.sequence == 0) loc.sequence = 1;
  return loc;
}

ErrorLocation msh_field(std::uint32_t field) {
  ErrorLocation loc;
  loc.segment = "MSH";
  loc.sequence = 1;
  loc.field = field;
  return loc;
}

}  // namespace

// ---- Codes ---------------------------------------------------------------------------------

std::string_view to_string(AckCode code) {
  switch (code) {
    case AckCode::application_accept:
      return "AA";
    case AckCode::application_error:
      return "AE";
    case AckCode::application_reject:
      return "AR";
    case AckCode::commit_accept:
      return "CA";
    case AckCode::commit_error:
      return "CE";
    case AckCode::commit_reject:
      return "CR";
  }
  return "AR";
}

std::optional<AckCode> ack_code_from(std::string_view text) {
  for (AckCode code :
       {AckCode::application_accept, AckCode::application_error, AckCode::application_reject,
        AckCode::commit_accept, AckCode::commit_error, AckCode::commit_reject}) {
    if (text == to_string(code)) return code;
  }
  return std::nullopt;
}

bool is_positive(AckCode code) {
  return code == AckCode::application_accept || code == AckCode::commit_accept;
}

std::optional<AckCondition> ack_condition_from(std::string_view text) {
  if (text == "AL") return AckCondition::always;
  if (text == "NE") return AckCondition::never;
  if (text == "ER") return AckCondition::error_only;
  if (text == "SU") return AckCondition::success_only;
  return std::nullopt;
}

std::string_view condition_text(ErrorCondition condition) {
  switch (condition) {
    case ErrorCondition::accepted:
      return "Message accepted";
    case ErrorCondition::segment_sequence:
      return "Segment sequence error";
    case ErrorCondition::required_field_missing:
      return "Required field missing";
    case ErrorCondition::data_type:
      return "Data type error";
    case ErrorCondition::table_value:
      return "Table value not found";
    case ErrorCondition::value_too_long:
      return "Value too long";
    case ErrorCondition::unsupported_message_type:
      return "Unsupported message type";
    case ErrorCondition::unsupported_event_code:
      return "Unsupported event code";
    case ErrorCondition::unsupported_processing_id:
      return "Unsupported processing id";
    case ErrorCondition::unsupported_version_id:
      return "Unsupported version id";
    case ErrorCondition::unknown_key:
      return "Unknown key identifier";
    case ErrorCondition::duplicate_key:
      return "Duplicate key identifier";
    case ErrorCondition::application_record_locked:
      return "Application record locked";
    case ErrorCondition::application_internal_error:
      return "Application internal error";
  }
  return "";
}

AckError to_ack_error(const Error& error) {
  AckError out;
  if (error.domain() != ErrorDomain::hl7v2) {
    out.condition = ErrorCondition::application_internal_error;
    out.detail = error.message();
    return out;
  }
  const auto code = error.code_as<Errc>();
  out.condition = error_condition(code);
  if (auto loc = parse_where(error.where())) {
    out.location = std::move(*loc);
  } else {
    switch (code) {
      case Errc::bad_encoding_characters:
        out.location = msh_field(2);
        break;
      case Errc::unsupported_version:
        out.location = msh_field(12);
        break;
      case Errc::unsupported_charset:
        out.location = msh_field(18);
        break;
      case Errc::no_header:
      case Errc::bad_header:
        out.location = msh_field(0);
        break;
      default:
        break;
    }
  }
  out.detail = std::string(error.name());
  if (!error.detail().empty()) out.detail.append(": ").append(error.detail());
  return out;
}

// ---- Original header -----------------------------------------------------------------------

OriginalHeader OriginalHeader::from(const MessageView& message) {
  if (message.segment_count() == 0 || message.header().name() != "MSH") {
    return recover(message.bytes());
  }
  const SegmentView msh = message.header();
  OriginalHeader h;
  const std::string_view msh18 = msh.field(18).repetition(1).raw();
  h.charset = known_charset(msh18);
  const std::optional<Charset> charset = msh18.empty() || !h.charset.empty()
                                             ? std::optional<Charset>(message.charset())
                                             : std::nullopt;
  auto raw = [&](std::size_t n) {
    const std::string_view v = msh.field(n).raw();
    return echoable(v, charset) ? not_null(v) : std::string();
  };
  auto short_text = [&](std::string_view v) {
    return echoable(v, charset) ? std::string(v) : std::string();
  };
  h.delimiters = message.delimiters();
  h.sending_application = raw(3);
  h.sending_facility = raw(4);
  h.receiving_application = raw(5);
  h.receiving_facility = raw(6);
  h.message_code = short_text(message.message_code());
  h.trigger_event = short_text(message.trigger_event());
  h.control_id = short_text(message.control_id());
  h.processing_id = raw(11);
  h.version = short_text(message.version());
  h.accept_ack_type = raw(15);
  h.application_ack_type = raw(16);
  return h;
}

OriginalHeader OriginalHeader::recover(std::string_view bytes) {
  OriginalHeader h;
  std::size_t start = 0;
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") start = 3;
  while (start < bytes.size() &&
         (bytes[start] == ' ' || bytes[start] == '\t' || bytes[start] == '\r' ||
          bytes[start] == '\n' || bytes[start] == '\x0B')) {
    ++start;
  }
  if (bytes.substr(start, 3) != "MSH") {
    const auto cr = bytes.find("\rMSH", start);
    const auto lf = bytes.find("\nMSH", start);
    const auto found = std::min(cr, lf);
    if (found == std::string_view::npos) return h;
    start = found + 1;
  }
  std::string_view segment = bytes.substr(start);
  segment = segment.substr(0, std::min(segment.find_first_of("\r\n"), segment.size()));
  if (segment.size() < 4 || !is_delimiter_char(segment[3])) return h;
  const char fs = segment[3];

  // Pieces after "MSH<fs>": piece(n) is MSH-n for n >= 2.
  std::vector<std::string_view> pieces{"MSH", std::string_view(&segment[3], 1)};
  std::string_view rest = segment.substr(4);
  while (true) {
    const auto pos = rest.find(fs);
    pieces.push_back(rest.substr(0, pos));
    if (pos == std::string_view::npos) break;
    rest.remove_prefix(pos + 1);
  }
  auto piece = [&](std::size_t n) { return n < pieces.size() ? pieces[n] : std::string_view(); };

  const std::string_view enc = piece(2);
  bool sane = (enc.size() == 4 || enc.size() == 5);
  for (std::size_t i = 0; sane && i < enc.size(); ++i) {
    sane = is_delimiter_char(enc[i]) && enc[i] != fs &&
           enc.find(enc[i], i + 1) == std::string_view::npos;
  }

  if (sane) {
    h.delimiters.field = fs;
    h.delimiters.component = enc[0];
    h.delimiters.repetition = enc[1];
    h.delimiters.escape = enc[2];
    h.delimiters.subcomponent = enc[3];
    h.delimiters.truncation = enc.size() == 5 ? enc[4] : '\0';
    const Delimiters& d = h.delimiters;
    auto part_of = [&](std::string_view v, std::size_t c) {
      return nth_piece(nth_piece(v, d.repetition, 1), d.component, c);
    };
    const std::string_view msh18 = part_of(piece(18), 1);
    const std::optional<Charset> charset =
        msh18.empty() ? std::optional<Charset>(Charset::utf8) : charset_from_msh18(msh18);
    auto raw = [&](std::size_t n) {
      const std::string_view v = piece(n);
      return echoable(v, charset) ? not_null(v) : std::string();
    };
    auto first = [&](std::string_view v, std::size_t c) {
      const std::string_view part = part_of(v, c);
      return echoable(part, charset) ? std::string(part) : std::string();
    };
    h.sending_application = raw(3);
    h.sending_facility = raw(4);
    h.receiving_application = raw(5);
    h.receiving_facility = raw(6);
    h.message_code = first(piece(9), 1);
    h.trigger_event = first(piece(9), 2);
    h.control_id = raw(10);
    h.processing_id = raw(11);
    h.version = first(piece(12), 1);
    h.accept_ack_type = raw(15);
    h.application_ack_type = raw(16);
    h.charset = known_charset(msh18);
    return h;
  }

  // Encoding characters unusable: answer with the defaults (keeping the field separator when it
  // does not clash with them) and treat what was recovered as text.
  if (Delimiters defaults; fs != defaults.component && fs != defaults.repetition &&
                           fs != defaults.escape && fs != defaults.subcomponent) {
    h.delimiters.field = fs;
  }
  const Delimiters& d = h.delimiters;
  const std::string_view msh18 = nth_piece(piece(18), '^', 1);
  const std::optional<Charset> charset =
      msh18.empty() ? std::optional<Charset>(Charset::utf8) : charset_from_msh18(msh18);
  auto text = [&](std::string_view v) {
    return echoable(v, charset) && v != "\"\"" ? escape(v, d) : std::string();
  };
  h.sending_application = text(piece(3));
  h.sending_facility = text(piece(4));
  h.receiving_application = text(piece(5));
  h.receiving_facility = text(piece(6));
  h.message_code = text(nth_piece(piece(9), '^', 1));
  h.trigger_event = text(nth_piece(piece(9), '^', 2));
  h.control_id = text(piece(10));
  h.processing_id = text(nth_piece(piece(11), '^', 1));
  h.version = text(nth_piece(piece(12), '^', 1));
  h.accept_ack_type = text(piece(15));
  h.application_ack_type = text(piece(16));
  h.charset = known_charset(msh18);
  return h;
}

AckMode ack_mode(const OriginalHeader& header) {
  return header.accept_ack_type.empty() && header.application_ack_type.empty() ? AckMode::original
                                                                               : AckMode::enhanced;
}

AckCondition accept_ack_condition(const OriginalHeader& header) {
  return ack_condition_from(header.accept_ack_type).value_or(AckCondition::always);
}

AckCondition application_ack_condition(const OriginalHeader& header) {
  return ack_condition_from(header.application_ack_type).value_or(AckCondition::always);
}

// ---- Building ------------------------------------------------------------------------------

std::string build_ack(const OriginalHeader& original, AckCode code, const AckOptions& options,
                      std::span<const AckError> errors) {
  const Delimiters& d = original.delimiters;
  const std::string& version =
      original.version.empty() ? options.fallback_version : original.version;
  const VersionNumber v = parse_version(version).value_or(
      parse_version(options.fallback_version).value_or(VersionNumber{2, 5, 1}));
  const bool erl_layout = v >= VersionNumber{2, 5, 0};
  const bool has_structure = v >= VersionNumber{2, 3, 1};
  const bool has_msa6 = v >= VersionNumber{2, 2, 0} && !erl_layout;

  // MSH, appended in place (one ACK per inbound message): MSH-3..12, then MSH-13..18 only when
  // the original has a character set (MSH-18; 13-17 stay empty). Only our own values are escaped;
  // the original's are raw ER7 already.
  std::string out;
  out.reserve(256);
  out += "MSH";
  out += d.field;
  out += d.encoding_characters();
  out += d.field;  // MSH-3
  if (options.sending_application.empty()) {
    out += original.receiving_application;
  } else {
    out += encode_hd(options.sending_application, d);
  }
  out += d.field;  // MSH-4
  if (options.sending_facility.empty()) {
    out += original.receiving_facility;
  } else {
    out += encode_hd(options.sending_facility, d);
  }
  out += d.field;  // MSH-5
  out += original.sending_application;
  out += d.field;  // MSH-6
  out += original.sending_facility;
  out += d.field;  // MSH-7
  escape_to(out, options.timestamp, d);
  out += d.field;  // MSH-8, empty
  out += d.field;  // MSH-9
  out += "ACK";
  if (has_structure || !original.trigger_event.empty()) {
    out += d.component;
    out += original.trigger_event;
  }
  if (has_structure) {
    out += d.component;
    out += "ACK";
  }
  out += d.field;  // MSH-10
  escape_to(out, options.control_id, d);
  out += d.field;  // MSH-11
  out += original.processing_id.empty() ? std::string_view("P")
                                        : std::string_view(original.processing_id);
  out += d.field;  // MSH-12
  if (original.version.empty()) {
    escape_to(out, options.fallback_version, d);
  } else {
    out += original.version;
  }
  if (!original.charset.empty()) {
    out.append(6, d.field);  // MSH-13..17 empty, then MSH-18
    out += original.charset;
  }
  out += '\r';

  std::string text = escape(options.text, d);
  if (text.empty() && !erl_layout && !errors.empty()) {
    const AckError& first = errors.front();
    text = escape(first.detail.empty() ? condition_text(first.condition) : first.detail, d);
  }
  // MSA-1..3, and MSA-6 in the versions that have it; the empty tail trimmed.
  const std::string msa6 = has_msa6 && !errors.empty()
                               ? coded_condition(errors.front().condition, d, d.component)
                               : std::string();
  const std::array<std::string_view, 7> msa{
      "MSA", to_string(code), original.control_id, text, {}, {}, msa6};
  std::size_t msa_end = msa.size();
  while (msa_end > 1 && msa[msa_end - 1].empty()) --msa_end;
  for (std::size_t i = 0; i < msa_end; ++i) {
    if (i > 0) out += d.field;
    out += msa[i];
  }
  out += '\r';

  if (errors.empty()) return out;
  if (erl_layout) {
    for (const AckError& e : errors) {
      std::vector<std::string> err(9);
      err[0] = "ERR";
      err[2] = erl(e.location, d);
      err[3] = coded_condition(e.condition, d, d.component);
      err[4] = std::string(severity_code(e.severity));
      err[8] = escape(e.detail, d);
      out += join_trimmed(std::move(err), d.field);
      out += '\r';
    }
  } else {
    out += "ERR";
    out += d.field;
    for (std::size_t i = 0; i < errors.size(); ++i) {
      if (i > 0) out += d.repetition;
      out += eld(errors[i], d);
    }
    out += '\r';
  }
  return out;
}

AckCode ack_code(AckOutcome outcome, bool commit) {
  switch (outcome) {
    case AckOutcome::accepted:
      return commit ? AckCode::commit_accept : AckCode::application_accept;
    case AckOutcome::error:
      return commit ? AckCode::commit_error : AckCode::application_error;
    case AckOutcome::rejected:
      return commit ? AckCode::commit_reject : AckCode::application_reject;
  }
  return AckCode::application_reject;
}

std::optional<AckCode> accept_ack_code(const OriginalHeader& original, AckOutcome outcome) {
  if (ack_mode(original) == AckMode::original) return ack_code(outcome, false);
  if (!wanted(accept_ack_condition(original), outcome)) return std::nullopt;
  return ack_code(outcome, true);
}

std::optional<AckCode> application_ack_code(const OriginalHeader& original, AckOutcome outcome) {
  if (ack_mode(original) == AckMode::enhanced &&
      !wanted(application_ack_condition(original), outcome)) {
    return std::nullopt;
  }
  return ack_code(outcome, false);
}

namespace {

// The acknowledgement with `code`, or nullopt when there is no code (none to send).
std::optional<std::string> build_if(std::optional<AckCode> code, const OriginalHeader& original,
                                    const AckOptions& options, std::span<const AckError> errors) {
  if (!code) return std::nullopt;
  return build_ack(original, *code, options, errors);
}

}  // namespace

std::optional<std::string> build_accept_ack(const OriginalHeader& original, AckOutcome outcome,
                                            const AckOptions& options,
                                            std::span<const AckError> errors) {
  return build_if(accept_ack_code(original, outcome), original, options, errors);
}

std::optional<std::string> build_application_ack(const OriginalHeader& original, AckOutcome outcome,
                                                 const AckOptions& options,
                                                 std::span<const AckError> errors) {
  return build_if(application_ack_code(original, outcome), original, options, errors);
}

std::vector<AckError> check_header(const OriginalHeader& original) {
  std::vector<AckError> out;
  auto add = [&](ErrorCondition condition, std::uint32_t field, std::string detail) {
    AckError e;
    e.condition = condition;
    e.location = msh_field(field);
    e.detail = std::move(detail);
    out.push_back(std::move(e));
  };
  constexpr auto kMissing = ErrorCondition::required_field_missing;
  if (original.message_code.empty()) add(kMissing, 9, "message type (MSH-9) is empty");
  if (original.control_id.empty()) add(kMissing, 10, "message control id (MSH-10) is empty");
  if (original.version.empty()) {
    add(kMissing, 12, "version id (MSH-12) is empty");
  } else if (!is_known_version(original.version)) {
    add(ErrorCondition::unsupported_version_id, 12,
        "version id (MSH-12) is not an HL7 v2 version this engine supports (2.1-2.8.2)");
  }
  return out;
}

// ---- Reading -------------------------------------------------------------------------------

Result<AckReply> read_ack(const MessageView& ack) {
  const auto msa = ack.find("MSA");
  if (!msa) return Error(Errc::missing_field, "MSA", "no MSA segment");
  const std::string code_text = msa->field(1).decoded();
  if (code_text.empty()) return Error(Errc::missing_field, "MSA-1", "acknowledgment code is empty");
  const auto code = ack_code_from(code_text);
  if (!code) return Error(Errc::bad_value, "MSA-1", "not an acknowledgment code of HL7 table 0008");

  AckReply reply;
  reply.code = *code;
  reply.control_id = msa->field(2).decoded();
  reply.text = msa->field(3).decoded();

  auto condition_of = [](std::string_view number) {
    const std::uint32_t n = to_number(number);
    return n == 0 && number != "0"
               ? ErrorCondition::application_internal_error
               : static_cast<ErrorCondition>(std::min<std::uint32_t>(n, 0xFFFF));
  };
  for (const SegmentView err : ack) {
    if (err.name() != "ERR") continue;
    const ElementView err3 = err.field(3);
    if (!err3.empty()) {
      AckError e;
      const ElementView loc = err.field(2).repetition(1);
      e.location.segment = loc.component(1).decoded();
      e.location.sequence = to_number(loc.component(2).decoded());
      e.location.field = to_number(loc.component(3).decoded());
      e.location.repetition = to_number(loc.component(4).decoded());
      e.location.component = to_number(loc.component(5).decoded());
      e.location.subcomponent = to_number(loc.component(6).decoded());
      e.condition = condition_of(err3.component(1).decoded());
      const std::string severity = err.field(4).decoded();
      e.severity = severity == "W"   ? ErrorSeverity::warning
                   : severity == "I" ? ErrorSeverity::information
                                     : ErrorSeverity::error;
      e.detail = err.field(8).decoded();
      if (e.detail.empty()) e.detail = err3.component(2).decoded();
      reply.errors.push_back(std::move(e));
      continue;
    }
    for (const ElementView eld : err.field(1).children()) {
      if (eld.empty()) continue;
      AckError e;
      e.location.segment = eld.component(1).decoded();
      e.location.sequence = to_number(eld.component(2).decoded());
      e.location.field = to_number(eld.component(3).decoded());
      const ElementView coded = eld.component(4);
      e.condition = condition_of(coded.subcomponent(1).decoded());
      e.detail = coded.subcomponent(2).decoded();
      reply.errors.push_back(std::move(e));
    }
  }
  // v2.2-2.4 senders may give the condition only in MSA-6.
  if (reply.errors.empty() && !msa->field(6).empty()) {
    AckError e;
    e.condition = condition_of(msa->field(6).component(1).decoded());
    e.detail = msa->field(6).component(2).decoded();
    reply.errors.push_back(std::move(e));
  }
  return reply;
}

Result<AckReply> read_ack(std::string_view bytes) {
  auto parsed = MessageView::parse(bytes);
  if (!parsed) return parsed.take_error();
  return read_ack(parsed.value());
}

}  // namespace hims::hl7v2
