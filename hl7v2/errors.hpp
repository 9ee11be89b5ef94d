// The hl7v2 module's error codes, and their HL7 table 0357 (message error condition) codes.
// Constants only; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/result.hpp"

namespace hims::hl7v2 {

enum class Errc : std::uint8_t {
  empty_input,              // nothing but white space
  no_header,                // the first segment is not MSH (or BHS/FHS for a batch/file)
  bad_header,               // MSH too short to hold its delimiters, or fields unreadable
  bad_encoding_characters,  // MSH-2 not 4 (or 5 with v2.7 truncation) distinct legal characters
  bad_segment,              // a segment id that is not 2-3 letters/digits (after tolerances)
  too_large,                // over ParseLimits::max_bytes
  too_many_segments,        // over ParseLimits::max_segments
  too_many_fields,          // over ParseLimits::max_fields_per_segment
  invalid_text,             // bytes not valid in the message's declared charset (e.g. bad UTF-8)
  unsupported_charset,      // MSH-18 names a charset the engine cannot convert
  missing_field,            // a required field is empty (MSH-9, MSH-10, MSH-12 when checked)
  unsupported_version,      // MSH-12 is not a known HL7 v2 version (2.1 .. 2.8.2)
  bad_path,                 // a path expression that does not parse
  bad_value,                // a value that does not fit its data type (TS, NM ...)
  bad_envelope,             // batch/file structure: segment before MSH, second BHS/FHS ...
  not_settable,             // Message::set on MSH-1/MSH-2 or a [*] path
};

constexpr ErrorDomain error_domain(Errc) { return ErrorDomain::hl7v2; }
std::string_view to_string(Errc code);

// HL7 table 0357 codes used in ERR segments.
enum class ErrorCondition : std::uint16_t {
  accepted = 0,
  segment_sequence = 100,
  required_field_missing = 101,
  data_type = 102,
  table_value = 103,
  value_too_long = 104,
  unsupported_message_type = 200,
  unsupported_event_code = 201,
  unsupported_processing_id = 202,
  unsupported_version_id = 203,
  unknown_key = 204,
  duplicate_key = 205,
  application_record_locked = 206,
  application_internal_error = 207,
};

// The table 0357 code a parse or mapping error should be reported with.
ErrorCondition error_condition(Errc code);

}  // namespace hims::hl7v2
