#include "adapters/mllp_errors.hpp"

namespace hims::adapters {

std::string_view to_string(MllpErrc code) {
  switch (code) {
    case MllpErrc::bad_config:
      return "bad_config";
    case MllpErrc::tls_config:
      return "tls_config";
    case MllpErrc::bind_failed:
      return "bind_failed";
    case MllpErrc::resolve_failed:
      return "resolve_failed";
    case MllpErrc::connect_failed:
      return "connect_failed";
    case MllpErrc::connect_timeout:
      return "connect_timeout";
    case MllpErrc::tls_handshake_failed:
      return "tls_handshake_failed";
    case MllpErrc::write_failed:
      return "write_failed";
    case MllpErrc::write_timeout:
      return "write_timeout";
    case MllpErrc::connection_closed:
      return "connection_closed";
    case MllpErrc::ack_timeout:
      return "ack_timeout";
    case MllpErrc::frame_too_large:
      return "frame_too_large";
    case MllpErrc::bad_frame:
      return "bad_frame";
    case MllpErrc::bad_message:
      return "bad_message";
    case MllpErrc::bad_ack:
      return "bad_ack";
    case MllpErrc::ack_control_id_mismatch:
      return "ack_control_id_mismatch";
  }
  return "unknown";
}

}  // namespace hims::adapters
