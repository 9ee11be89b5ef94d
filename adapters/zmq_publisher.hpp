// ZmqPublisher: the ZeroMQ destination's transport. A PUB socket bound to one endpoint, in its
// own ZeroMQ context; publish() sends [topic][payload] without blocking. One owner thread (not
// thread-safe: ZeroMQ sockets are not); movable. No ZeroMQ in this header.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/result.hpp"

namespace hims::adapters {

enum class ZmqErrc : std::uint8_t {
  bad_config,   // validate(): empty or unknown-scheme endpoint, out-of-range option
  bind_failed,  // the context, the socket, an option or the bind failed (zmq_strerror text)
  would_block,  // a subscriber's queue is at the high-water mark: retry later
  send_failed,  // any other send error
};

constexpr ErrorDomain error_domain(ZmqErrc) { return ErrorDomain::io; }
std::string_view to_string(ZmqErrc code);

struct ZmqPublisherConfig {
  std::string destination_id = "zmq";  // the `destination` log field
  // tcp://127.0.0.1:5556, tcp://127.0.0.1:* (an ephemeral port: endpoint() tells which),
  // ipc:///path, inproc://name (reachable only through context_handle()).
  std::string bind;
  int high_water_mark = 10000;             // ZMQ_SNDHWM, messages per subscriber; >= 1
  std::chrono::milliseconds linger{1000};  // ZMQ_LINGER: how long destruction flushes; >= 0
  // Errors (ZmqErrc::bad_config, where = the key).
  Status validate() const;
};

class ZmqPublisher {
 public:
  // Validates, creates the context and the PUB socket, sets ZMQ_SNDHWM, ZMQ_LINGER and
  // ZMQ_XPUB_NODROP (so a full queue is an error, not a silent drop) and binds.
  // Errors: ZmqErrc::bad_config, bind_failed (where = the endpoint, detail = zmq_strerror).
  static Result<ZmqPublisher> create(ZmqPublisherConfig config);

  ZmqPublisher(ZmqPublisher&&) noexcept;
  ZmqPublisher& operator=(ZmqPublisher&&) noexcept;
  // Closes the socket and waits up to `linger` for queued messages to reach their subscribers.
  ~ZmqPublisher();

  // Sends one two-frame message [topic][payload] with ZMQ_DONTWAIT. A subscriber at the
  // high-water mark: ZmqErrc::would_block (nothing was sent to anyone; the engine retries).
  // PUB semantics: with no (matching) subscriber ZeroMQ discards the message, and that counts as
  // sent. Errors: would_block, send_failed (also on a moved-from publisher).
  Status publish(std::string_view topic, std::string_view payload);

  // The bound endpoint (ZMQ_LAST_ENDPOINT: for tcp://host:* it has the real port).
  std::string endpoint() const;

  // The publisher's ZeroMQ context (a zmq_ctx_new() handle) for an in-process subscriber of an
  // inproc:// endpoint; valid while the publisher lives.
  void* context_handle() const;

 private:
  struct Impl;
  explicit ZmqPublisher(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace hims::adapters
