// MllpClient: the MLLP destination's transport. A blocking client with its own internal
// io_context: connects (time-out, bounded attempts with exponential backoff, optional TLS 1.2+),
// sends one message, waits for its ACK (time-out) and checks MSA-2 against the sent MSH-10.
// One client = one connection, reused across send() calls; not thread-safe (one sender per
// client; use one client per delivery worker). No Asio in this header.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "adapters/tls_config.hpp"
#include "engine/result.hpp"
#include "hl7v2/mllp_frame.hpp"

namespace hims::adapters {

using Millis = std::chrono::milliseconds;

struct MllpClientConfig {
  std::string destination_id = "mllp";  // the `destination` log field
  std::string host = "127.0.0.1";
  std::uint16_t port = 2575;
  Millis connect_timeout{std::chrono::seconds(10)};  // per attempt: resolve + TCP + TLS handshake
  int connect_attempts = 3;                          // >= 1; then send() fails
  Millis backoff_initial{std::chrono::milliseconds(250)};  // pause after the first failed attempt,
  Millis backoff_max{std::chrono::seconds(5)};             // doubled each time up to this
  Millis write_timeout{std::chrono::seconds(30)};
  Millis ack_timeout{std::chrono::seconds(30)};  // from the message written to the ACK complete
  std::size_t max_ack_bytes = 1u << 20;
  hl7v2::MllpTrailer trailer = hl7v2::MllpTrailer::lenient;
  std::optional<TlsClientConfig> tls;  // absent: plain TCP
  Status validate() const;
};

// A partner's ACK. MSA-2 has already been checked against the sent MSH-10.
struct AckResult {
  std::string code;        // MSA-1: AA/AE/AR (original mode) or CA/CE/CR (enhanced mode)
  std::string control_id;  // MSA-2
  std::string text;        // MSA-3, may be empty
  std::string ack;         // the ACK message as received, framing removed

  bool accepted() const { return code == "AA" || code == "CA"; }
  bool rejected() const { return code == "AR" || code == "CR"; }  // do not resend unchanged
  bool errored() const { return code == "AE" || code == "CE"; }
};

class MllpClient {
 public:
  // Validates the config and loads the TLS files (no connection yet).
  // Errors: MllpErrc::bad_config, tls_config.
  static Result<MllpClient> create(MllpClientConfig config);

  MllpClient(MllpClient&&) noexcept;
  MllpClient& operator=(MllpClient&&) noexcept;
  ~MllpClient();

  // Sends one HL7 v2 message and returns its ACK. The message must start with MSH, carry an
  // MSH-10 and use CR segment terminators (the caller normalizes line endings; bytes are sent as
  // given). Connects first when there is no live connection. A negative ACK (AE/AR/CE/CR) is a
  // value, not an error. Errors (MllpErrc): bad_message, resolve_failed, connect_failed,
  // connect_timeout, tls_handshake_failed, write_failed, write_timeout, connection_closed,
  // ack_timeout, frame_too_large, bad_frame, bad_ack, ack_control_id_mismatch. After any error
  // the connection is closed, so the next send() starts on a fresh one.
  // No retry of the message itself: the destination's owner (the engine) decides on retries.
  Result<AckResult> send(std::string_view message);

  bool connected() const;
  void close();

 private:
  struct Impl;
  explicit MllpClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// MSH-10 of an ER7 message (the raw field); error bad_message when there is no MSH or MSH-10.
Result<std::string_view> message_control_id(std::string_view message);

// Reads an ACK's MSA-1, MSA-2 and MSA-3 and checks MSA-2 == expected_control_id.
// Errors: bad_ack, ack_control_id_mismatch.
Result<AckResult> read_ack(std::string_view ack, std::string_view expected_control_id);

}  // namespace hims::adapters
