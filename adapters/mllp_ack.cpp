// message_control_id() and read_ack(): correlate an ACK with the message it answers, reading both
// with the hl7v2 codec.
#include <string>
#include <string_view>

#include "adapters/mllp_client.hpp"
#include "adapters/mllp_errors.hpp"
#include "hl7v2/ack.hpp"
#include "hl7v2/message.hpp"

namespace hims::adapters {

Result<std::string_view> message_control_id(std::string_view message) {
  auto parsed = hl7v2::MessageView::parse(message);
  if (!parsed.ok() || parsed->segment_count() == 0 || parsed->header().name() != "MSH") {
    return Error(MllpErrc::bad_message, "MSH", "the message does not start with a readable MSH");
  }
  if (parsed->control_id().empty()) {
    return Error(MllpErrc::bad_message, "MSH-10", "no message control id");
  }
  return parsed->control_id();  // a view into `message`, not into the parsed index
}

Result<AckResult> read_ack(std::string_view ack, std::string_view expected_control_id) {
  auto reply = hl7v2::read_ack(ack);
  if (!reply.ok()) {
    return Error(MllpErrc::bad_ack, reply.error().where(), reply.error().message());
  }
  AckResult out;
  out.code = std::string(hl7v2::to_string(reply->code));
  out.control_id = std::move(reply->control_id);
  out.text = std::move(reply->text);
  if (out.control_id != expected_control_id) {
    // Control ids are identifiers, not PHI: both go into the detail for the operator.
    return Error(
        MllpErrc::ack_control_id_mismatch, "MSA-2",
        "expected '" + std::string(expected_control_id) + "', got '" + out.control_id + "'");
  }
  out.ack = std::string(ack);
  return out;
}

}  // namespace hims::adapters
