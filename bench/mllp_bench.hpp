// What the MLLP bench tools (mllp_load, mllp_sink) share: the framing bytes, the read size and
// a byte-scanning MSH-10 reader (no parser: the tools must cost as little as possible).
#pragma once

#include <cstddef>
#include <string_view>

namespace hims::bench {

inline constexpr char kVt = '\x0b';
inline constexpr char kFs = '\x1c';
inline constexpr char kCr = '\r';
inline constexpr std::size_t kReadChunk = std::size_t{64} * 1024;

// MSH-10 by byte scanning (the field separator is MSH-1, the 4th byte); empty when not found.
inline std::string_view control_id(std::string_view message) {
  const std::string_view msh = message.substr(0, message.find(kCr));
  if (msh.size() < 4 || !msh.starts_with("MSH")) return {};
  const char sep = msh[3];
  std::size_t pos = 3;  // MSH-10 starts after the 9th separator (MSH-1 is the first)
  for (int i = 0; i < 8 && pos != std::string_view::npos; ++i) pos = msh.find(sep, pos + 1);
  if (pos == std::string_view::npos) return {};
  const std::size_t end = msh.find(sep, pos + 1);
  return msh.substr(pos + 1,
                    end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
}

}  // namespace hims::bench
