// What every bench tool may share without a dependency: the way out on an error and JSON string
// escaping for the one-line results.
#pragma once

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

namespace hims::bench {

// Prints "PROGRAM: WHY" and exits with status 1.
[[noreturn]] inline void die(const char* program, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program, why.c_str());
  std::exit(1);
}

// `s` as the inside of a JSON string: quote and backslash escaped, other bytes outside printable
// ASCII as \u00XX.
inline std::string json_escape(std::string_view s) {
  std::string out;
  for (const char ch : s) {
    const auto u = static_cast<unsigned char>(ch);
    if (ch == '"' || ch == '\\') {
      out += '\\';
      out += ch;
    } else if (u < 0x20 || u >= 0x7f) {
      std::array<char, 8> b{};
      std::snprintf(b.data(), b.size(), "\\u%04x", u);
      out += b.data();
    } else {
      out += ch;
    }
  }
  return out;
}

}  // namespace hims::bench
