#include "hl7v2/detail/text.hpp"

#include <array>

#include "hl7v2/detail/ascii.hpp"

namespace hims::hl7v2::detail {
namespace {

// windows-1252 0x80..0x9F (WHATWG: the five undefined bytes map to the C1 code points).
constexpr std::array<std::uint16_t, 32> kCp1252High = {
    0x20AC, 0x0081, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x008D, 0x017D, 0x008F, 0x0090, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x009D, 0x017E, 0x0178};

}  // namespace

std::uint32_t latin9_code_point(unsigned char b) {
  switch (b) {
    case 0xA4:
      return 0x20AC;
    case 0xA6:
      return 0x0160;
    case 0xA8:
      return 0x0161;
    case 0xB4:
      return 0x017D;
    case 0xB8:
      return 0x017E;
    case 0xBC:
      return 0x0152;
    case 0xBD:
      return 0x0153;
    case 0xBE:
      return 0x0178;
    default:
      return b;
  }
}

int cp1252_byte(std::uint32_t cp) {
  for (std::size_t i = 0; i < kCp1252High.size(); ++i) {
    if (kCp1252High[i] == cp) return static_cast<int>(0x80 + i);
  }
  return cp >= 0xA0 && cp <= 0xFF ? static_cast<int>(cp) : -1;
}

void append_code_point(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

void append_as_utf8(std::string& out, std::string_view bytes, Charset charset) {
  if (charset == Charset::utf8 || charset == Charset::ascii) {
    out.append(bytes);
    return;
  }
  for (char ch : bytes) {
    const auto b = static_cast<unsigned char>(ch);
    if (b < 0x80) {
      out.push_back(ch);
    } else if (charset == Charset::cp1252 && b < 0xA0) {
      append_code_point(out, kCp1252High[b - 0x80]);
    } else if (charset == Charset::latin9) {
      append_code_point(out, latin9_code_point(b));
    } else {
      append_code_point(out, b);
    }
  }
}

std::size_t utf8_error_offset(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const std::size_t n = bytes.size();
  std::size_t i = 0;
  while (i < n) {
    const unsigned char b = p[i];
    if (b < 0x80) {
      ++i;
      continue;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
      cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      cp = b & 0x07;
    } else {
      return i;
    }
    if (n - i < len) return i;
    for (std::size_t k = 1; k < len; ++k) {
      if ((p[i + k] & 0xC0) != 0x80) return i;
      cp = (cp << 6) | (p[i + k] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10FFFF))) {
      return i;
    }
    i += len;
  }
  return n;
}

bool is_valid_utf8(std::string_view bytes) { return utf8_error_offset(bytes) == bytes.size(); }

std::size_t formatting_escape_length(std::string_view text, char escape) {
  if (text.size() < 3 || text[0] != escape) return 0;
  const std::size_t close = text.find(escape, 1);
  if (close == std::string_view::npos || close < 2) return 0;
  const std::string_view body = text.substr(1, close - 1);
  const std::size_t len = close + 1;
  if (body == "H" || body == "N") return len;
  if (body[0] == '.') {
    const std::string_view cmd = body.substr(1);
    if (cmd == "br" || cmd == "ce" || cmd == "fi" || cmd == "nf") return len;
    if (cmd.size() >= 2 && (cmd.starts_with("sp") || cmd.starts_with("in") ||
                            cmd.starts_with("ti") || cmd.starts_with("sk"))) {
      std::string_view arg = cmd.substr(2);
      if (!arg.empty() && (arg[0] == '+' || arg[0] == '-')) arg.remove_prefix(1);
      for (char c : arg) {
        if (c < '0' || c > '9') return 0;
      }
      return len;
    }
    return 0;
  }
  if (body[0] == 'Z') {
    for (char c : body.substr(1)) {
      if (!is_upper_alnum(c)) return 0;
    }
    return len;
  }
  if (body[0] == 'C' || body[0] == 'M') {
    const std::string_view hex = body.substr(1);
    if (hex.size() != (body[0] == 'C' ? 4u : 6u)) return 0;
    for (char c : hex) {
      if (hex_value(c) < 0) return 0;
    }
    return len;
  }
  return 0;
}

}  // namespace hims::hl7v2::detail
