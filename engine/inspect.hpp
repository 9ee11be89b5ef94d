// `hims-engine inspect`: renders the parsed structure of every HL7 v2 message in a file (segments,
// fields with their paths, raw and decoded values) as text or as a JSON document. Pure: the
// caller reads the file and prints the result. Thread-safe (no shared state).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hims::engine {

enum class InspectFormat : std::uint8_t { text, json };

struct InspectReport {
  std::string output;            // what to print on stdout
  std::size_t messages = 0;      // messages found in the file
  std::size_t parse_errors = 0;  // messages that did not parse, plus a stream (envelope) error
};

// `bytes` is the whole file; `name` is how it is called in the output.
InspectReport inspect_messages(std::string_view bytes, std::string_view name, InspectFormat format);

// The text with every byte sequence that is not valid UTF-8 replaced by U+FFFD.
std::string valid_utf8(std::string_view text);

}  // namespace hims::engine
