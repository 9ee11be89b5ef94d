// Path expressions naming parts of an HL7 v2 message: "PID-5.1", "PID-3[2].1", "OBX[3]-5",
// "PID-3[*].1", "PID-5.1.1", "OBX[*]-5", "MSH-9.2" ("PID-3(2)" is read as "PID-3[2]"), and the
// repetition filter "PID-3[5=MR].1" (the first repetition whose component 5 is MR).
// Parsed once, then applied to many messages.
// Value type; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace hims::hl7v2 {

class ElementView;

struct Path {
  static constexpr std::uint32_t kAll = 0xFFFFFFFFu;  // [*]
  static constexpr std::uint32_t kFiltered =
      0xFFFFFFFEu;                                   // [c=VALUE]: the repetition `filter` picks
  static constexpr std::uint32_t kUnset = 0;         // not named: the whole element / first
  static constexpr std::uint32_t kMaxIndex = 9'999;  // larger numbers are a bad_path

  // "[5=MR]" / "[4.1=HOSP]": the first repetition whose component (sub-component) equals `value`,
  // compared with the decoded text (escapes decoded, UTF-8).
  struct RepetitionFilter {
    std::uint32_t component = 1;
    std::uint32_t subcomponent = kUnset;
    std::string value;  // never empty

    bool matches(const ElementView& rep) const;
    bool operator==(const RepetitionFilter&) const = default;
  };

  std::string segment;                     // "PID"
  std::uint32_t occurrence = 1;            // OBX[3] -> 3; OBX[*] -> kAll; default 1
  std::uint32_t field = kUnset;            // PID-3 -> 3; kUnset names the whole segment
  std::uint32_t repetition = kUnset;       // PID-3[2] -> 2; [*] -> kAll; [5=MR] -> kFiltered;
                                           // kUnset -> the whole field when nothing below is
                                           // named, else the first repetition
  std::uint32_t component = kUnset;        // PID-3.1 -> 1
  std::uint32_t subcomponent = kUnset;     // PID-5.1.1 -> 1
  std::optional<RepetitionFilter> filter;  // set exactly when repetition is kFiltered

  // Parses the text form; errors are Errc::bad_path with the column of the problem.
  static Result<Path> parse(std::string_view text);
  // The canonical text form ("PID-3[2].1"); parse(to_string()) gives back the same Path.
  std::string to_string() const;
  // True for [*] paths, and for filtered ones, which cannot be set (Message::set refuses both).
  bool selects_many() const {
    return occurrence == kAll || repetition == kAll || repetition == kFiltered;
  }
  bool filtered() const { return repetition == kFiltered; }

  // What this path names inside `whole` (the field `field` of a segment it names): the
  // repetition (by number, [*] -> the first, or the filter's match), then the component and
  // sub-component. Empty when nothing matches. MessageView::get and select do not know filters
  // yet (a filtered path selects nothing there): evaluate filtered paths with this.
  ElementView in_field(const ElementView& whole) const;

  bool operator==(const Path&) const = default;
};

}  // namespace hims::hl7v2
