// HL7 v2 acknowledgements: building ACK messages (original mode AA/AE/AR, enhanced mode CA/CE/CR
// honouring MSH-15/MSH-16) with ERR segments laid out for the original's version, recovering the
// header of a message that does not parse, and reading ACKs back. Pure functions over value
// types: no I/O, no clock (the caller passes MSH-7 and the control id); thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/result.hpp"
#include "hl7v2/errors.hpp"
#include "hl7v2/message.hpp"

namespace hims::hl7v2 {

// MSA-1 (HL7 table 0008).
enum class AckCode : std::uint8_t {
  application_accept,  // AA
  application_error,   // AE
  application_reject,  // AR
  commit_accept,       // CA
  commit_error,        // CE
  commit_reject,       // CR
};
std::string_view to_string(AckCode code);  // "AA" ...
std::optional<AckCode> ack_code_from(std::string_view text);
// AA and CA.
bool is_positive(AckCode code);

// What the engine concluded about a message; the mode turns it into A* or C* codes.
//   accepted: stored (accept ack) / processed (application ack)
//   error:    could not be stored / processed for a reason on our side or in the content (AE/CE)
//   rejected: refused for what the message is: unsupported type, version, processing id (AR/CR)
enum class AckOutcome : std::uint8_t { accepted, error, rejected };

enum class AckMode : std::uint8_t {
  original,  // MSH-15 and MSH-16 both empty: one application ack, AA/AE/AR
  enhanced,  // either valued: accept ack CA/CE/CR per MSH-15, application ack per MSH-16
};

// HL7 table 0155 (MSH-15, MSH-16). In enhanced mode an empty or unknown value counts as
// `always`: answering is safer than leaving the sender waiting.
enum class AckCondition : std::uint8_t { always, never, error_only, success_only };  // AL NE ER SU
std::optional<AckCondition> ack_condition_from(std::string_view text);

// HL7 table 0516 (ERR-4).
enum class ErrorSeverity : std::uint8_t { error, warning, information };  // E W I

// Where in the original message an error is (ERR-2 ERL / ERR-1 ELD). 0 / empty = not known.
struct ErrorLocation {
  std::string segment;           // "PID"
  std::uint32_t sequence = 0;    // 1-based occurrence of that segment
  std::uint32_t field = 0;       // field position
  std::uint32_t repetition = 0;  // 1-based; written only when a field is named
  std::uint32_t component = 0;
  std::uint32_t subcomponent = 0;
  bool operator==(const ErrorLocation&) const = default;
};

// One ERR entry. `detail` is short, free of PHI (positions and sizes, never values).
struct AckError {
  ErrorCondition condition = ErrorCondition::application_internal_error;
  ErrorLocation location;
  ErrorSeverity severity = ErrorSeverity::error;
  std::string detail;  // v2.5+: ERR-8 user message; before v2.5: MSA-3 when no text is given
  bool operator==(const AckError&) const = default;
};

// The standard text of a table 0357 code ("Unsupported version id"); "" for codes not in it.
std::string_view condition_text(ErrorCondition condition);

// The ERR entry for an error from the parser or elsewhere: table 0357 code from
// error_condition() (207 for errors of other modules), location from the error's `where`
// ("MSH-12", "PID-3[2].1", "OBX[2]-5", "segment 3"), or the field the code implies
// (bad_encoding_characters -> MSH-2, unsupported_version -> MSH-12, unsupported_charset ->
// MSH-18), detail from the error's name and detail.
AckError to_ack_error(const Error& error);

// What an ACK needs from the original's MSH, as raw ER7 in `delimiters` (already escaped), so
// it can be echoed byte for byte. Owns its strings.
struct OriginalHeader {
  Delimiters delimiters;
  std::string sending_application;    // MSH-3
  std::string sending_facility;       // MSH-4
  std::string receiving_application;  // MSH-5
  std::string receiving_facility;     // MSH-6
  std::string message_code;           // MSH-9.1
  std::string trigger_event;          // MSH-9.2
  std::string control_id;             // MSH-10
  std::string processing_id;          // MSH-11 (whole field: processing id ^ mode)
  std::string version;                // MSH-12.1
  std::string accept_ack_type;        // MSH-15
  std::string application_ack_type;   // MSH-16
  std::string charset;                // MSH-18 (first repetition), when charset_from_msh18 knows it

  // From a parsed message.
  static OriginalHeader from(const MessageView& message);
  // From raw bytes that may not parse: the first MSH in the buffer (after a BOM, white space or
  // MLLP start block), split on the byte after "MSH"; encoding characters used when they are 4
  // or 5 distinct punctuation characters, else the defaults (and the recovered fields are
  // escaped for them). A field that holds control bytes, more than 256 bytes or bytes not
  // valid in its charset (UTF-8 unless MSH-18 says otherwise) is dropped rather than echoed. Never
  // fails: what cannot be read is empty.
  static OriginalHeader recover(std::string_view bytes);
};

// Original mode unless MSH-15 or MSH-16 is valued.
AckMode ack_mode(const OriginalHeader& header);
// MSH-15 / MSH-16 as conditions (always when empty or unknown).
AckCondition accept_ack_condition(const OriginalHeader& header);
AckCondition application_ack_condition(const OriginalHeader& header);

struct AckOptions {
  // Our MSH-3 / MSH-4, written with '^' between HD components ("HIMS^1.2.3^ISO"); each component
  // is escaped for the original's delimiters. Empty: the original's MSH-5 / MSH-6.
  std::string sending_application;
  std::string sending_facility;
  std::string timestamp;   // MSH-7, a DTM from the caller's clock (Timestamp::to_hl7())
  std::string control_id;  // MSH-10 of the ACK; required
  // MSA-3. Written for every version when given; before v2.5, when empty and there are
  // errors, the first error's detail (or its code's text) is written instead.
  std::string text;
  // Used for MSH-12 and the ERR layout when the original's version is empty or unreadable.
  std::string fallback_version = "2.5.1";
};

// The ACK with an explicit MSA-1 code. Layout (segments end with CR, no MLLP framing):
//   MSH  the original's delimiters; MSH-3/4 ours, MSH-5/6 the original's MSH-3/4; MSH-7 and
//        MSH-10 from options; MSH-9 ACK^<trigger>^ACK (ACK^<trigger> before v2.3.1);
//        MSH-11 (P when absent) and MSH-12.1 (fallback_version when absent) echoed; MSH-18 echoed
//        when it names a known charset.
//   MSA  code | original MSH-10 | text | | | MSA-6 (v2.2-2.4: first error's code^text^HL70357)
//   ERR  v2.5 and later: one segment per error, ERR-2 ERL, ERR-3 code^text^HL70357, ERR-4
//        E/W/I, ERR-8 detail. Before v2.5: one segment, ERR-1 repeating ELD
//        segment^sequence^field^code&text&HL70357.
std::string build_ack(const OriginalHeader& original, AckCode code, const AckOptions& options,
                      std::span<const AckError> errors = {});

// The code for an outcome: CA/CE/CR with `commit`, else AA/AE/AR.
AckCode ack_code(AckOutcome outcome, bool commit);
// The codes of the two acknowledgements below, nullopt when the header says not to send one:
// what build_accept_ack and build_application_ack put in MSA-1.
std::optional<AckCode> accept_ack_code(const OriginalHeader& original, AckOutcome outcome);
std::optional<AckCode> application_ack_code(const OriginalHeader& original, AckOutcome outcome);

// The acknowledgement the engine sends on receipt: in original mode AA/AE/AR, always sent; in
// enhanced mode CA/CE/CR, or nullopt when MSH-15 says not to send one (NE; ER and success;
// SU and error/reject).
std::optional<std::string> build_accept_ack(const OriginalHeader& original, AckOutcome outcome,
                                            const AckOptions& options,
                                            std::span<const AckError> errors = {});
// The acknowledgement after processing: AA/AE/AR; in enhanced mode nullopt when MSH-16 says
// not to send one. In original mode this is the same message as build_accept_ack.
std::optional<std::string> build_application_ack(const OriginalHeader& original, AckOutcome outcome,
                                                 const AckOptions& options,
                                                 std::span<const AckError> errors = {});

// Checks what must hold before a message is accepted at all: MSH-9 and MSH-10 present (101),
// MSH-12 a known HL7 v2 version, 2.1 .. 2.8.2 (203). Empty when none fails.
std::vector<AckError> check_header(const OriginalHeader& original);

// An ACK read back (by the MLLP client checking its partner's answer).
struct AckReply {
  AckCode code = AckCode::application_accept;  // MSA-1
  std::string control_id;                      // MSA-2, decoded: the acknowledged MSH-10
  std::string text;                            // MSA-3, decoded
  std::vector<AckError> errors;                // every ERR (both layouts), in order
  bool positive() const { return is_positive(code); }
};

// Reads MSA and ERR from a parsed ACK (or any response with an MSA). Errors: missing_field at
// "MSA" when there is none or MSA-1 is empty, bad_value at "MSA-1" for an unknown code.
[[nodiscard]] Result<AckReply> read_ack(const MessageView& ack);
// Parses, then reads.
[[nodiscard]] Result<AckReply> read_ack(std::string_view bytes);

}  // namespace hims::hl7v2
