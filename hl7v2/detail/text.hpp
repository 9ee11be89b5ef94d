// Internal text helpers of the hl7v2 codec: charset conversion to UTF-8, UTF-8 validation and
// recognition of formatting escapes. Pure functions; thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "hl7v2/message.hpp"

namespace hims::hl7v2::detail {

// Appends `bytes`, read in `charset`, as UTF-8 (ascii and utf8 are copied as they are).
void append_as_utf8(std::string& out, std::string_view bytes, Charset charset);
void append_code_point(std::string& out, std::uint32_t cp);
// The code point of an ISO-8859-15 byte.
std::uint32_t latin9_code_point(unsigned char byte);
// The windows-1252 byte (0x80..0xFF) that reads as code point `cp`, or -1 when there is none.
int cp1252_byte(std::uint32_t cp);
// True when `bytes` is well-formed UTF-8 (no overlongs, surrogates or values above U+10FFFF).
bool is_valid_utf8(std::string_view bytes);
// Offset of the first byte that breaks UTF-8, or bytes.size() when it is valid.
std::size_t utf8_error_offset(std::string_view bytes);

// `text` starts with the escape character. When it begins a formatting escape the codec keeps as
// it is (\H\ \N\ \.br\ \.sp..\ \.in..\ \.ti..\ \.sk..\ \.ce\ \.fi\ \.nf\ \Zxx\ \Cxxyy\ \Mxxyyzz\),
// returns its length including both escape characters, else 0.
std::size_t formatting_escape_length(std::string_view text, char escape);

}  // namespace hims::hl7v2::detail
