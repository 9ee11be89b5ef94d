// The destination transports behind make_transport(): the adapters (MLLP client, file drop,
// ZeroMQ publisher) and how their answers become delivery verdicts.
#include <algorithm>
#include <limits>
#include <utility>
#include <variant>

#include "adapters/file_drop.hpp"
#include "adapters/mllp_client.hpp"
#include "adapters/mllp_errors.hpp"
#include "adapters/zmq_publisher.hpp"
#include "engine/delivery.hpp"

namespace hims::engine {

namespace {

// MLLP: AA/CA delivered; AE/CE and AR/CR as the destination's on_ae/on_ar say; a transport
// failure (refused, time-out, closed) is retried; a payload that is not an HL7 v2 message with
// MSH-10 can never be sent and is dead at once.
class MllpTransport final : public Transport {
 public:
  MllpTransport(adapters::MllpClient client, MllpDestinationConfig config)
      : client_(std::move(client)), config_(std::move(config)) {}

  Delivery deliver(const store::QueueItem& item) override {
    auto ack = client_.send(item.payload);
    if (!ack.ok()) {
      const Error& e = ack.error();
      if (e.is(adapters::MllpErrc::bad_message)) return Delivery::dead(e.message());
      return Delivery::retry(e.message());
    }
    if (ack->accepted()) return Delivery::delivered();
    const bool rejected = ack->rejected();
    const NackAction action = rejected ? config_.on_ar : config_.on_ae;
    std::string why = "partner answered " + ack->code;
    if (!ack->text.empty()) why += ": " + ack->text;
    return action == NackAction::retry ? Delivery::retry(std::move(why))
                                       : Delivery::dead(std::move(why));
  }

 private:
  adapters::MllpClient client_;
  MllpDestinationConfig config_;
};

class FileTransport final : public Transport {
 public:
  explicit FileTransport(adapters::FileDrop drop) : drop_(std::move(drop)) {}

  Delivery deliver(const store::QueueItem& item) override {
    adapters::FileDropItem f;
    f.id = item.id;
    f.journal_id = item.journal_id;
    f.route = item.route;
    f.source = item.source;
    f.payload = item.payload;
    f.at = item.enqueued_at;  // stable across redeliveries: {date}/{time} name the same file
    auto control_id = adapters::message_control_id(item.payload);
    if (control_id.ok()) f.control_id = *control_id;
    auto written = drop_.write(f);
    if (!written.ok()) {
      const Error& e = written.error();
      // A name that can never be written is permanent; a missing folder, permissions or a full
      // disk are for an operator to fix, so they are retried.
      if (e.is(adapters::FileDropErrc::name_too_long) || e.is(adapters::FileDropErrc::bad_config)) {
        return Delivery::dead(e.message());
      }
      return Delivery::retry(e.message());
    }
    return Delivery::delivered();
  }

 private:
  adapters::FileDrop drop_;
};

class ZmqTransport final : public Transport {
 public:
  ZmqTransport(adapters::ZmqPublisher publisher, std::optional<std::string> topic)
      : publisher_(std::move(publisher)), topic_(std::move(topic)) {}

  Delivery deliver(const store::QueueItem& item) override {
    Status sent = publisher_.publish(topic_ ? std::string_view(*topic_) : item.route, item.payload);
    if (!sent.ok()) return Delivery::retry(sent.error().message());
    return Delivery::delivered();
  }

 private:
  adapters::ZmqPublisher publisher_;
  std::optional<std::string> topic_;
};

}  // namespace

Result<std::unique_ptr<Transport>> make_transport(const DestinationConfig& config) {
  if (const auto* mllp = std::get_if<MllpDestinationConfig>(&config.transport)) {
    adapters::MllpClientConfig c;
    c.destination_id = config.id;
    c.host = mllp->connect.host;
    c.port = mllp->connect.port;
    c.connect_timeout = mllp->connect_timeout;
    c.ack_timeout = mllp->ack_timeout;
    c.connect_attempts = 1;  // the destination's retry policy paces reconnects
    c.tls = mllp->tls;
    auto client = adapters::MllpClient::create(std::move(c));
    if (!client.ok()) return client.take_error();
    return std::unique_ptr<Transport>(new MllpTransport(std::move(*client), *mllp));
  }
  if (const auto* file = std::get_if<FileDestinationConfig>(&config.transport)) {
    adapters::FileDropConfig c;
    c.destination_id = config.id;
    c.dir = file->dir;
    c.mode = file->mode == FileMode::append ? adapters::FileDropMode::append
                                            : adapters::FileDropMode::per_message;
    c.name_template = file->name;
    c.fsync = file->fsync;
    auto drop = adapters::FileDrop::create(std::move(c));
    if (!drop.ok()) return drop.take_error();
    return std::unique_ptr<Transport>(new FileTransport(std::move(*drop)));
  }
  const auto& zmq = std::get<ZmqDestinationConfig>(config.transport);
  adapters::ZmqPublisherConfig c;
  c.destination_id = config.id;
  c.bind = zmq.bind;
  c.high_water_mark = static_cast<int>(
      std::min<std::uint32_t>(zmq.high_water_mark, std::numeric_limits<int>::max()));
  auto publisher = adapters::ZmqPublisher::create(std::move(c));
  if (!publisher.ok()) return publisher.take_error();
  return std::unique_ptr<Transport>(new ZmqTransport(std::move(*publisher), zmq.topic));
}

}  // namespace hims::engine
