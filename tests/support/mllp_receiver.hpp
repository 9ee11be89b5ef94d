// A partner that receives MLLP messages for the delivery tests: the real MLLP server adapter on
// its own io_context thread, recording every message it gets (in arrival order) and answering AA,
// AE or AR. It can be stopped and started again on the same port, to play a partner that goes
// down. Test-only; the methods may be called from any thread.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/io_runtime.hpp"
#include "adapters/mllp_client.hpp"
#include "adapters/mllp_server.hpp"

namespace hims::test {

// A port on 127.0.0.1 that was free a moment ago (bound to 0, read, closed), for a partner that
// must be configured before it listens.
inline std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

class MllpReceiver {
 public:
  // What it answers: AA (accepted), AE (error) or AR (reject), MSA-2 = the message's MSH-10.
  explicit MllpReceiver(std::string answer = "AA") : answer_(std::move(answer)) {}
  ~MllpReceiver() { stop(); }
  MllpReceiver(const MllpReceiver&) = delete;
  MllpReceiver& operator=(const MllpReceiver&) = delete;

  // Listens on `port` (0: any free one); false when it cannot bind.
  bool start(std::uint16_t port = 0) {
    stop();
    runtime_ = std::make_unique<adapters::IoRuntime>(1);
    adapters::MllpServerConfig config;
    config.source_id = "test-receiver";
    config.host = "127.0.0.1";
    config.port = port;
    auto server = adapters::MllpServer::start(
        runtime_->context(), config, [this](Envelope envelope, adapters::MllpReplier reply) {
          auto id = adapters::message_control_id(envelope.bytes);
          const std::string control_id = id.ok() ? std::string(*id) : std::string("?");
          std::string code;
          {
            std::lock_guard lock(mutex_);
            messages_.push_back(envelope.bytes);
            control_ids_.push_back(control_id);
            code = answer_;
          }
          reply(adapters::MllpReply::send_ack(
              "MSH|^~\\&|PARTNER|FAC|HIMS|HIMS|20240101120001||ACK|R" + control_id +
              "|P|2.5\rMSA|" + code + "|" + control_id + "\r"));
        });
    if (!server.ok()) {
      runtime_.reset();
      return false;
    }
    port_ = server->port();
    server_.emplace(std::move(*server));
    return true;
  }

  void stop() {
    if (!server_) return;
    server_->stop();
    runtime_->release();
    if (!runtime_->join_for(std::chrono::seconds(5))) {
      runtime_->stop();
      runtime_->join();
    }
    server_.reset();
    runtime_.reset();
  }

  void set_answer(std::string code) {
    std::lock_guard lock(mutex_);
    answer_ = std::move(code);
  }

  std::uint16_t port() const { return port_; }
  std::vector<std::string> control_ids() const {
    std::lock_guard lock(mutex_);
    return control_ids_;
  }
  std::vector<std::string> messages() const {
    std::lock_guard lock(mutex_);
    return messages_;
  }
  std::size_t count() const {
    std::lock_guard lock(mutex_);
    return control_ids_.size();
  }

 private:
  mutable std::mutex mutex_;
  std::string answer_;
  std::vector<std::string> messages_;
  std::vector<std::string> control_ids_;
  std::uint16_t port_ = 0;
  std::unique_ptr<adapters::IoRuntime> runtime_;
  std::optional<adapters::MllpServer> server_;
};

}  // namespace hims::test
