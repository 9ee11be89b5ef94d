// Reading files that hold one or many HL7 v2 messages (single messages, batches, library files,
// MLLP captures) into messages ready to send: each message's segments terminated by CR only.
// Pure; thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"

namespace hims::engine {

// One message's segments joined by CR: CRLF and LF become CR, empty segments (blank lines) are
// dropped, and no terminator follows the last segment (EXPECTATIONS item 19).
std::string normalize_segments(std::string_view message);

// Splits with hl7v2::split_stream (comment lines skipped) and normalizes each message.
// Errors are the splitter's (hl7v2 bad_envelope, empty_input ...).
Result<std::vector<std::string>> split_message_file(std::string_view bytes);

}  // namespace hims::engine
