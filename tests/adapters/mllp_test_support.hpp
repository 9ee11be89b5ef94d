// Helpers for the MLLP adapter tests: a blocking raw TCP peer with deadlines (POSIX sockets, so
// the tests need no Asio), a polling wait, message/ACK builders, a scripted engine and a server
// harness.
// Test-only; each helper is used from one test thread unless noted.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "adapters/io_runtime.hpp"
#include "adapters/mllp_client.hpp"
#include "adapters/mllp_server.hpp"
#include "hl7v2/mllp_frame.hpp"
#include "tests/support/loopback_client.hpp"

namespace hims::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Polls `condition` until it holds or `timeout` passes (never a blind sleep).
inline bool wait_until(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

inline std::string hl7_message(std::string_view control_id, std::string_view type = "ADT^A01") {
  return "MSH|^~\\&|SEND|FAC|RECV|FAC|20240101120000||" + std::string(type) + "|" +
         std::string(control_id) + "|P|2.5\rEVN|A01|20240101120000\rPID|1||12345^^^HOSP^MR\r";
}

inline std::string hl7_ack(std::string_view control_id, std::string_view code = "AA") {
  return "MSH|^~\\&|RECV|FAC|SEND|FAC|20240101120001||ACK|A" + std::string(control_id) +
         "|P|2.5\rMSA|" + std::string(code) + "|" + std::string(control_id) + "\r";
}

// The ACK for an envelope's message (AA, MSA-2 = its MSH-10).
inline std::string ack_for(const Envelope& envelope, std::string_view code = "AA") {
  auto id = adapters::message_control_id(envelope.bytes);
  return hl7_ack(id ? *id : std::string_view("?"), code);
}

// A blocking client socket to 127.0.0.1 that reads MLLP frames with deadlines.
class RawPeer : public test::LoopbackClient {
 public:
  explicit RawPeer(std::uint16_t port) : LoopbackClient(port) {}

  // Reads until `count` frames arrived, the peer closed, or `timeout` passed.
  std::vector<std::string> read_frames(std::size_t count, std::chrono::milliseconds timeout = 10s) {
    std::vector<std::string> frames;
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      for (auto r = decoder_.next(); r.status == hl7v2::FrameStatus::frame; r = decoder_.next()) {
        frames.emplace_back(r.frame);
      }
      if (frames.size() >= count) return frames;
      const auto n = read_some(deadline);
      if (n <= 0) return frames;
    }
  }

  // True when the peer closes the connection before `timeout` (bytes received meanwhile are
  // kept for read_frames()).
  bool wait_closed(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto n = read_some(deadline);
      if (n == 0) return true;
      if (n < 0) return timed_out_ ? false : true;
    }
  }

 private:
  long read_some(Clock::time_point deadline) {
    auto space = decoder_.prepare(4096);
    const long n = read_into(deadline, space);
    decoder_.commit(n > 0 ? static_cast<std::size_t>(n) : 0);
    return n;
  }

  hl7v2::FrameDecoder decoder_;
};

// The engine side of a server test: records every envelope, and answers with an AA ACK at once,
// from a worker thread (to exercise replies from another thread), or never, per `mode`.
class ScriptedEngine {
 public:
  enum class Mode { answer_inline, answer_from_worker, hold, close, drop };

  explicit ScriptedEngine(Mode mode = Mode::answer_inline) : mode_(mode) {
    worker_ = std::thread([this] { work(); });
  }
  ~ScriptedEngine() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
    }
    cv_.notify_all();
    worker_.join();
  }
  ScriptedEngine(const ScriptedEngine&) = delete;
  ScriptedEngine& operator=(const ScriptedEngine&) = delete;

  void set_mode(Mode mode) {
    std::lock_guard lock(mutex_);
    mode_ = mode;
  }
  // MSA-1 of the ACKs sent from now on.
  void set_ack_code(std::string code) {
    std::lock_guard lock(mutex_);
    ack_code_ = std::move(code);
  }
  // The MSA-2 of the ACKs sent from now on (empty: the message's MSH-10).
  void set_ack_control_id(std::string id) {
    std::lock_guard lock(mutex_);
    ack_control_id_ = std::move(id);
  }

  adapters::MllpHandler handler() {
    return [this](Envelope envelope, adapters::MllpReplier reply) {
      std::unique_lock lock(mutex_);
      envelopes_.push_back(envelope);
      const std::string ack = ack_control_id_.empty() ? ack_for(envelope, ack_code_)
                                                      : hl7_ack(ack_control_id_, ack_code_);
      switch (mode_) {
        case Mode::answer_inline:
          lock.unlock();
          reply(adapters::MllpReply::send_ack(ack));
          return;
        case Mode::answer_from_worker:
          queue_.emplace_back(std::move(reply), ack);
          cv_.notify_all();
          return;
        case Mode::hold:
          held_.push_back(std::move(reply));
          return;
        case Mode::close:
          lock.unlock();
          reply(adapters::MllpReply::close());
          return;
        case Mode::drop:
          return;  // the replier dies here
      }
    };
  }

  std::vector<Envelope> envelopes() {
    std::lock_guard lock(mutex_);
    return envelopes_;
  }
  std::size_t count() {
    std::lock_guard lock(mutex_);
    return envelopes_.size();
  }
  // Answers every held envelope with an AA ACK.
  void release_held() {
    std::vector<adapters::MllpReplier> held;
    std::vector<Envelope> envs;
    {
      std::lock_guard lock(mutex_);
      held.swap(held_);
      envs.assign(envelopes_.end() - static_cast<long>(held.size()), envelopes_.end());
    }
    for (std::size_t i = 0; i < held.size(); ++i) {
      held[i](adapters::MllpReply::send_ack(ack_for(envs[i])));
    }
  }
  void drop_held() {
    std::lock_guard lock(mutex_);
    held_.clear();
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    for (;;) {
      cv_.wait(lock, [this] { return done_ || !queue_.empty(); });
      if (queue_.empty()) return;
      auto [reply, ack] = std::move(queue_.front());
      queue_.pop_front();
      lock.unlock();
      reply(adapters::MllpReply::send_ack(ack));
      lock.lock();
    }
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  Mode mode_;
  std::string ack_code_ = "AA";
  std::string ack_control_id_;
  std::vector<Envelope> envelopes_;
  std::deque<std::pair<adapters::MllpReplier, std::string>> queue_;
  std::vector<adapters::MllpReplier> held_;
  bool done_ = false;
  std::thread worker_;
};

// A client config for a server of this test on 127.0.0.1.
inline adapters::MllpClientConfig client_config(std::uint16_t port) {
  adapters::MllpClientConfig c;
  c.host = "127.0.0.1";
  c.port = port;
  c.connect_timeout = 2s;
  c.connect_attempts = 1;
  c.backoff_initial = 10ms;
  c.backoff_max = 50ms;
  c.write_timeout = 5s;
  c.ack_timeout = 5s;
  return c;
}

inline adapters::MllpServerConfig server_config() {
  adapters::MllpServerConfig c;
  c.source_id = "test-source";
  c.host = "127.0.0.1";
  c.port = 0;
  c.idle_timeout = 30s;
  c.read_timeout = 10s;
  c.write_timeout = 10s;
  c.reply_timeout = 10s;
  return c;
}

// An MllpServer on its own runtime (`threads` I/O threads), answered by a ScriptedEngine.
// Destroying it stops the server, drops held replies and waits until it has stopped.
struct MllpServerHarness {
  explicit MllpServerHarness(adapters::MllpServerConfig config = server_config(),
                             ScriptedEngine::Mode mode = ScriptedEngine::Mode::answer_inline,
                             unsigned threads = 2)
      : runtime(threads), engine(mode) {
    auto started =
        adapters::MllpServer::start(runtime.context(), std::move(config), engine.handler());
    if (!started) {
      ADD_FAILURE() << started.error().message();
      return;
    }
    server.emplace(std::move(started.value()));
  }
  ~MllpServerHarness() {
    if (!server) return;
    server->stop();
    engine.drop_held();
    EXPECT_TRUE(wait_until([&] { return server->stopped(); }));
  }
  MllpServerHarness(const MllpServerHarness&) = delete;
  MllpServerHarness& operator=(const MllpServerHarness&) = delete;

  std::uint16_t port() const { return server->port(); }
  const adapters::MllpServerStats& stats() const { return server->stats(); }

  adapters::IoRuntime runtime;
  ScriptedEngine engine;
  std::optional<adapters::MllpServer> server;
};

}  // namespace hims::test
