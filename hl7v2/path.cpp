#include "hl7v2/path.hpp"

#include "hl7v2/detail/ascii.hpp"
#include "hl7v2/errors.hpp"

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

}  // namespace

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
  if (pos < text.size() && (text[pos] == '[' || text[pos] == '(')) {
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
  if (repetition != kUnset) index(repetition);
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
