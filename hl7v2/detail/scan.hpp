// Internal byte search of the hl7v2 codec, tuned for the short pieces HL7 fields are made of.
// Pure inline functions; thread-safe.
//
// Reading past a range: a caller may pass `padded` = true only when at least kPad bytes after
// `end` belong to the same buffer (the rest of the message). The search then loads whole words
// that may reach into those bytes and ignores the lanes past `end`; it never reads past the
// caller's padding, so it stays inside the buffer (ASan-clean).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace hims::hl7v2::detail {

// Readable bytes after a range's end that `padded` promises: enough for one 16-byte load that
// starts anywhere inside the range.
inline constexpr std::size_t kPad = 15;

// `c` in every byte of a word: computed once per range, reused for every search in it.
constexpr std::uint64_t broadcast(char c) {
  return 0x0101010101010101ull * static_cast<unsigned char>(c);
}

// First byte equal to `c` (whose broadcast is `pattern`) in [p, end), or end. Most components
// are a few bytes long, where a memchr call costs more than the search: those are scanned
// 8 bytes at a time in a register (SWAR), long ranges with memchr. With `padded`, the last
// partial word is loaded whole and its lanes past `end` are masked off, so a short piece costs
// one word and no byte loop.
inline const char* find_byte(const char* p, const char* end, char c, std::uint64_t pattern,
                             bool padded = false) {
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
  if (padded) {
    const auto left = static_cast<unsigned>(end - p);  // 0..7
    if (left == 0) return end;
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    const std::uint64_t x = word ^ pattern;
    // Lanes past `end` are dropped; a borrow only moves upwards, so they cannot flag a lane
    // below them.
    const std::uint64_t zero = (x - kOnes) & ~x & kHighs & ((std::uint64_t{1} << (8 * left)) - 1);
    return zero != 0 ? p + (__builtin_ctzll(zero) >> 3) : end;
  }
#else
  (void)pattern;
  (void)padded;
#endif
  for (; p < end; ++p) {
    if (*p == c) return p;
  }
  return end;
}

inline const char* find_byte(const char* p, const char* end, char c) {
  return find_byte(p, end, c, broadcast(c));
}

// Bit i set when p[i] is a, b or c, for i < n (n <= 16; bits from n up are clear). Reads
// 16 bytes at p when `readable16` (n == 16, or the range is padded), else exactly n bytes.
inline std::uint32_t match3_mask16(const char* p, std::size_t n, bool readable16, char a, char b,
                                   char c) {
  const std::uint32_t valid = n >= 16 ? 0xFFFFu : (std::uint32_t{1} << n) - 1;
#if defined(__SSE2__)
  __m128i v;
  if (readable16) {
    v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  } else {
    alignas(16) char tmp[16] = {};
    std::memcpy(tmp, p, n);
    v = _mm_load_si128(reinterpret_cast<const __m128i*>(tmp));
  }
  const __m128i hits = _mm_or_si128(
      _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8(a)), _mm_cmpeq_epi8(v, _mm_set1_epi8(b))),
      _mm_cmpeq_epi8(v, _mm_set1_epi8(c)));
  return static_cast<std::uint32_t>(_mm_movemask_epi8(hits)) & valid;
#else
  (void)readable16;
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n && i < 16; ++i) {
    const char ch = p[i];
    m |= static_cast<std::uint32_t>(ch == a || ch == b || ch == c) << i;
  }
  return m & valid;
#endif
}

// The n-th (1-based) piece of `s` split on `sep`; empty when absent.
inline std::string_view nth_piece(std::string_view s, char sep, std::size_t n) {
  if (n == 0) return {};
  const char* p = s.data();
  const char* end = p + s.size();
  for (std::size_t i = 1; i < n; ++i) {
    const char* hit = find_byte(p, end, sep);
    if (hit == end) return {};
    p = hit + 1;
  }
  const char* e = find_byte(p, end, sep);
  return std::string_view(p, static_cast<std::size_t>(e - p));
}

}  // namespace hims::hl7v2::detail
