// MllpServer: the MLLP source. Listens on host:port (plain TCP or TLS 1.2+), decodes frames and
// hands each message to the engine as an Envelope; answers with the engine's ACK, in order, per
// connection. Runs on an io_context the caller owns (and runs on any number of threads); start,
// stop, port and stats are thread-safe. No Asio in this header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "adapters/tls_config.hpp"
#include "engine/envelope.hpp"
#include "engine/result.hpp"
#include "hl7v2/mllp_frame.hpp"

namespace boost::asio {
class io_context;
}

namespace hims::adapters {

using Millis = std::chrono::milliseconds;

struct MllpServerConfig {
  std::string source_id = "mllp";     // Envelope::source and the `source` log field
  std::string host = "127.0.0.1";     // an IP address or a name ("0.0.0.0", "::", "localhost")
  std::uint16_t port = 2575;          // 0: any free port (MllpServer::port() tells which)
  std::size_t max_connections = 256;  // more are accepted, logged and closed at once
  std::size_t max_message_bytes = 16u << 20;  // a longer frame: log line, connection closed
  hl7v2::MllpTrailer trailer = hl7v2::MllpTrailer::lenient;  // see hl7v2/mllp_frame.hpp
  Millis idle_timeout{std::chrono::minutes(5)};    // nothing in progress and nothing received
  Millis read_timeout{std::chrono::seconds(30)};   // a frame (or the TLS handshake) not finished
  Millis write_timeout{std::chrono::seconds(30)};  // an ACK not taken by the sender
  Millis reply_timeout{std::chrono::seconds(60)};  // the engine has not answered an envelope
  std::optional<TlsServerConfig> tls;              // absent: plain TCP
  Status validate() const;
};

// What the engine answers for one Envelope.
struct MllpReply {
  enum class Action : std::uint8_t { send_ack, close };
  Action action = Action::send_ack;
  std::string ack;  // send_ack: the ACK message (CR-terminated segments) without MLLP framing

  static MllpReply send_ack(std::string ack_message) {
    return {Action::send_ack, std::move(ack_message)};
  }
  // Close without answering (the sender will resend), e.g. when the journal is unavailable.
  static MllpReply close() { return {Action::close, {}}; }
};

namespace detail {
struct ReplySlot;
}

// The engine's way to answer one Envelope. Copyable; call it once, from any thread, at any time
// (later calls are ignored). If every copy is destroyed without a call, the connection is closed
// as if MllpReply::close() had been sent. Calling it after the connection is gone is harmless.
class MllpReplier {
 public:
  explicit MllpReplier(std::shared_ptr<detail::ReplySlot> slot) : slot_(std::move(slot)) {}
  void operator()(MllpReply reply) const;

 private:
  std::shared_ptr<detail::ReplySlot> slot_;
};

// Called on the connection's strand for every complete frame, in order. It must not block (post
// the work elsewhere); the connection reads nothing more until the replier is called. Must not
// throw (an exception is logged and closes the connection).
using MllpHandler = std::function<void(Envelope envelope, MllpReplier reply)>;

// Counters (monotonic, except connections_active). Read with .load(); updated concurrently.
struct MllpServerStats {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};  // over max_connections, or while stopping
  std::atomic<std::uint64_t> connections_active{0};
  std::atomic<std::uint64_t> tls_handshake_failures{0};
  std::atomic<std::uint64_t> frames_received{0};
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_outside_frames{0};
  std::atomic<std::uint64_t> frames_abandoned{0};  // a VT restarted an unfinished frame
  std::atomic<std::uint64_t> frames_too_large{0};
  std::atomic<std::uint64_t> bad_frames{0};  // strict trailer violations
  std::atomic<std::uint64_t> idle_timeouts{0};
  std::atomic<std::uint64_t> read_timeouts{0};
  std::atomic<std::uint64_t> write_timeouts{0};
  std::atomic<std::uint64_t> reply_timeouts{0};
  std::atomic<std::uint64_t> acks_sent{0};
  std::atomic<std::uint64_t> closed_by_engine{0};  // MllpReply::close()
};

class MllpServer {
 public:
  // Validates the config, loads the TLS files, binds and listens, then accepts on `io`.
  // Errors: MllpErrc::bad_config, tls_config, bind_failed.
  static Result<MllpServer> start(boost::asio::io_context& io, MllpServerConfig config,
                                  MllpHandler handler);

  MllpServer(MllpServer&&) noexcept;
  MllpServer& operator=(MllpServer&&) noexcept;
  ~MllpServer();  // stop(); destroy the server before its io_context

  // The bound port (the real one when config.port was 0).
  std::uint16_t port() const;
  const MllpServerConfig& config() const;
  const MllpServerStats& stats() const;

  // Graceful stop, asynchronous and idempotent: closes the listener, closes idle connections and
  // connections in the middle of a frame (no ACK owed), lets connections waiting for the engine
  // write their ACK first. The io_context runs out of this server's work once stopped() is true.
  void stop();
  bool stopped() const;

 private:
  struct Impl;
  explicit MllpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace hims::adapters
