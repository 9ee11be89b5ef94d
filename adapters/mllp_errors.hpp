// Error codes of the MLLP adapter (server, client, TLS set-up). Constants only; thread-safe.
#pragma once

#include <cstdint>
#include <string_view>

#include "engine/result.hpp"

namespace hims::adapters {

enum class MllpErrc : std::uint8_t {
  bad_config,               // a config value out of range (validate())
  tls_config,               // certificate, key or CA file unreadable, invalid or mismatched
  bind_failed,              // the listen address cannot be resolved, bound or listened on
  resolve_failed,           // the client cannot resolve the partner's host
  connect_failed,           // refused or unreachable after every attempt
  connect_timeout,          // the last attempt timed out (TCP connect or TLS handshake)
  tls_handshake_failed,     // certificate not trusted, name mismatch, no client certificate ...
  write_failed,             // the connection broke while sending
  write_timeout,            // the partner did not take the bytes in time
  connection_closed,        // the partner closed (or reset) before its ACK arrived
  ack_timeout,              // no complete ACK frame within ack_timeout
  frame_too_large,          // the ACK frame exceeds max_ack_bytes
  bad_frame,                // strict trailer: FS not followed by CR
  bad_message,              // the message to send has no MSH-10, or holds VT/FS bytes
  bad_ack,                  // the ACK has no MSH or MSA segment, or MSA-1 is not an ACK code
  ack_control_id_mismatch,  // MSA-2 differs from the sent MSH-10
};

constexpr ErrorDomain error_domain(MllpErrc) { return ErrorDomain::mllp; }
std::string_view to_string(MllpErrc code);

}  // namespace hims::adapters
