// The ZeroMQ publisher: cppzmq over libzmq. cppzmq reports failures as zmq::error_t exceptions;
// they are caught here and become ZmqErrc values, so none leaves this file.
#include "adapters/zmq_publisher.hpp"

#include <zmq.hpp>

#include <array>
#include <limits>
#include <utility>

#include "engine/log.hpp"

namespace hims::adapters {

std::string_view to_string(ZmqErrc code) {
  switch (code) {
    case ZmqErrc::bad_config:
      return "bad_config";
    case ZmqErrc::bind_failed:
      return "bind_failed";
    case ZmqErrc::would_block:
      return "would_block";
    case ZmqErrc::send_failed:
      return "send_failed";
  }
  return "unknown";
}

namespace {
constexpr std::array<std::string_view, 3> kSchemes{"tcp://", "ipc://", "inproc://"};
}  // namespace

Status ZmqPublisherConfig::validate() const {
  auto bad = [](std::string key, std::string detail) {
    return Error(ZmqErrc::bad_config, std::move(key), std::move(detail));
  };
  if (destination_id.empty()) return bad("destination_id", "must not be empty");
  if (bind.empty()) return bad("bind", "must be set (tcp://host:port, ipc://path, inproc://name)");
  bool known = false;
  for (const std::string_view scheme : kSchemes) {
    if (bind.starts_with(scheme)) known = bind.size() > scheme.size();
  }
  if (!known) return bad("bind", "must be tcp://host:port, ipc://path or inproc://name");
  if (high_water_mark < 1) return bad("high_water_mark", "must be at least 1");
  if (linger.count() < 0) return bad("linger", "must not be negative");
  if (linger.count() > std::numeric_limits<int>::max()) return bad("linger", "too large");
  return {};
}

struct ZmqPublisher::Impl {
  explicit Impl(ZmqPublisherConfig c)
      : config(std::move(c)), context(1), socket(context, zmq::socket_type::pub) {}

  ZmqPublisherConfig config;
  zmq::context_t context;  // declared before the socket: destroyed after it, flushing (linger)
  zmq::socket_t socket;
  std::string endpoint;
};

ZmqPublisher::ZmqPublisher(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ZmqPublisher::ZmqPublisher(ZmqPublisher&&) noexcept = default;
ZmqPublisher& ZmqPublisher::operator=(ZmqPublisher&&) noexcept = default;
ZmqPublisher::~ZmqPublisher() = default;

Result<ZmqPublisher> ZmqPublisher::create(ZmqPublisherConfig config) {
  if (auto valid = config.validate(); !valid) return valid.take_error();
  const std::string bind = config.bind;
  try {
    auto impl = std::make_unique<Impl>(std::move(config));
    auto& socket = impl->socket;
    socket.set(zmq::sockopt::sndhwm, impl->config.high_water_mark);
    socket.set(zmq::sockopt::linger, static_cast<int>(impl->config.linger.count()));
    // A full subscriber queue makes send() fail with EAGAIN instead of dropping the message.
    socket.set(zmq::sockopt::xpub_nodrop, true);
    socket.bind(bind);
    impl->endpoint = socket.get(zmq::sockopt::last_endpoint);
    log::info("ZeroMQ publisher bound",
              {{"destination", impl->config.destination_id}, {"endpoint", impl->endpoint}});
    return ZmqPublisher(std::move(impl));
  } catch (const zmq::error_t& e) {
    return Error(ZmqErrc::bind_failed, bind, e.what());
  }
}

Status ZmqPublisher::publish(std::string_view topic, std::string_view payload) {
  if (!impl_) return Error(ZmqErrc::send_failed, "", "publisher was moved from");
  auto& socket = impl_->socket;
  try {
    const auto sent = socket.send(zmq::const_buffer(topic.data(), topic.size()),
                                  zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    if (!sent) {
      return Error(ZmqErrc::would_block, impl_->endpoint,
                   "a subscriber's queue is at the high-water mark (" +
                       std::to_string(impl_->config.high_water_mark) + " messages)");
    }
    // Cannot be EAGAIN: libzmq counts whole messages against the high-water mark, so once the
    // first frame passed the check the last one passes too.
    const auto rest =
        socket.send(zmq::const_buffer(payload.data(), payload.size()), zmq::send_flags::dontwait);
    if (!rest) return Error(ZmqErrc::send_failed, impl_->endpoint, "payload frame not accepted");
  } catch (const zmq::error_t& e) {
    return Error(ZmqErrc::send_failed, impl_->endpoint, e.what());
  }
  return {};
}

std::string ZmqPublisher::endpoint() const { return impl_ ? impl_->endpoint : std::string(); }

void* ZmqPublisher::context_handle() const { return impl_ ? impl_->context.handle() : nullptr; }

}  // namespace hims::adapters
