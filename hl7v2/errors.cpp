#include "hl7v2/errors.hpp"

namespace hims::hl7v2 {

std::string_view to_string(Errc code) {
  switch (code) {
    case Errc::empty_input:
      return "empty_input";
    case Errc::no_header:
      return "no_header";
    case Errc::bad_header:
      return "bad_header";
    case Errc::bad_encoding_characters:
      return "bad_encoding_characters";
    case Errc::bad_segment:
      return "bad_segment";
    case Errc::too_large:
      return "too_large";
    case Errc::too_many_segments:
      return "too_many_segments";
    case Errc::too_many_fields:
      return "too_many_fields";
    case Errc::invalid_text:
      return "invalid_text";
    case Errc::unsupported_charset:
      return "unsupported_charset";
    case Errc::missing_field:
      return "missing_field";
    case Errc::unsupported_version:
      return "unsupported_version";
    case Errc::bad_path:
      return "bad_path";
    case Errc::bad_value:
      return "bad_value";
    case Errc::bad_envelope:
      return "bad_envelope";
    case Errc::not_settable:
      return "not_settable";
  }
  return "unknown";
}

ErrorCondition error_condition(Errc code) {
  switch (code) {
    case Errc::empty_input:
    case Errc::no_header:
    case Errc::bad_segment:
    case Errc::bad_envelope:
      return ErrorCondition::segment_sequence;
    case Errc::missing_field:
      return ErrorCondition::required_field_missing;
    case Errc::bad_header:
    case Errc::bad_encoding_characters:
    case Errc::invalid_text:
    case Errc::unsupported_charset:
    case Errc::bad_value:
      return ErrorCondition::data_type;
    case Errc::unsupported_version:
      return ErrorCondition::unsupported_version_id;
    case Errc::too_large:
    case Errc::too_many_segments:
    case Errc::too_many_fields:
    case Errc::bad_path:
    case Errc::not_settable:
      return ErrorCondition::application_internal_error;
  }
  return ErrorCondition::application_internal_error;
}

}  // namespace hims::hl7v2
