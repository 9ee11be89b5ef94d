// Acknowledger: what `run` answers each inbound HL7 v2 message with: AA (CA in enhanced mode) for a
// message that parses and has a usable header, AR (CR) with ERR segments for one that does not
// parse or has an unsupported version, and AE (CE) with ERR 207 when the message could not be
// journaled (error_ack()). `run` sends the AA/AR only once the journal commit holds the message.
// One per source; its methods are const and thread-safe (the control-id counter is atomic).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.hpp"
#include "hl7v2/ack.hpp"
#include "hl7v2/message.hpp"

namespace hims::engine {

// The decision for one message, with what may be logged about it (no PHI: ids, codes, sizes).
struct Acknowledgement {
  std::string ack;           // the ACK message, CR-terminated segments, no MLLP framing
  std::string code;          // MSA-1: AA, CA, AR, CR ...
  std::string control_id;    // MSH-10 of the message (as far as it could be read)
  std::string message_type;  // MSH-9.1^MSH-9.2
  std::string version;       // MSH-12.1
  bool accepted = false;
  std::string reason;  // why not accepted: "hl7v2.bad_header at MSH-2: ..." (positions only)

  // Journal metadata, as far as the header could be read (raw ER7, as in the message).
  std::string message_code;         // MSH-9.1 "ORU"
  std::string trigger_event;        // MSH-9.2 "R01"
  std::string sending_application;  // MSH-3
  std::string sending_facility;     // MSH-4
  hl7v2::OriginalHeader header;     // what error_ack() answers to
};

class Acknowledger {
 public:
  // ACK control ids (MSH-10) are `control_id_prefix` followed by a counter: give each run a
  // different prefix (control_id_prefix_for() below) so ids stay unique across restarts.
  Acknowledger(AckConfig ack, std::uint64_t max_message_size, std::string control_id_prefix);

  // `now` is MSH-7 of the ACK (the engine's clock, injected so tests can fix it).
  Acknowledgement acknowledge(std::string_view message,
                              std::chrono::system_clock::time_point now) const {
    return acknowledge(message, parse(message), now);
  }
  // The same for a message the caller parsed with parse() (`parsed` views `message`), so it can
  // route that parse too instead of parsing the message again.
  Acknowledgement acknowledge(std::string_view message, const Result<hl7v2::MessageView>& parsed,
                              std::chrono::system_clock::time_point now) const;
  // The message as acknowledge() reads it: bounded by max_message_size.
  Result<hl7v2::MessageView> parse(std::string_view message) const;

  // The answer for a message acknowledge() judged but that was not stored (journal write failed,
  // queue full, shutting down): AE (CE in enhanced mode; the application ack when MSH-15 asks for
  // no accept ack) with ERR 207 "application internal error" and `detail` (no PHI), so the sender
  // sends it again. Metadata are `original`'s; a new ACK control id.
  Acknowledgement error_ack(const Acknowledgement& original, std::string_view detail,
                            std::chrono::system_clock::time_point now) const;

 private:
  std::string next_control_id() const;
  hl7v2::AckOptions ack_options(std::chrono::system_clock::time_point now) const;
  // Builds the ACK for `outcome` into out.ack and sets out.code / out.accepted.
  static void answer(Acknowledgement& out, hl7v2::AckOutcome outcome,
                     const hl7v2::AckOptions& options, const std::vector<hl7v2::AckError>& errors);

  AckConfig ack_;
  std::uint64_t max_message_size_;
  std::string control_id_prefix_;
  mutable std::atomic<std::uint64_t> counter_{0};
};

// A short prefix (at most 9 characters) derived from the start time: "A" + seconds in base 36.
std::string control_id_prefix_for(std::chrono::system_clock::time_point start);

}  // namespace hims::engine
