// HL7 v2 (ER7) message model: a zero-copy index of segments and fields over a caller-owned
// buffer (MessageView), and an owning, editable Message. Pure: no I/O, no clock, no globals.
// Views are immutable after parse and safe to read from several threads; a view never outlives
// the buffer it indexes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "hl7v2/detail/scan.hpp"
#include "hl7v2/errors.hpp"
#include "hl7v2/path.hpp"

namespace hims::hl7v2 {

// The delimiters a message declares in MSH-1 and MSH-2 (or BHS/FHS).
struct Delimiters {
  char field = '|';
  char component = '^';
  char repetition = '~';
  char escape = '\\';
  char subcomponent = '&';
  char truncation = '\0';  // v2.7+ '#' when MSH-2 has a fifth character, '\0' when absent

  // MSH-2 as it is written: "^~\&" or "^~\&#".
  std::string encoding_characters() const;
  bool operator==(const Delimiters&) const = default;
};

// Character set of the message's text (MSH-18). Values are converted to UTF-8 on access.
// latin9 is ISO-8859-15 (MSH-18 "8859/15").
enum class Charset : std::uint8_t { ascii, utf8, latin1, cp1252, latin9 };
std::string_view to_string(Charset charset);
// Maps an MSH-18 value ("8859/1", "UNICODE UTF-8", "ASCII", "" ...) to a Charset;
// nullopt for one the engine cannot convert (for example UNICODE UTF-16 or ISO IR87).
std::optional<Charset> charset_from_msh18(std::string_view msh18);

// Whether MSH may bend the rules (what real feeds send) or must follow the standard.
//   tolerant: delimiters may be any bytes but CR/LF (alphanumeric and control bytes included) as
//             long as they are distinct; the non-standard 5-char MSH-2 `^~\\&` (doubled escape
//             character) is read as `^~\&`; any segment id, even empty, is kept;
//   strict:   delimiters are printable ASCII punctuation other than `"`, segment ids are 3
//             upper-case letters/digits, MSH-9.1, MSH-10 and MSH-12 present, MSH-12 a known
//             version (is_known_version).
enum class ParseMode : std::uint8_t { tolerant, strict };

struct ParseLimits {
  std::size_t max_bytes = 64u << 20;  // whole message
  std::size_t max_segments = 100'000;
  std::size_t max_fields_per_segment = 1'000;
};

struct ParseOptions {
  ParseLimits limits;
  // Used when MSH-18 is empty. Bytes that are not valid UTF-8 in a message whose charset is
  // utf8 are an error (invalid_text), never silently replaced.
  Charset default_charset = Charset::utf8;
  // A message whose MSH-18 names a charset we cannot convert: accept it and pass bytes through
  // unconverted (true), or reject with unsupported_charset (false).
  bool accept_unknown_charset = false;
  ParseMode mode = ParseMode::tolerant;
};

// True for the HL7 v2 versions this codec knows: 2.1, 2.2, 2.3, 2.3.1, 2.4, 2.5, 2.5.1, 2.6,
// 2.7, 2.7.1, 2.8, 2.8.1, 2.8.2 (MSH-12.1, e.g. "2.5.1"); false for "2.999", "12", "".
bool is_known_version(std::string_view version);

// Level of an element inside a field: what its children are split on.
enum class Level : std::uint8_t { field, repetition, component, subcomponent };

// Any part of a field: a whole field (all repetitions), one repetition, one component or one
// sub-component. Holds the raw bytes and what it needs to split and decode them (24 bytes;
// pass by value). Absent positions (PID-3[4] when there are 2) are empty, not errors.
class ElementRange;

class ElementView {
 public:
  ElementView() = default;
  ElementView(std::string_view raw, Level level, const Delimiters& delimiters, Charset charset,
              bool literal = false)
      : raw_(raw), meta_(pack(delimiters, charset, level, literal)) {}

  // The bytes between the delimiters, escapes not decoded.
  std::string_view raw() const { return raw_; }
  Level level() const { return static_cast<Level>((meta_ >> 56) & 0x0Fu); }
  bool empty() const { return raw_.empty(); }
  // The explicit HL7 null `""`: "delete this value at the receiver" (empty means "no change").
  bool is_null() const { return raw_ == "\"\""; }
  // MSH-1 and MSH-2 (and a whole segment from a path without a field): never split or decoded.
  bool literal() const { return ((meta_ >> 60) & 1u) != 0; }
  Delimiters delimiters() const;
  Charset charset() const { return static_cast<Charset>((meta_ >> 48) & 0xFFu); }

  // Number of children at the next level (repetitions of a field, components of a repetition,
  // sub-components of a component): 1 for a non-empty value without that delimiter, 0 for empty.
  // A sub-component has no children: 0.
  std::size_t size() const;

  // 1-based children. Skipping levels goes through the first one: field.component(2) is the
  // second component of the first repetition; field.subcomponent(s) is the s-th sub-component
  // of the first component of the first repetition. Asking a component for component(1) (or a
  // sub-component for subcomponent(1)) gives the element itself; other numbers give empty.
  ElementView repetition(std::size_t r) const;    // on a field
  ElementView component(std::size_t c) const;     // on a field (rep 1) or a repetition
  ElementView subcomponent(std::size_t s) const;  // on a component
  // The children at the next level, in order, without re-scanning from the start for each one
  // (the cheap way to walk every repetition/component). Empty for an empty element; a
  // sub-component or a literal has itself as its only child.
  ElementRange children() const;
  // One pass over the bytes (each byte read once for ~ ^ and & together) that calls
  //   f(std::size_t repetition, std::size_t component, std::size_t subcomponent, ElementView leaf)
  // for every sub-component position, in order, 1-based, with raw views (nothing decoded).
  // Every position is visited, empty ones included: `a~~b^` gives (1,1,1,"a"), (2,1,1,""),
  // (3,1,1,"b"), (3,2,1,""). Each leaf equals repetition(r).component(c).subcomponent(s) of this
  // element. An empty element visits nothing. On a repetition (component) the repetition
  // (and component) number is 1 and the delimiters above its level are data, as in children().
  // A sub-component or a literal (MSH-1, MSH-2) is visited whole, once, as (1,1,1).
  template <class F>
  void for_each_leaf(F&& f) const;

  // Escapes decoded (\F\ \S\ \T\ \R\ \E\ \Xhh..\), text converted to UTF-8. Formatting escapes
  // (\.br\ \H\ \N\ \.sp\ \.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\ \Zxx\) are kept verbatim.
  // Delimiters below this element's level stay as they are (a component's decoded text may hold
  // '&' from its sub-components). MSH-1 and MSH-2 are literal: returned as written.
  std::string decoded() const;
  void decode_to(std::string& out) const;  // appends
  // decoded() without a copy when it would equal raw() (no escape character, and UTF-8/ASCII or
  // no byte above 0x7F); otherwise decoded into `buffer` (cleared first) and a view of it.
  std::string_view decoded_view(std::string& buffer) const;

  // Not the HL7 null `""` and holding more than delimiters: `^^` and `~` are empty repetitions
  // and components, as absent as an empty field. A literal is there when not empty.
  bool has_value() const;
  // The first sub-component of the first component of the first repetition, at whatever level
  // this element is: where a primitive value sits (HL7 asks receivers to ignore the components
  // a primitive does not have).
  ElementView first_leaf() const;

 private:
  friend class ElementRange;
  friend class SegmentView;
  friend class MessageView;
  // Delimiters (bytes 0-5), charset (byte 6), level (low nibble of byte 7), literal (bit 60),
  // padded (bit 61), in one word so copying a view is two register moves. Padded: at least
  // detail::kPad bytes of the same message follow raw_, so a search may load whole words past
  // its end (set by SegmentView::field; inherited by children, which end no later).
  static std::uint64_t pack(const Delimiters& d, Charset charset, Level level, bool literal) {
    return static_cast<std::uint64_t>(static_cast<unsigned char>(d.field)) |
           static_cast<std::uint64_t>(static_cast<unsigned char>(d.component)) << 8 |
           static_cast<std::uint64_t>(static_cast<unsigned char>(d.repetition)) << 16 |
           static_cast<std::uint64_t>(static_cast<unsigned char>(d.escape)) << 24 |
           static_cast<std::uint64_t>(static_cast<unsigned char>(d.subcomponent)) << 32 |
           static_cast<std::uint64_t>(static_cast<unsigned char>(d.truncation)) << 40 |
           static_cast<std::uint64_t>(charset) << 48 | static_cast<std::uint64_t>(level) << 56 |
           static_cast<std::uint64_t>(literal ? 1u : 0u) << 60;
  }
  ElementView(std::string_view raw, std::uint64_t meta) : raw_(raw), meta_(meta) {}
  static constexpr std::uint64_t kPadded = std::uint64_t{1} << 61;
  static bool padded(std::uint64_t meta) { return (meta & kPadded) != 0; }
  char byte(unsigned i) const { return static_cast<char>((meta_ >> (8 * i)) & 0xFFu); }
  // The same metadata at another level.
  std::uint64_t meta_at(Level level) const {
    return (meta_ & ~(std::uint64_t{0x0F} << 56)) | static_cast<std::uint64_t>(level) << 56;
  }

  std::string_view raw_;
  std::uint64_t meta_ = pack(Delimiters{}, Charset::utf8, Level::field, false);
};

// Forward range over an element's children; produced by ElementView::children().
class ElementRange {
 public:
  class Iterator {
   public:
    using value_type = ElementView;
    using difference_type = std::ptrdiff_t;
    Iterator() = default;
    ElementView operator*() const {
      return ElementView(std::string_view(at_, static_cast<std::size_t>(end_ - at_)), meta_);
    }
    Iterator& operator++() {
      if (end_ == raw_end_) {
        at_ = nullptr;
      } else {
        at_ = end_ + 1;
        end_ = detail::find_byte(at_, raw_end_, static_cast<char>(pattern_), pattern_, padded_);
      }
      return *this;
    }
    Iterator operator++(int) {
      Iterator t = *this;
      ++*this;
      return t;
    }
    bool operator==(const Iterator& o) const { return at_ == o.at_; }

   private:
    friend class ElementRange;
    const char* at_ = nullptr;  // start of the current child; nullptr at the end
    const char* end_ = nullptr;
    const char* raw_end_ = nullptr;
    std::uint64_t meta_ = 0;
    std::uint64_t pattern_ = 0;  // the separator in every byte
    bool padded_ = false;        // detail::kPad readable bytes follow raw_end_
  };
  Iterator begin() const {
    Iterator it;
    if (raw_.empty()) return it;
    it.at_ = raw_.data();
    it.raw_end_ = raw_.data() + raw_.size();
    it.meta_ = meta_;
    it.padded_ = ElementView::padded(meta_);
    it.pattern_ = detail::broadcast(separator_);
    it.end_ = separator_ == '\0'
                  ? it.raw_end_
                  : detail::find_byte(it.at_, it.raw_end_, separator_, it.pattern_, it.padded_);
    return it;
  }
  Iterator end() const { return Iterator(); }

 private:
  friend class ElementView;
  std::string_view raw_;
  std::uint64_t meta_ = 0;  // the children's
  char separator_ = '\0';   // '\0': the element is its own only child (literal, sub-component)
};

inline ElementRange ElementView::children() const {
  // Branch-free: the separator is the delimiter byte the level selects (repetition for a field,
  // component for a repetition, sub-component for a component), none below or for a literal;
  // the children's level is one lower. Level (bits 56-59) and literal (bit 60) read together
  // are below 3 exactly for an element that splits.
  constexpr std::uint64_t kLevelOne = std::uint64_t{1} << 56;
  const auto lv = static_cast<unsigned>((meta_ >> 56) & 0x1Fu);
  const bool leaf = lv >= static_cast<unsigned>(Level::subcomponent);
  // Bit offset in meta_ of the separator, one byte per level: 16 (repetition), 8 (component),
  // 32 (sub-component).
  constexpr std::uint32_t kSeparatorShifts = 16u | 8u << 8 | 32u << 16;
  const unsigned shift = (kSeparatorShifts >> (8 * (lv & 3u))) & 0xFFu;
  ElementRange range;
  range.raw_ = raw_;
  range.separator_ = leaf ? '\0' : static_cast<char>((meta_ >> shift) & 0xFFu);
  range.meta_ = leaf ? meta_ : meta_ + kLevelOne;
  return range;
}

template <class F>
void ElementView::for_each_leaf(F&& f) const {
  if (raw_.empty()) return;
  const auto lv = static_cast<unsigned>((meta_ >> 56) & 0x1Fu);  // level, literal (see children)
  const std::uint64_t leaf_meta = meta_at(Level::subcomponent);
  if (lv >= static_cast<unsigned>(Level::subcomponent)) {
    f(std::size_t{1}, std::size_t{1}, std::size_t{1}, ElementView(raw_, leaf_meta));
    return;
  }
  // Delimiters this level splits on; one that does not apply is replaced by the sub-component
  // delimiter (always active here), so it adds no hit of its own, and is flagged off.
  const char sub_sep = byte(4);
  const bool rep_on = lv == static_cast<unsigned>(Level::field);
  const bool comp_on = lv <= static_cast<unsigned>(Level::repetition);
  const char rep_sep = rep_on ? byte(2) : sub_sep;
  const char comp_sep = comp_on ? byte(1) : sub_sep;
  const bool pad = padded(meta_);
  const char* const data = raw_.data();
  const std::size_t size = raw_.size();
  std::size_t r = 1;
  std::size_t c = 1;
  std::size_t s = 1;
  const char* start = data;
  for (std::size_t off = 0; off < size; off += 16) {
    const std::size_t n = size - off < 16 ? size - off : 16;
    std::uint32_t m =
        detail::match3_mask16(data + off, n, n == 16 || pad, rep_sep, comp_sep, sub_sep);
    while (m != 0) {
      const char* hit = data + off + static_cast<unsigned>(__builtin_ctz(m));
      m &= m - 1;
      f(r, c, s,
        ElementView(std::string_view(start, static_cast<std::size_t>(hit - start)), leaf_meta));
      // The same precedence as the nested children() walk: repetition, component, sub-component.
      const char ch = *hit;
      const bool is_rep = rep_on && ch == rep_sep;
      const bool is_comp = !is_rep && comp_on && ch == comp_sep;
      r += is_rep ? 1 : 0;
      c = is_rep ? 1 : c + (is_comp ? 1 : 0);
      s = (is_rep || is_comp) ? 1 : s + 1;
      start = hit + 1;
    }
  }
  f(r, c, s,
    ElementView(std::string_view(start, static_cast<std::size_t>(data + size - start)), leaf_meta));
}

class MessageView;

// One segment. field(0) is the segment id; for MSH/BHS/FHS field(1) is the field separator and
// field(2) the encoding characters (both literal), so numbering matches the standard.
class SegmentView {
 public:
  std::string_view name() const;
  std::string_view raw() const;  // without its terminator
  // Highest field number present (trailing empty fields count when their separator is there).
  std::size_t field_count() const;
  ElementView field(std::size_t n) const;       // absent -> empty element
  std::size_t index() const { return index_; }  // 0-based position in the message
  // 1-based occurrence among segments with the same name (the 2nd OBX has occurrence 2).
  std::size_t occurrence() const;

 private:
  friend class MessageView;
  SegmentView(const MessageView* message, std::size_t index) : message_(message), index_(index) {}
  ElementView header_field(std::size_t n) const;  // MSH-1, MSH-2
  const MessageView* message_ = nullptr;
  std::size_t index_ = 0;
};

// Segment terminators to write when encoding.
enum class Terminator : std::uint8_t { cr, lf, crlf };

// The parsed index of one message over a buffer the caller keeps alive. Tokenizing allocates only
// the index vectors (reusable through reparse); components and escapes are split on access.
// Tolerated on input: CR, LF, CRLF and mixed terminators, blank lines, a UTF-8 BOM and leading
// white space before MSH, a missing final terminator, segments with no fields (`PD1`), unknown
// and Z segments (kept in order).
class MessageView {
 public:
  MessageView() = default;

  static Result<MessageView> parse(std::string_view bytes, const ParseOptions& options = {});
  // Re-parses into this object, reusing its allocations (the hot path of a long-lived reader).
  Status reparse(std::string_view bytes, const ParseOptions& options = {});

  // The message bytes after the BOM and leading white space, with their original terminators.
  std::string_view bytes() const { return bytes_; }
  const Delimiters& delimiters() const { return delims_; }
  Charset charset() const { return charset_; }

  std::size_t segment_count() const { return segments_.size(); }
  SegmentView segment(std::size_t index) const { return SegmentView(this, index); }
  // The n-th (1-based) segment with this id, or nullopt.
  std::optional<SegmentView> find(std::string_view name, std::size_t occurrence = 1) const;
  std::size_t count(std::string_view name) const;

  // Header shortcuts (raw values of the MSH, or empty when absent).
  SegmentView header() const { return segment(0); }  // only when segment_count() > 0
  std::string_view message_code() const;             // MSH-9.1  "ORU"
  std::string_view trigger_event() const;            // MSH-9.2  "R01"
  std::string_view structure() const;                // MSH-9.3  "ORU_R01"
  std::string_view control_id() const;               // MSH-10
  std::string_view processing_id() const;            // MSH-11.1
  std::string_view version() const;                  // MSH-12.1 "2.5.1"

  // The first element a path selects (empty when nothing matches), and every element a path
  // with [*] selects, in message order.
  ElementView get(const Path& path) const;
  void select(const Path& path, std::vector<ElementView>& out) const;
  // Convenience for callers with a path string: parses, then get().
  Result<ElementView> get(std::string_view path) const;

  class Iterator;
  Iterator begin() const;
  Iterator end() const;

 private:
  friend class SegmentView;
  friend class Message;
  // Points the view at a copy of its buffer that starts at `data` (Message copies and moves).
  void rebase(const char* data) { bytes_ = std::string_view(data, bytes_.size()); }
  struct SegmentIndex {
    std::uint32_t begin;        // offset of the segment id in bytes_
    std::uint32_t end;          // offset one past the last byte before the terminator
    std::uint32_t first_field;  // index into field_begins_
    std::uint32_t field_count;  // number of entries in field_begins_ for this segment
    bool header;                // MSH/BHS/FHS: field 1 is the separator, field 2 is literal
  };
  Status check_strict() const;
  std::string_view bytes_;
  Delimiters delims_;
  Charset charset_ = Charset::utf8;
  std::uint64_t field_meta_ = 0;  // ElementView metadata of a field of this message
  std::vector<SegmentIndex> segments_;
  // For each segment, the offset where each field (0 = segment id) begins; a field ends one
  // byte before the next one begins, the last at the segment's end.
  // Sized to its capacity (never shrunk, so reparse does not reallocate); field_total_ entries
  // are in use.
  std::vector<std::uint32_t> field_begins_;
  std::size_t field_total_ = 0;
};

// Inline: the walk over every field of every segment is the hot path of a reader.
inline ElementView SegmentView::field(std::size_t n) const {
  const MessageView& m = *message_;
  const MessageView::SegmentIndex& s = m.segments_[index_];
  std::size_t k = n;
  if (s.header && n >= 1) {
    if (n <= 2) return header_field(n);
    k = n - 1;
  }
  if (k >= s.field_count) return ElementView({}, m.field_meta_);
  const std::uint32_t* fb = m.field_begins_.data() + s.first_field;
  const std::uint32_t b = fb[k];
  const std::uint32_t e = (k + 1 < s.field_count) ? fb[k + 1] - 1 : s.end;
  const std::uint64_t pad = m.bytes_.size() - e >= detail::kPad ? ElementView::kPadded : 0;
  return ElementView(std::string_view(m.bytes_.data() + b, e - b), m.field_meta_ | pad);
}

class MessageView::Iterator {
 public:
  using value_type = SegmentView;
  using difference_type = std::ptrdiff_t;
  Iterator() = default;
  Iterator(const MessageView* m, std::size_t i) : m_(m), i_(i) {}
  SegmentView operator*() const { return m_->segment(i_); }
  Iterator& operator++() {
    ++i_;
    return *this;
  }
  Iterator operator++(int) {
    Iterator t = *this;
    ++i_;
    return t;
  }
  bool operator==(const Iterator& o) const { return i_ == o.i_; }

 private:
  const MessageView* m_ = nullptr;
  std::size_t i_ = 0;
};

// An owning message: keeps its bytes and its index together, and can be edited.
// Unchanged, bytes() is byte-identical to what was parsed.
class Message {
 public:
  static Result<Message> parse(std::string bytes, const ParseOptions& options = {});

  Message(const Message& other);
  Message& operator=(const Message& other);
  Message(Message&& other) noexcept;
  Message& operator=(Message&& other) noexcept;

  const MessageView& view() const { return view_; }
  const std::string& bytes() const { return bytes_; }

  // Sets the element a path names (no [*]) to `text`, escaping delimiters and the escape
  // character (formatting escapes such as \.br\ are kept); creates missing fields, repetitions,
  // components and sub-components, and appends the segment when the path names the next
  // occurrence of one that is absent. The MSH-1/MSH-2 positions cannot be set.
  Status set(const Path& path, std::string_view text);
  Status set(std::string_view path, std::string_view text);
  // The same with `raw` written as is (already encoded with this message's delimiters).
  Status set_raw(const Path& path, std::string_view raw);
  // Appends one segment given in raw ER7 (no terminator) and returns its index.
  Result<std::size_t> append_segment(std::string_view raw_segment);

  // The message with every segment terminated by `terminator` (the wire form is CR).
  std::string encode(Terminator terminator = Terminator::cr) const;

 private:
  Message() = default;
  Status rebuild(std::string bytes);
  std::string bytes_;
  MessageView view_;
  ParseOptions options_;
};

// Escapes text for an element of this message: | ^ ~ \ & become \F\ \S\ \R\ \E\ \T\ (the v2.7
// truncation character is data and stays); CR and LF become \X0D\ \X0A\; recognised formatting
// escapes are kept as they are.
std::string escape(std::string_view text, const Delimiters& delimiters);
void escape_to(std::string& out, std::string_view text, const Delimiters& delimiters);

}  // namespace hims::hl7v2
