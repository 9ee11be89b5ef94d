// Internal ASCII character classes of the hl7v2 codec (locale-free, unlike <cctype>).
// Pure inline functions; thread-safe.
#pragma once

namespace hims::hl7v2::detail {

inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_upper_alnum(char c) { return (c >= 'A' && c <= 'Z') || is_digit(c); }
inline bool is_alnum(char c) { return is_upper_alnum(c) || (c >= 'a' && c <= 'z'); }

// The value of a hex digit (either case), or -1.
inline int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

}  // namespace hims::hl7v2::detail
