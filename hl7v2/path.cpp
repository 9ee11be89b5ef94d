#include "hl7v2/path.hpp"

#include "hl7v2/detail/ascii.hpp"
#include "hl7v2/errors.hpp"
#include "hl7v2/message.hpp"

namespace hims::hl7v2 {
namespace {

Error path_error(std::size_t column, std::string detail) {
  return Error(Errc::bad_path, "column " + std::to_string(column + 1), std::move(detail));
}

using detail::is_digit;

// Reads a positive number at `pos`; 0 when there is none or it is over kMaxIndex.
std::uint32_t read_number(std::string_view text, std::size_t& pos) {
  std::uint32_t value = 0;
  const std::size_t start = pos;
  while (pos < text.size() && is_digit(text[pos])) {
    value = value * 10 + static_cast<std::uint32_t>(text[pos] - '0');
    if (value > Path::kMaxIndex) return 0;
    ++pos;
  }
  return pos == start ? 0 : value;
}

// Reads "[n]" or "[*]" (also "(n)"); false on a malformed bracket.
bool read_index(std::string_view text, std::size_t& pos, std::uint32_t& out) {
  const char open = text[pos];
  const char close = open == '[' ? ']' : ')';
  ++pos;
  if (pos < text.size() && text[pos] == '*') {
    out = Path::kAll;
    ++pos;
  } else {
    out = read_number(text, pos);
    if (out == 0) return false;
  }
  if (pos >= text.size() || text[pos] != close) return false;
  ++pos;
  return true;
}

// After "[": reads "c=VALUE]" or "c.s=VALUE]" when the text has that shape (a number then '.' or
// '='). Returns false, with `pos` unchanged, when it does not (a plain index); sets `problem`
// for a filter that is malformed.
bool read_filter(std::string_view text, std::size_t& pos, Path::RepetitionFilter& out,
                 std::string& problem) {
  std::size_t at = pos;
  const std::uint32_t component = read_number(text, at);
  if (component == 0 || at >= text.size() || (text[at] != '=' && text[at] != '.')) return false;
  out.component = component;
  if (text[at] == '.') {
    ++at;
    out.subcomponent = read_number(text, at);
    if (out.subcomponent == 0 || at >= text.size() || text[at] != '=') {
      pos = at;
      problem = "a repetition filter is [c=VALUE] or [c.s=VALUE]";
      return true;
    }
  }
  ++at;  // '='
  const std::size_t close = text.find(']', at);
  if (close == std::string_view::npos) {
    pos = text.size();
    problem = "a repetition filter ends with ']'";
    return true;
  }
  if (close == at) {
    pos = at;
    problem = "a repetition filter needs a value ([5=MR])";
    return true;
  }
  out.value.assign(text.substr(at, close - at));
  pos = close + 1;
  return true;
}

// The decoded text of `element` equals `value`; compares the raw bytes when decoding cannot
// change them (no escape character, ASCII only), so a filter usually allocates nothing.
bool decoded_equals(const ElementView& element, std::string_view value) {
  const std::string_view raw = element.raw();
  const char escape = element.delimiters().escape;
  bool plain = true;
  for (const char c : raw) {
    if (c == escape || static_cast<unsigned char>(c) >= 0x80) {
      plain = false;
      break;
    }
  }
  if (plain) return raw == value;
  return element.decoded() == value;
}

}  // namespace

bool Path::RepetitionFilter::matches(const ElementView& rep) const {
  ElementView e = rep.component(component);
  if (subcomponent != kUnset) e = e.subcomponent(subcomponent);
  return decoded_equals(e, value);
}

ElementView Path::in_field(const ElementView& whole) const {
  if (repetition == kUnset && component == kUnset) return whole;
  ElementView e;
  if (repetition == kFiltered) {
    bool found = false;
    for (const ElementView rep : whole.children()) {
      if (filter && filter->matches(rep)) {
        e = rep;
        found = true;
        break;
      }
    }
    if (!found) return ElementView({}, Level::repetition, whole.delimiters(), whole.charset());
  } else {
    e = whole.repetition(repetition == kUnset || repetition == kAll ? 1 : repetition);
  }
  if (component == kUnset) return e;
  e = e.component(component);
  if (subcomponent == kUnset) return e;
  return e.subcomponent(subcomponent);
}

Result<Path> Path::parse(std::string_view text) {
  Path p;
  std::size_t pos = 0;
  while (pos < text.size() && pos < 3 && detail::is_upper_alnum(text[pos])) ++pos;
  if (pos < 2) return path_error(0, "a segment id of 2 or 3 upper-case letters or digits");
  p.segment.assign(text.substr(0, pos));
  if (pos < text.size() && (text[pos] == '[' || text[pos] == '(')) {
    if (!read_index(text, pos, p.occurrence)) return path_error(pos, "bad segment occurrence");
  }
  if (pos == text.size()) return p;
  if (text[pos] != '-') return path_error(pos, "expected '-' before the field number");
  ++pos;
  p.field = read_number(text, pos);
  if (p.field == 0) return path_error(pos, "a field number from 1");
  if (pos < text.size() && text[pos] == '[') {
    std::size_t at = pos + 1;
    RepetitionFilter filter;
    std::string problem;
    if (read_filter(text, at, filter, problem)) {
      if (!problem.empty()) return path_error(at, std::move(problem));
      p.repetition = kFiltered;
      p.filter = std::move(filter);
      pos = at;
    } else if (!read_index(text, pos, p.repetition)) {
      return path_error(pos, "bad repetition index");
    }
  } else if (pos < text.size() && text[pos] == '(') {
    if (!read_index(text, pos, p.repetition)) return path_error(pos, "bad repetition index");
  }
  if (pos < text.size() && text[pos] == '.') {
    ++pos;
    p.component = read_number(text, pos);
    if (p.component == 0) return path_error(pos, "a component number from 1");
    if (pos < text.size() && text[pos] == '.') {
      ++pos;
      p.subcomponent = read_number(text, pos);
      if (p.subcomponent == 0) return path_error(pos, "a sub-component number from 1");
    }
  }
  if (pos != text.size()) return path_error(pos, "unexpected text after the path");
  return p;
}

std::string Path::to_string() const {
  std::string out = segment;
  auto index = [&](std::uint32_t v) {
    out.push_back('[');
    out.append(v == kAll ? std::string("*") : std::to_string(v));
    out.push_back(']');
  };
  if (occurrence != 1) index(occurrence);
  if (field == kUnset) return out;
  out.push_back('-');
  out.append(std::to_string(field));
  if (repetition == kFiltered && filter) {
    out.push_back('[');
    out.append(std::to_string(filter->component));
    if (filter->subcomponent != kUnset) {
      out.push_back('.');
      out.append(std::to_string(filter->subcomponent));
    }
    out.push_back('=');
    out.append(filter->value);
    out.push_back(']');
  } else if (repetition != kUnset) {
    index(repetition);
  }
  if (component != kUnset) {
    out.push_back('.');
    out.append(std::to_string(component));
    if (subcomponent != kUnset) {
      out.push_back('.');
      out.append(std::to_string(subcomponent));
    }
  }
  return out;
}

}  // namespace hims::hl7v2
