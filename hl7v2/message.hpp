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
enum class Charset : std::uint8_t { ascii, utf8, latin1, cp1252 };
std::string_view to_string(Charset charset);
// Maps an MSH-18 value ("8859/1", "UNICODE UTF-8", "ASCII", "" ...) to a Charset;
// nullopt for one the engine cannot convert (for example UNICODE UTF-16 or ISO IR87).
std::optional<Charset> charset_from_msh18(std::string_view msh18);

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
};

// Level of an element inside a field: what its children are split on.
enum class Level : std::uint8_t { field, repetition, component, subcomponent };

// Any part of a field: a whole field (all repetitions), one repetition, one component or one
// sub-component. Holds the raw bytes and what it needs to split and decode them (24-32 bytes;
// pass by value). Absent positions (PID-3[4] when there are 2) are empty, not errors.
class ElementView {
 public:
  ElementView() = default;
  ElementView(std::string_view raw, Level level, const Delimiters& delimiters, Charset charset,
              bool literal = false);

  // The bytes between the delimiters, escapes not decoded.
  std::string_view raw() const { return raw_; }
  Level level() const { return level_; }
  bool empty() const { return raw_.empty(); }
  // The explicit HL7 null `""`: "delete this value at the receiver" (empty means "no change").
  bool is_null() const { return raw_ == "\"\""; }

  // Number of children at the next level (repetitions of a field, components of a repetition,
  // sub-components of a component): 1 for a non-empty value without that delimiter, 0 for empty.
  // A sub-component has no children: 0.
  std::size_t size() const;

  // 1-based children. Skipping levels goes through the first one: field.component(2) is the
  // second component of the first repetition; field.subcomponent(...) is not offered.
  ElementView repetition(std::size_t r) const;    // on a field
  ElementView component(std::size_t c) const;     // on a field (rep 1) or a repetition
  ElementView subcomponent(std::size_t s) const;  // on a component

  // Escapes decoded (\F\ \S\ \T\ \R\ \E\ \Xhh..\), text converted to UTF-8. Formatting escapes
  // (\.br\ \H\ \N\ \.sp\ \.in\ \.ti\ \.sk\ \.ce\ \.fi\ \.nf\ \Zxx\) are kept verbatim.
  // Delimiters below this element's level stay as they are (a component's decoded text may hold
  // '&' from its sub-components). MSH-1 and MSH-2 are literal: returned as written.
  std::string decoded() const;
  void decode_to(std::string& out) const;  // appends

 private:
  std::string_view raw_;
  Delimiters delims_;
  Charset charset_ = Charset::utf8;
  Level level_ = Level::field;
  bool literal_ = false;
};

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
  SegmentView header() const { return segment(0); }
  std::string_view message_code() const;   // MSH-9.1  "ORU"
  std::string_view trigger_event() const;  // MSH-9.2  "R01"
  std::string_view structure() const;      // MSH-9.3  "ORU_R01"
  std::string_view control_id() const;     // MSH-10
  std::string_view processing_id() const;  // MSH-11.1
  std::string_view version() const;        // MSH-12.1 "2.5.1"

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
  struct SegmentIndex {
    std::uint32_t begin;        // offset of the segment id in bytes_
    std::uint32_t end;          // offset one past the last byte before the terminator
    std::uint32_t first_field;  // index into field_begins_
    std::uint32_t field_count;  // number of entries in field_begins_ for this segment
  };
  std::string_view bytes_;
  Delimiters delims_;
  Charset charset_ = Charset::utf8;
  std::vector<SegmentIndex> segments_;
  // For each segment, the offset where each field (0 = segment id) begins; a field ends one
  // byte before the next one begins, the last at the segment's end.
  std::vector<std::uint32_t> field_begins_;
};

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
  Message(Message&&) noexcept = default;
  Message& operator=(Message&&) noexcept = default;

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
