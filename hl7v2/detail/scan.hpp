// Internal byte search of the hl7v2 codec, tuned for the short pieces HL7 fields are made of.
// Pure inline functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace hims::hl7v2::detail {

// `c` in every byte of a word: computed once per range, reused for every search in it.
constexpr std::uint64_t broadcast(char c) {
  return 0x0101010101010101ull * static_cast<unsigned char>(c);
}

// First byte equal to `c` (whose broadcast is `pattern`) in [p, end), or end. Most components
// are a few bytes long, where a memchr call costs more than the search: those are scanned
// 8 bytes at a time in a register (SWAR), long ranges with memchr.
inline const char* find_byte(const char* p, const char* end, char c, std::uint64_t pattern) {
  if (end - p > 64) {
    const void* hit = std::memchr(p, c, static_cast<std::size_t>(end - p));
    return hit == nullptr ? end : static_cast<const char*>(hit);
  }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  constexpr std::uint64_t kOnes = 0x0101010101010101ull;
  constexpr std::uint64_t kHighs = 0x8080808080808080ull;
  while (end - p >= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    const std::uint64_t x = word ^ pattern;
    // The lowest flagged byte is exact (false positives only appear above a true match).
    const std::uint64_t zero = (x - kOnes) & ~x & kHighs;
    if (zero != 0) return p + (__builtin_ctzll(zero) >> 3);
    p += 8;
  }
#else
  (void)pattern;
#endif
  for (; p < end; ++p) {
    if (*p == c) return p;
  }
  return end;
}

inline const char* find_byte(const char* p, const char* end, char c) {
  return find_byte(p, end, c, broadcast(c));
}

}  // namespace hims::hl7v2::detail
