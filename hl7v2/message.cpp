// HL7 v2 tokenizer (MessageView), element splitting and escape decoding (ElementView), and the
// owning, editable Message. See docs/hl7v2-parser.md for the behaviour and its choices.
#include "hl7v2/message.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "hl7v2/detail/ascii.hpp"
#include "hl7v2/detail/text.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#define HIMS_HL7V2_SSE2 1
#endif

namespace hims::hl7v2 {
namespace {

using detail::hex_value;
using detail::is_alnum;
using detail::is_upper_alnum;
bool is_blank(char c) { return c == ' ' || c == '\t'; }
// Printable ASCII punctuation that strict mode accepts as a delimiter.
bool is_strict_delimiter(char c) { return c > ' ' && c < 0x7F && !is_alnum(c) && c != '"'; }
bool is_header_name(const char* p) {
  return (p[0] == 'M' && p[1] == 'S' && p[2] == 'H') ||
         (p[0] == 'B' && p[1] == 'H' && p[2] == 'S') || (p[0] == 'F' && p[1] == 'H' && p[2] == 'S');
}

Error make_error(Errc code, std::string where, std::string detail) {
  return Error(code, std::move(where), std::move(detail));
}

std::string segment_where(std::size_t index_1based, std::string_view name) {
  std::string out = "segment " + std::to_string(index_1based);
  // Only a well-formed id is echoed: a malformed one could be patient data glued on.
  if (!name.empty() && name.size() <= 3 &&
      std::all_of(name.begin(), name.end(), [](char c) { return is_upper_alnum(c); })) {
    out.append(" (").append(name).append(")");
  }
  return out;
}

std::size_t count_pieces(std::string_view s, char sep) {
  if (s.empty()) return 0;
  return 1 + static_cast<std::size_t>(std::count(s.begin(), s.end(), sep));
}

// Appends the bytes of a \Xhh..\ body (without the X); false when it is not an even run of hex.
bool decode_hex(std::string& out, std::string_view hex, Charset charset) {
  if (hex.empty() || hex.size() % 2 != 0) return false;
  std::string bytes;
  bytes.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = hex_value(hex[i]);
    const int lo = hex_value(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    bytes.push_back(static_cast<char>(hi * 16 + lo));
  }
  if (charset == Charset::latin1 || charset == Charset::cp1252 || charset == Charset::latin9) {
    detail::append_as_utf8(out, bytes, charset);
  } else if (detail::is_valid_utf8(bytes)) {
    out.append(bytes);
  } else {
    // Bytes that are not UTF-8 are read as ISO-8859-1 code points (python-hl7's reading).
    detail::append_as_utf8(out, bytes, Charset::latin1);
  }
  return true;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Delimiters, charsets, versions

std::string Delimiters::encoding_characters() const {
  std::string out{component, repetition, escape, subcomponent};
  if (truncation != '\0') out.push_back(truncation);
  return out;
}

std::string_view to_string(Charset charset) {
  switch (charset) {
    case Charset::ascii:
      return "ASCII";
    case Charset::utf8:
      return "UNICODE UTF-8";
    case Charset::latin1:
      return "8859/1";
    case Charset::cp1252:
      return "CP1252";
    case Charset::latin9:
      return "8859/15";
  }
  return "unknown";
}

std::optional<Charset> charset_from_msh18(std::string_view msh18) {
  while (!msh18.empty() && is_blank(msh18.front())) msh18.remove_prefix(1);
  while (!msh18.empty() && is_blank(msh18.back())) msh18.remove_suffix(1);
  std::string up;
  up.reserve(msh18.size());
  for (char c : msh18) {
    if (c == '_') c = ' ';
    up.push_back(c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c);
  }
  // The standard's empty MSH-18 means 7-bit ASCII; the parser applies default_charset instead.
  if (up.empty() || up == "ASCII" || up == "ISO IR6" || up == "US-ASCII") return Charset::ascii;
  if (up == "UNICODE UTF-8" || up == "UTF-8" || up == "UTF8" || up == "UNICODE") {
    return Charset::utf8;
  }
  if (up == "8859/1" || up == "8859" || up == "ISO IR100" || up == "ISO-8859-1" ||
      up == "ISO8859-1" || up == "LATIN1") {
    return Charset::latin1;
  }
  if (up == "CP1252" || up == "WINDOWS-1252") return Charset::cp1252;
  if (up == "8859/15" || up == "ISO IR203" || up == "ISO-8859-15" || up == "LATIN9") {
    return Charset::latin9;
  }
  return std::nullopt;
}

bool is_known_version(std::string_view version) {
  static constexpr std::array<std::string_view, 13> kVersions = {
      "2.1", "2.2", "2.3",   "2.3.1", "2.4",   "2.5",  "2.5.1",
      "2.6", "2.7", "2.7.1", "2.8",   "2.8.1", "2.8.2"};
  return std::find(kVersions.begin(), kVersions.end(), version) != kVersions.end();
}

// ---------------------------------------------------------------------------------------------
// ElementView

Delimiters ElementView::delimiters() const {
  Delimiters d;
  d.field = byte(0);
  d.component = byte(1);
  d.repetition = byte(2);
  d.escape = byte(3);
  d.subcomponent = byte(4);
  d.truncation = byte(5);
  return d;
}

std::size_t ElementView::size() const {
  if (raw_.empty()) return 0;
  const Level lv = level();
  if (lv == Level::subcomponent) return 0;
  if (literal()) return 1;
  const char sep = lv == Level::field ? byte(2) : lv == Level::repetition ? byte(1) : byte(4);
  return count_pieces(raw_, sep);
}

// Children of a literal (MSH-1, MSH-2) are the literal itself one level down; each call moves
// down at least one level, so the delegations below always end.
ElementView ElementView::repetition(std::size_t r) const {
  if (level() != Level::field) return r == 1 ? *this : ElementView({}, meta_);
  if (literal()) return ElementView(r == 1 ? raw_ : std::string_view(), meta_at(Level::repetition));
  return ElementView(detail::nth_piece(raw_, byte(2), r), meta_at(Level::repetition));
}

ElementView ElementView::component(std::size_t c) const {
  const Level lv = level();
  if (lv == Level::field) return repetition(1).component(c);
  if (lv != Level::repetition) return c == 1 ? *this : ElementView({}, meta_);
  if (literal()) return ElementView(c == 1 ? raw_ : std::string_view(), meta_at(Level::component));
  return ElementView(detail::nth_piece(raw_, byte(1), c), meta_at(Level::component));
}

ElementView ElementView::subcomponent(std::size_t s) const {
  const Level lv = level();
  if (lv == Level::field || lv == Level::repetition) return component(1).subcomponent(s);
  if (lv != Level::component) return s == 1 ? *this : ElementView({}, meta_);
  if (literal()) {
    return ElementView(s == 1 ? raw_ : std::string_view(), meta_at(Level::subcomponent));
  }
  return ElementView(detail::nth_piece(raw_, byte(4), s), meta_at(Level::subcomponent));
}

std::string ElementView::decoded() const {
  std::string out;
  decode_to(out);
  return out;
}

void ElementView::decode_to(std::string& out) const {
  if (literal()) {
    out.append(raw_);
    return;
  }
  const Delimiters delims = delimiters();
  const Charset cs = charset();
  const char esc = delims.escape;
  const char* p = raw_.data();
  const char* end = p + raw_.size();
  while (p < end) {
    const void* hit = std::memchr(p, esc, static_cast<std::size_t>(end - p));
    if (hit == nullptr) {
      detail::append_as_utf8(out, std::string_view(p, static_cast<std::size_t>(end - p)), cs);
      return;
    }
    const char* e = static_cast<const char*>(hit);
    detail::append_as_utf8(out, std::string_view(p, static_cast<std::size_t>(e - p)), cs);
    const void* close_hit = std::memchr(e + 1, esc, static_cast<std::size_t>(end - e - 1));
    if (close_hit == nullptr) {
      // A lone escape character is data.
      detail::append_as_utf8(out, std::string_view(e, static_cast<std::size_t>(end - e)), cs);
      return;
    }
    const char* close = static_cast<const char*>(close_hit);
    const std::string_view body(e + 1, static_cast<std::size_t>(close - e - 1));
    bool done = false;
    if (body.size() == 1) {
      done = true;
      switch (body[0]) {
        case 'F':
          out.push_back(delims.field);
          break;
        case 'S':
          out.push_back(delims.component);
          break;
        case 'T':
          out.push_back(delims.subcomponent);
          break;
        case 'R':
          out.push_back(delims.repetition);
          break;
        case 'E':
          out.push_back(delims.escape);
          break;
        case 'P':
          if (delims.truncation != '\0') {
            out.push_back(delims.truncation);
          } else {
            done = false;
          }
          break;
        default:
          done = false;
      }
    } else if (body.size() > 1 && body[0] == 'X') {
      done = decode_hex(out, body.substr(1), cs);
    }
    if (!done) {
      // Formatting (\.br\ \H\ \N\ ...) and unknown escapes are kept verbatim.
      detail::append_as_utf8(out, std::string_view(e, static_cast<std::size_t>(close - e + 1)), cs);
    }
    p = close + 1;
  }
}

std::string_view ElementView::decoded_view(std::string& buffer) const {
  const Charset cs = charset();
  const bool plain_charset = cs == Charset::utf8 || cs == Charset::ascii ||
                             std::none_of(raw_.begin(), raw_.end(), [](char c) {
                               return (static_cast<unsigned char>(c) & 0x80u) != 0;
                             });
  if (plain_charset && raw_.find(delimiters().escape) == std::string_view::npos) return raw_;
  buffer.clear();
  decode_to(buffer);
  return buffer;
}

bool ElementView::has_value() const {
  if (empty() || is_null()) return false;
  if (literal()) return true;
  const Delimiters d = delimiters();
  return std::any_of(raw_.begin(), raw_.end(), [&](char c) {
    return c != d.repetition && c != d.component && c != d.subcomponent;
  });
}

ElementView ElementView::first_leaf() const {
  switch (level()) {
    case Level::field:
    case Level::repetition:
      return component(1).subcomponent(1);
    case Level::component:
      return subcomponent(1);
    case Level::subcomponent:
      return *this;
  }
  return *this;
}

// ---------------------------------------------------------------------------------------------
// SegmentView

std::string_view SegmentView::name() const { return field(0).raw(); }

std::string_view SegmentView::raw() const {
  const auto& s = message_->segments_[index_];
  return message_->bytes_.substr(s.begin, s.end - s.begin);
}

std::size_t SegmentView::field_count() const {
  const auto& s = message_->segments_[index_];
  return s.header ? s.field_count : s.field_count - 1;
}

ElementView SegmentView::header_field(std::size_t n) const {
  const MessageView& m = *message_;
  const auto& s = m.segments_[index_];
  if (n == 1) {
    return ElementView(m.bytes_.substr(s.begin + 3, 1), Level::field, m.delims_, m.charset_, true);
  }
  if (s.field_count < 2) return ElementView({}, Level::field, m.delims_, m.charset_, true);
  const std::uint32_t b = m.field_begins_[s.first_field + 1];
  const std::uint32_t e = s.field_count > 2 ? m.field_begins_[s.first_field + 2] - 1 : s.end;
  return ElementView(std::string_view(m.bytes_.data() + b, e - b), Level::field, m.delims_,
                     m.charset_, true);
}

std::size_t SegmentView::occurrence() const {
  const std::string_view me = name();
  std::size_t occ = 1;
  for (std::size_t i = 0; i < index_; ++i) {
    if (message_->segment(i).name() == me) ++occ;
  }
  return occ;
}

// ---------------------------------------------------------------------------------------------
// MessageView

Result<MessageView> MessageView::parse(std::string_view bytes, const ParseOptions& options) {
  MessageView view;
  Status st = view.reparse(bytes, options);
  if (!st) return st.take_error();
  return view;
}

Status MessageView::reparse(std::string_view input, const ParseOptions& options) {
  segments_.clear();
  field_total_ = 0;
  bytes_ = {};
  delims_ = Delimiters{};
  charset_ = Charset::utf8;

  if (input.size() >= 3 && static_cast<unsigned char>(input[0]) == 0xEF &&
      static_cast<unsigned char>(input[1]) == 0xBB &&
      static_cast<unsigned char>(input[2]) == 0xBF) {
    input.remove_prefix(3);
  }
  std::size_t lead = 0;
  while (lead < input.size() &&
         (input[lead] == ' ' || input[lead] == '\t' || input[lead] == '\r' || input[lead] == '\n' ||
          input[lead] == '\v' || input[lead] == '\f')) {
    ++lead;
  }
  input.remove_prefix(lead);
  if (input.empty()) return make_error(Errc::empty_input, "", "no segment in the input");
  if (input.size() > options.limits.max_bytes ||
      input.size() >= std::numeric_limits<std::uint32_t>::max()) {
    return make_error(
        Errc::too_large, "",
        std::to_string(input.size()) + " bytes, limit " + std::to_string(options.limits.max_bytes));
  }
  const char* base = input.data();
  const std::size_t n = input.size();
  if (n < 3 || !is_header_name(base)) {
    return make_error(Errc::no_header, "segment 1", "the first segment is not MSH, BHS or FHS");
  }
  if (n < 4 || base[3] == '\r' || base[3] == '\n') {
    return make_error(Errc::bad_header, "MSH-1", "no field separator after the segment id");
  }
  const bool strict = options.mode == ParseMode::strict;
  const char fs = base[3];
  if (is_alnum(fs) || (strict && !is_strict_delimiter(fs))) {
    return make_error(Errc::bad_header, "MSH-1", "the field separator is not a legal delimiter");
  }
  std::size_t ec_end = 4;
  while (ec_end < n && base[ec_end] != fs && base[ec_end] != '\r' && base[ec_end] != '\n') ++ec_end;
  const std::string_view enc(base + 4, ec_end - 4);
  std::array<char, 5> eff{};
  std::size_t eff_n = enc.size();
  if (!strict && enc.size() == 5 && enc[2] == enc[3]) {
    // Non-standard `^~\\&` (escape character doubled by a source-code literal).
    eff = {enc[0], enc[1], enc[2], enc[4], '\0'};
    eff_n = 4;
  } else if (enc.size() == 4 || enc.size() == 5) {
    std::copy(enc.begin(), enc.end(), eff.begin());
  } else {
    return make_error(Errc::bad_encoding_characters, "MSH-2",
                      std::to_string(enc.size()) + " characters, expected 4 or 5");
  }
  for (std::size_t i = 0; i < eff_n; ++i) {
    if (eff[i] == fs || (strict && !is_strict_delimiter(eff[i]))) {
      return make_error(Errc::bad_encoding_characters, "MSH-2",
                        "character " + std::to_string(i + 1) + " is not a legal delimiter");
    }
    for (std::size_t j = 0; j < i; ++j) {
      if (eff[i] == eff[j]) {
        return make_error(Errc::bad_encoding_characters, "MSH-2",
                          "characters " + std::to_string(j + 1) + " and " + std::to_string(i + 1) +
                              " are the same");
      }
    }
  }
  delims_.field = fs;
  delims_.component = eff[0];
  delims_.repetition = eff[1];
  delims_.escape = eff[2];
  delims_.subcomponent = eff[3];
  delims_.truncation = eff_n == 5 ? eff[4] : '\0';
  bytes_ = input;
  field_meta_ = ElementView::pack(delims_, charset_, Level::field, false);

  // --- Tokenize: one pass for CR, LF and the field separator. ---
  if (field_begins_.size() < n / 6 + 16) field_begins_.resize(n / 6 + 16);
  std::uint32_t* fb = field_begins_.data();
  std::size_t cap = field_begins_.size();
  std::size_t cnt = 0;
  const std::size_t max_fields = options.limits.max_fields_per_segment;
  const std::size_t max_segments = options.limits.max_segments;
  std::uint32_t seg_begin = 0;
  std::size_t seg_first = 0;
  std::size_t seg_limit = max_fields + 1;
  unsigned high_bits = 0;
  bool failed = false;
  Errc fail_code = Errc::too_many_fields;

  auto grow = [&]() {
    field_begins_.resize(cap * 2);
    fb = field_begins_.data();
    cap = field_begins_.size();
  };
  auto close_segment = [&](std::size_t end) {
    const auto e = static_cast<std::uint32_t>(end);
    bool blank = e == seg_begin;
    if (!blank && is_blank(base[seg_begin])) {
      blank = std::all_of(base + seg_begin, base + end, [](char c) { return is_blank(c); });
    }
    if (blank) {
      cnt = seg_first;
      return;
    }
    if (segments_.size() >= max_segments) {
      failed = true;
      fail_code = Errc::too_many_segments;
      return;
    }
    const bool header =
        end - seg_begin >= 4 && base[seg_begin + 3] == fs && is_header_name(base + seg_begin);
    segments_.push_back({seg_begin, e, static_cast<std::uint32_t>(seg_first),
                         static_cast<std::uint32_t>(cnt - seg_first), header});
  };
  auto on_terminator = [&](std::size_t pos) {
    close_segment(pos);
    seg_begin = static_cast<std::uint32_t>(pos + 1);
    seg_first = cnt;
    seg_limit = cnt + max_fields + 1;
    if (cnt == cap) grow();
    fb[cnt++] = seg_begin;
  };
#if defined(HIMS_HL7V2_SSE2)
  const __m128i v_cr = _mm_set1_epi8('\r');
  const __m128i v_lf = _mm_set1_epi8('\n');
  const __m128i v_fs = _mm_set1_epi8(fs);
#endif
  fb[cnt++] = 0;
  // Blocks of 32 bytes; the tail is copied into a padded block so on_hit is inlined once.
  std::size_t i = 0;
  alignas(16) char tail[32];
  const char pad = 'A';  // never a delimiter: alphanumeric field separators are rejected above
  while (i < n && !failed) {
    const char* block = base + i;
    std::uint32_t valid = 0xFFFFFFFFu;
    if (n - i < 32) {
      std::memset(tail, pad, sizeof tail);
      std::memcpy(tail, base + i, n - i);
      block = tail;
      valid = (1u << (n - i)) - 1u;
    }
#if defined(HIMS_HL7V2_SSE2)
    const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block));
    const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(block + 16));
    const __m128i ha = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, v_cr), _mm_cmpeq_epi8(a, v_lf)),
                                    _mm_cmpeq_epi8(a, v_fs));
    const __m128i hb = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, v_cr), _mm_cmpeq_epi8(b, v_lf)),
                                    _mm_cmpeq_epi8(b, v_fs));
    high_bits |= static_cast<unsigned>(_mm_movemask_epi8(_mm_or_si128(a, b)));
    std::uint32_t mask = (static_cast<std::uint32_t>(_mm_movemask_epi8(ha)) |
                          (static_cast<std::uint32_t>(_mm_movemask_epi8(hb)) << 16)) &
                         valid;
#else
    std::uint32_t mask = 0;
    for (unsigned k = 0; k < 32; ++k) {
      const char c = block[k];
      high_bits |= static_cast<unsigned char>(c) & 0x80u;
      if (c == fs || c == '\r' || c == '\n') mask |= 1u << k;
    }
    mask &= valid;
#endif
    while (mask != 0) {
      const std::size_t pos = i + static_cast<std::size_t>(__builtin_ctz(mask));
      mask &= mask - 1;
      if (base[pos] == fs) {
        if (cnt >= seg_limit) {
          failed = true;
          fail_code = Errc::too_many_fields;
          break;
        }
        if (cnt == cap) grow();
        fb[cnt++] = static_cast<std::uint32_t>(pos + 1);
      } else {
        on_terminator(pos);
      }
    }
    i += 32;
  }
  if (!failed) close_segment(n);
  field_total_ = cnt;
  if (failed) {
    const std::size_t at = segments_.size() + 1;
    segments_.clear();
    bytes_ = {};
    if (fail_code == Errc::too_many_segments) {
      return make_error(Errc::too_many_segments, segment_where(at, {}),
                        "more than " + std::to_string(max_segments) + " segments");
    }
    return make_error(Errc::too_many_fields, segment_where(at, {}),
                      "more than " + std::to_string(max_fields) + " fields");
  }

  // --- Charset (MSH-18, first repetition) and text validity. ---
  const SegmentView head = segment(0);
  Charset cs = options.default_charset;
  bool validate = true;
  if (head.name() == "MSH") {
    std::string_view msh18 = head.field(18).repetition(1).raw();
    while (!msh18.empty() && is_blank(msh18.back())) msh18.remove_suffix(1);
    while (!msh18.empty() && is_blank(msh18.front())) msh18.remove_prefix(1);
    if (!msh18.empty()) {
      const auto found = charset_from_msh18(msh18);
      if (found) {
        cs = *found;
      } else if (options.accept_unknown_charset) {
        cs = Charset::utf8;
        validate = false;
      } else {
        segments_.clear();
        bytes_ = {};
        return make_error(Errc::unsupported_charset, "MSH-18",
                          "a charset this codec cannot convert (" + std::to_string(msh18.size()) +
                              " characters)");
      }
    }
  }
  charset_ = cs;
  field_meta_ = ElementView::pack(delims_, charset_, Level::field, false);
  if (validate && high_bits != 0 && (cs == Charset::utf8 || cs == Charset::ascii)) {
    std::size_t bad = 0;
    if (cs == Charset::utf8) {
      bad = detail::utf8_error_offset(bytes_);
    } else {
      bad = static_cast<std::size_t>(
          std::find_if(bytes_.begin(), bytes_.end(),
                       [](char c) { return (static_cast<unsigned char>(c) & 0x80u) != 0; }) -
          bytes_.begin());
    }
    if (bad < bytes_.size()) {
      segments_.clear();
      bytes_ = {};
      return make_error(Errc::invalid_text, "byte " + std::to_string(bad),
                        cs == Charset::utf8 ? "not valid UTF-8" : "not ASCII");
    }
  }
  if (strict) {
    Status st = check_strict();
    if (!st) {
      segments_.clear();
      bytes_ = {};
      return st;
    }
  }
  return {};
}

Status MessageView::check_strict() const {
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const std::string_view name = segment(i).name();
    if (name.size() != 3 || !(name[0] >= 'A' && name[0] <= 'Z') || !is_upper_alnum(name[1]) ||
        !is_upper_alnum(name[2])) {
      return make_error(Errc::bad_segment, segment_where(i + 1, {}),
                        "segment id is not 3 upper-case letters or digits");
    }
  }
  if (header().name() != "MSH") return {};
  if (message_code().empty()) return make_error(Errc::missing_field, "MSH-9", "message type empty");
  if (control_id().empty()) return make_error(Errc::missing_field, "MSH-10", "control id empty");
  if (version().empty()) return make_error(Errc::missing_field, "MSH-12", "version id empty");
  if (!is_known_version(version())) {
    return make_error(Errc::unsupported_version, "MSH-12", "not a known HL7 v2 version");
  }
  return {};
}

std::optional<SegmentView> MessageView::find(std::string_view name, std::size_t occurrence) const {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (segment(i).name() == name && ++seen == occurrence) return segment(i);
  }
  return std::nullopt;
}

std::size_t MessageView::count(std::string_view name) const {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    if (segment(i).name() == name) ++seen;
  }
  return seen;
}

namespace {
std::string_view msh_component(const MessageView& m, std::size_t field, std::size_t component) {
  if (m.segment_count() == 0 || m.header().name() != "MSH") return {};
  const ElementView f = m.header().field(field);
  return component == 0 ? f.raw() : f.component(component).raw();
}

// Narrows a field to what the path names below the field level (rep, component, sub-component).
ElementView narrow(const ElementView& field, const Path& p, bool field_is_rep) {
  if (!field_is_rep && p.repetition == Path::kUnset && p.component == Path::kUnset) return field;
  ElementView e = field;
  if (!field_is_rep) {
    e = e.repetition(p.repetition == Path::kUnset || p.repetition == Path::kAll ? 1 : p.repetition);
  }
  if (p.component == Path::kUnset) return e;
  e = e.component(p.component);
  if (p.subcomponent == Path::kUnset) return e;
  return e.subcomponent(p.subcomponent);
}

ElementView whole_segment(const MessageView& m, const SegmentView& s) {
  return ElementView(s.raw(), Level::field, m.delimiters(), m.charset(), true);
}
}  // namespace

std::string_view MessageView::message_code() const { return msh_component(*this, 9, 1); }
std::string_view MessageView::trigger_event() const { return msh_component(*this, 9, 2); }
std::string_view MessageView::structure() const { return msh_component(*this, 9, 3); }
std::string_view MessageView::control_id() const { return msh_component(*this, 10, 0); }
std::string_view MessageView::processing_id() const { return msh_component(*this, 11, 1); }
std::string_view MessageView::version() const { return msh_component(*this, 12, 1); }

ElementView MessageView::get(const Path& path) const {
  const std::size_t occ = path.occurrence == Path::kAll ? 1 : path.occurrence;
  const auto seg = find(path.segment, occ);
  if (!seg) return ElementView({}, Level::field, delims_, charset_);
  if (path.field == Path::kUnset) return whole_segment(*this, *seg);
  return narrow(seg->field(path.field), path, false);
}

void MessageView::select(const Path& path, std::vector<ElementView>& out) const {
  std::size_t seen = 0;
  for (std::size_t i = 0; i < segments_.size(); ++i) {
    const SegmentView seg = segment(i);
    if (seg.name() != path.segment) continue;
    ++seen;
    if (path.occurrence != Path::kAll && seen != path.occurrence) continue;
    if (path.field == Path::kUnset) {
      out.push_back(whole_segment(*this, seg));
    } else if (path.repetition == Path::kAll) {
      for (const ElementView rep : seg.field(path.field).children()) {
        out.push_back(narrow(rep, path, true));
      }
    } else {
      out.push_back(narrow(seg.field(path.field), path, false));
    }
    if (path.occurrence != Path::kAll) break;
  }
}

Result<ElementView> MessageView::get(std::string_view path) const {
  auto parsed = Path::parse(path);
  if (!parsed) return parsed.take_error();
  return get(*parsed);
}

MessageView::Iterator MessageView::begin() const { return Iterator(this, 0); }
MessageView::Iterator MessageView::end() const { return Iterator(this, segments_.size()); }

// ---------------------------------------------------------------------------------------------
// Escaping

void escape_to(std::string& out, std::string_view text, const Delimiters& d) {
  const char esc = d.escape;
  auto seq = [&](char code) {
    out.push_back(esc);
    out.push_back(code);
    out.push_back(esc);
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == esc) {
      const std::size_t keep = detail::formatting_escape_length(text.substr(i), esc);
      if (keep != 0) {
        out.append(text.substr(i, keep));
        i += keep - 1;
      } else {
        seq('E');
      }
    } else if (c == d.field) {
      seq('F');
    } else if (c == d.component) {
      seq('S');
    } else if (c == d.subcomponent) {
      seq('T');
    } else if (c == d.repetition) {
      seq('R');
    } else if (c == '\r' || c == '\n') {
      out.push_back(esc);
      out.append(c == '\r' ? "X0D" : "X0A");
      out.push_back(esc);
    } else {
      out.push_back(c);
    }
  }
}

std::string escape(std::string_view text, const Delimiters& delimiters) {
  std::string out;
  out.reserve(text.size() + 8);
  escape_to(out, text, delimiters);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Message

namespace {

// Replaces the index-th (1-based) piece of `s` split on `sep` by `value`, adding separators when
// `s` has fewer pieces.
std::string replace_piece(std::string_view s, char sep, std::size_t index, std::string_view value) {
  std::string out;
  out.reserve(s.size() + value.size() + index);
  std::size_t piece = 1;
  std::size_t pos = 0;
  while (piece < index) {
    const std::size_t next = s.find(sep, pos);
    if (next == std::string_view::npos) {
      out.append(s);
      out.append(index - piece, sep);
      out.append(value);
      return out;
    }
    pos = next + 1;
    ++piece;
  }
  const std::size_t next = s.find(sep, pos);
  out.append(s.substr(0, pos));
  out.append(value);
  if (next != std::string_view::npos) out.append(s.substr(next));
  return out;
}

// Converts UTF-8 text to bytes of a one-byte charset; false when a character has no byte there.
bool utf8_to_single_byte(std::string& out, std::string_view text, Charset charset) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const std::size_t n = text.size();
  for (std::size_t i = 0; i < n;) {
    const unsigned char b = p[i];
    std::uint32_t cp = 0;
    std::size_t len = 1;
    if (b < 0x80) {
      cp = b;
    } else if ((b & 0xE0) == 0xC0 && i + 1 < n) {
      cp = ((b & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
      len = 2;
    } else if ((b & 0xF0) == 0xE0 && i + 2 < n) {
      cp = ((b & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
      len = 3;
    } else {
      return false;
    }
    i += len;
    if (cp < 0x80 || (charset == Charset::latin1 && cp <= 0xFF)) {
      out.push_back(static_cast<char>(cp));
      continue;
    }
    if (charset == Charset::latin1) return false;
    const int byte = detail::cp1252_byte(cp);
    if (byte < 0) return false;
    out.push_back(static_cast<char>(byte));
  }
  return true;
}

}  // namespace

namespace {
// Where a message's view starts inside its string (the BOM and leading white space are skipped).
std::ptrdiff_t view_offset(std::string_view view, const std::string& bytes) {
  return view.data() == nullptr ? 0 : view.data() - bytes.data();
}
}  // namespace

Message::Message(const Message& other)
    : bytes_(other.bytes_), view_(other.view_), options_(other.options_) {
  view_.rebase(bytes_.data() + view_offset(other.view_.bytes_, other.bytes_));
}

Message& Message::operator=(const Message& other) {
  if (this != &other) {
    Message copy(other);
    *this = std::move(copy);
  }
  return *this;
}

Message::Message(Message&& other) noexcept
    : bytes_(), view_(std::move(other.view_)), options_(other.options_) {
  const std::ptrdiff_t offset = view_offset(view_.bytes_, other.bytes_);
  bytes_ = std::move(other.bytes_);
  view_.rebase(bytes_.data() + offset);
}

Message& Message::operator=(Message&& other) noexcept {
  if (this != &other) {
    const std::ptrdiff_t offset = view_offset(other.view_.bytes_, other.bytes_);
    view_ = std::move(other.view_);
    options_ = other.options_;
    bytes_ = std::move(other.bytes_);
    view_.rebase(bytes_.data() + offset);
  }
  return *this;
}

Result<Message> Message::parse(std::string bytes, const ParseOptions& options) {
  Message m;
  m.options_ = options;
  Status st = m.rebuild(std::move(bytes));
  if (!st) return st.take_error();
  return m;
}

Status Message::rebuild(std::string bytes) {
  MessageView v;
  Status st = v.reparse(bytes, options_);
  if (!st) return st;
  const std::ptrdiff_t offset = v.bytes_.data() - bytes.data();
  bytes_ = std::move(bytes);
  view_ = std::move(v);
  view_.rebase(bytes_.data() + offset);
  return {};
}

Status Message::set(const Path& path, std::string_view text) {
  std::string raw;
  if (view_.charset() == Charset::latin1 || view_.charset() == Charset::cp1252 ||
      view_.charset() == Charset::latin9) {
    std::string converted;
    if (!utf8_to_single_byte(converted, text, view_.charset())) {
      return make_error(Errc::invalid_text, path.to_string(),
                        "a character of the new value has no byte in the message charset");
    }
    escape_to(raw, converted, view_.delimiters());
  } else if (view_.charset() == Charset::ascii) {
    std::string escaped;
    escape_to(escaped, text, view_.delimiters());
    static constexpr char kHex[] = "0123456789ABCDEF";
    for (char c : escaped) {
      const auto b = static_cast<unsigned char>(c);
      if (b < 0x80) {
        raw.push_back(c);
      } else {
        raw.push_back(view_.delimiters().escape);
        raw.push_back('X');
        raw.push_back(kHex[b >> 4]);
        raw.push_back(kHex[b & 0xF]);
        raw.push_back(view_.delimiters().escape);
      }
    }
  } else {
    escape_to(raw, text, view_.delimiters());
  }
  return set_raw(path, raw);
}

Status Message::set(std::string_view path, std::string_view text) {
  auto parsed = Path::parse(path);
  if (!parsed) return parsed.take_error();
  return set(*parsed, text);
}

Status Message::set_raw(const Path& path, std::string_view raw) {
  if (path.selects_many()) {
    return make_error(Errc::not_settable, path.to_string(), "a [*] path names many elements");
  }
  if (path.field == Path::kUnset) {
    return make_error(Errc::not_settable, path.to_string(), "a whole segment cannot be set");
  }
  if (path.field > options_.limits.max_fields_per_segment) {
    return make_error(Errc::too_many_fields, path.to_string(), "field number over the limit");
  }
  const Delimiters& d = view_.delimiters();
  const std::size_t existing = view_.count(path.segment);
  std::optional<SegmentView> seg = view_.find(path.segment, path.occurrence);
  if (!seg && path.occurrence != existing + 1) {
    return make_error(Errc::not_settable, path.to_string(),
                      "the segment is absent and not the next occurrence");
  }
  const bool header =
      seg ? view_.segments_[seg->index()].header
          : (path.segment == "MSH" || path.segment == "BHS" || path.segment == "FHS");
  if (header && path.field <= 2) {
    return make_error(Errc::not_settable, path.to_string(), "MSH-1 and MSH-2 are the delimiters");
  }
  std::string seg_text = seg ? std::string(seg->raw()) : path.segment;
  if (header && !seg) {
    seg_text.push_back(d.field);
    seg_text.append(d.encoding_characters());
  }
  const std::size_t piece = header ? path.field : path.field + 1;
  const std::string_view field_raw = detail::nth_piece(seg_text, d.field, piece);
  std::string new_field;
  if (path.repetition == Path::kUnset && path.component == Path::kUnset) {
    new_field.assign(raw);
  } else {
    const std::size_t r = path.repetition == Path::kUnset ? 1 : path.repetition;
    const std::string_view rep_raw = detail::nth_piece(field_raw, d.repetition, r);
    std::string new_rep;
    if (path.component == Path::kUnset) {
      new_rep.assign(raw);
    } else {
      const std::string_view comp_raw = detail::nth_piece(rep_raw, d.component, path.component);
      const std::string new_comp =
          path.subcomponent == Path::kUnset
              ? std::string(raw)
              : replace_piece(comp_raw, d.subcomponent, path.subcomponent, raw);
      new_rep = replace_piece(rep_raw, d.component, path.component, new_comp);
    }
    new_field = replace_piece(field_raw, d.repetition, r, new_rep);
  }
  const std::string new_segment = replace_piece(seg_text, d.field, piece, new_field);

  const std::size_t lead = static_cast<std::size_t>(view_.bytes().data() - bytes_.data());
  std::string out;
  out.reserve(bytes_.size() + new_segment.size() + 2);
  if (seg) {
    const auto& index = view_.segments_[seg->index()];
    out.append(bytes_, 0, lead + index.begin);
    out.append(new_segment);
    out.append(bytes_, lead + index.end, std::string::npos);
  } else {
    // Append with the terminator the message already uses (CR when it has none).
    std::string_view term = "\r";
    if (view_.segment_count() > 0) {
      const std::size_t after = lead + view_.segments_[0].end;
      if (after < bytes_.size() && bytes_[after] == '\n') term = "\n";
      if (after + 1 < bytes_.size() && bytes_[after] == '\r' && bytes_[after + 1] == '\n') {
        term = "\r\n";
      }
    }
    out = bytes_;
    const bool terminated = !out.empty() && (out.back() == '\r' || out.back() == '\n');
    if (!terminated) out.append(term);
    out.append(new_segment);
    if (terminated) out.append(term);
  }
  return rebuild(std::move(out));
}

Result<std::size_t> Message::append_segment(std::string_view raw_segment) {
  if (raw_segment.empty() || raw_segment.find_first_of("\r\n") != std::string_view::npos) {
    return make_error(Errc::bad_segment, "", "a segment must be non-empty and hold no CR or LF");
  }
  std::string out = bytes_;
  const bool terminated = !out.empty() && (out.back() == '\r' || out.back() == '\n');
  if (!terminated) out.push_back('\r');
  out.append(raw_segment);
  out.push_back('\r');
  const std::size_t before = view_.segment_count();
  Status st = rebuild(std::move(out));
  if (!st) return st.take_error();
  return before;
}

std::string Message::encode(Terminator terminator) const {
  const std::string_view term = terminator == Terminator::cr   ? "\r"
                                : terminator == Terminator::lf ? "\n"
                                                               : "\r\n";
  std::string out;
  out.reserve(view_.bytes().size() + view_.segment_count());
  for (const SegmentView s : view_) {
    out.append(s.raw());
    out.append(term);
  }
  return out;
}

}  // namespace hims::hl7v2
