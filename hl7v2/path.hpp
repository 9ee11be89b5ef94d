// Path expressions naming parts of an HL7 v2 message: "PID-5.1", "PID-3[2].1", "OBX[3]-5",
// "PID-3[*].1", "PID-5.1.1", "OBX[*]-5", "MSH-9.2" ("PID-3(2)" is read as "PID-3[2]").
// Parsed once, then applied to many messages.
// Value type; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace hims::hl7v2 {

struct Path {
  static constexpr std::uint32_t kAll = 0xFFFFFFFFu;  // [*]
  static constexpr std::uint32_t kUnset = 0;          // not named: the whole element / first
  static constexpr std::uint32_t kMaxIndex = 9'999;   // larger numbers are a bad_path

  std::string segment;                  // "PID"
  std::uint32_t occurrence = 1;         // OBX[3] -> 3; OBX[*] -> kAll; default 1
  std::uint32_t field = kUnset;         // PID-3 -> 3; kUnset names the whole segment
  std::uint32_t repetition = kUnset;    // PID-3[2] -> 2; [*] -> kAll; kUnset -> the whole field
                                        // when nothing below is named, else the first repetition
  std::uint32_t component = kUnset;     // PID-3.1 -> 1
  std::uint32_t subcomponent = kUnset;  // PID-5.1.1 -> 1

  // Parses the text form; errors are Errc::bad_path with the column of the problem.
  static Result<Path> parse(std::string_view text);
  // The canonical text form ("PID-3[2].1"); parse(to_string()) gives back the same Path.
  std::string to_string() const;
  bool selects_many() const { return occurrence == kAll || repetition == kAll; }
  bool operator==(const Path&) const = default;
};

}  // namespace hims::hl7v2
