// MllpClient: ACK reading, connect failures and time-outs, ACK time-out, MSA-2 check, reconnect.
#include "adapters/mllp_client.hpp"

#include <gtest/gtest.h>

#include "adapters/io_runtime.hpp"
#include "adapters/mllp_errors.hpp"
#include "adapters/mllp_server.hpp"
#include "tests/adapters/mllp_test_support.hpp"

namespace hims::adapters {
namespace {

using namespace std::chrono_literals;
using test::ScriptedEngine;
using test::wait_until;

// A listening socket on 127.0.0.1 that never accepts; with `fill_backlog` its accept queue is
// full, so further connects hang in SYN_SENT (a real connect time-out without leaving loopback).
class SilentListener {
 public:
  explicit SilentListener(bool fill_backlog) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(fd_, 0);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    for (int i = 0; fill_backlog && i < 4; ++i) {
      const int c = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
      fillers_.push_back(c);
    }
  }
  ~SilentListener() {
    for (int c : fillers_) ::close(c);
    ::close(fd_);
  }
  std::uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::vector<int> fillers_;
};

// A port nobody listens on (bound once, then released).
std::uint16_t closed_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// The shared harness on one I/O thread, engine mode first.
struct ServerHarness : test::MllpServerHarness {
  explicit ServerHarness(ScriptedEngine::Mode mode = ScriptedEngine::Mode::answer_inline,
                         MllpServerConfig config = test::server_config())
      : MllpServerHarness(std::move(config), mode, 1) {}
};

TEST(ReadAck, ReadsMsaFields) {
  auto ack = read_ack("MSH|^~\\&|R|F|S|F|2024||ACK|9|P|2.5\rMSA|AE|ID7|bad thing\rERR|x\r", "ID7");
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_EQ(ack->code, "AE");
  EXPECT_EQ(ack->control_id, "ID7");
  EXPECT_EQ(ack->text, "bad thing");
  EXPECT_TRUE(ack->errored());
  EXPECT_FALSE(ack->accepted());
}

TEST(ReadAck, HonoursTheDeclaredFieldSeparatorAndLineFeeds) {
  auto ack = read_ack("MSH#^~\\&#R#F#S#F#2024##ACK#9#P#2.5\nMSA#CA#X1\n", "X1");
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_TRUE(ack->accepted());
}

TEST(ReadAck, DetectsAControlIdMismatch) {
  auto ack = read_ack(test::hl7_ack("OTHER"), "MINE");
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::ack_control_id_mismatch));
  EXPECT_EQ(ack.error().where(), "MSA-2");
}

TEST(ReadAck, RejectsAnAckWithoutMsaOrWithABadCode) {
  EXPECT_TRUE(read_ack("MSH|^~\\&|R|F|S|F|2024||ACK|9|P|2.5\r", "9").error().is(MllpErrc::bad_ack));
  EXPECT_TRUE(read_ack("garbage", "9").error().is(MllpErrc::bad_ack));
  EXPECT_TRUE(read_ack(test::hl7_ack("9", "ZZ"), "9").error().is(MllpErrc::bad_ack));
  // "MSAX|..." is not an MSA segment.
  EXPECT_TRUE(read_ack("MSH|^~\\&|R\rMSAX|AA|9\r", "9").error().is(MllpErrc::bad_ack));
}

TEST(MessageControlId, ReadsMsh10) {
  const std::string message = test::hl7_message("ABC-123");  // the id is a view into it
  auto id = message_control_id(message);
  ASSERT_TRUE(id);
  EXPECT_EQ(*id, "ABC-123");
  EXPECT_TRUE(message_control_id("PID|1\r").error().is(MllpErrc::bad_message));
  EXPECT_TRUE(message_control_id("MSH|^~\\&|A|B|C|D|2024||ADT^A01||P|2.5\r")
                  .error()
                  .is(MllpErrc::bad_message));
  EXPECT_TRUE(message_control_id("MSH|^~\\&|A\rX|1|2|3|4|5|6|7|8|9|10\r")
                  .error()
                  .is(MllpErrc::bad_message));  // MSH-10 must be in MSH
}

TEST(MllpClient, CreateRejectsABadConfig) {
  auto config = test::client_config(2575);
  config.connect_attempts = 0;
  auto client = MllpClient::create(config);
  ASSERT_FALSE(client);
  EXPECT_TRUE(client.error().is(MllpErrc::bad_config));
  config = test::client_config(2575);
  config.tls = TlsClientConfig{"/nonexistent/ca.pem", "", "", "", HostnameCheck::verify};
  client = MllpClient::create(config);
  ASSERT_FALSE(client);
  EXPECT_TRUE(client.error().is(MllpErrc::tls_config));
  EXPECT_EQ(client.error().where(), "/nonexistent/ca.pem");
}

TEST(MllpClient, RejectsAMessageItCannotCorrelateOrFrame) {
  auto client = MllpClient::create(test::client_config(closed_port()));
  ASSERT_TRUE(client);
  EXPECT_TRUE(client->send("PID|1\r").error().is(MllpErrc::bad_message));
  EXPECT_TRUE(client->send(test::hl7_message("A\x1C")).error().is(MllpErrc::bad_message));
}

TEST(MllpClient, GivesUpOnAClosedPortAfterItsAttempts) {
  auto config = test::client_config(closed_port());
  config.connect_attempts = 3;
  config.backoff_initial = 20ms;
  config.backoff_max = 30ms;
  auto client = MllpClient::create(config);
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  auto ack = client->send(test::hl7_message("1"));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::connect_failed)) << ack.error().message();
  EXPECT_NE(ack.error().detail().find("attempt 3 of 3"), std::string::npos);
  EXPECT_GE(elapsed, 50ms);  // two back-offs: 20ms then 30ms (capped)
  EXPECT_LT(elapsed, 5s);
  EXPECT_FALSE(client->connected());
}

TEST(MllpClient, TimesOutConnectingToAListenerThatNeverAccepts) {
  SilentListener listener(/*fill_backlog=*/true);
  auto config = test::client_config(listener.port());
  config.connect_timeout = 200ms;
  config.connect_attempts = 2;
  auto client = MllpClient::create(config);
  ASSERT_TRUE(client);
  const auto start = std::chrono::steady_clock::now();
  auto ack = client->send(test::hl7_message("1"));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::connect_timeout)) << ack.error().message();
  EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
}

TEST(MllpClient, TimesOutWaitingForAnAckThatNeverComes) {
  ServerHarness h(ScriptedEngine::Mode::hold);
  ASSERT_TRUE(h.server);
  auto config = test::client_config(h.server->port());
  config.ack_timeout = 200ms;
  auto client = MllpClient::create(config);
  ASSERT_TRUE(client);
  auto ack = client->send(test::hl7_message("WAIT"));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::ack_timeout)) << ack.error().message();
  EXPECT_FALSE(client->connected());
}

TEST(MllpClient, TimesOutAgainstAServerThatAcceptsButNeverReads) {
  SilentListener listener(/*fill_backlog=*/false);  // the kernel completes the handshake
  auto config = test::client_config(listener.port());
  config.ack_timeout = 200ms;
  auto client = MllpClient::create(config);
  ASSERT_TRUE(client);
  auto ack = client->send(test::hl7_message("WAIT"));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::ack_timeout)) << ack.error().message();
}

TEST(MllpClient, DetectsAnAckForAnotherMessage) {
  ServerHarness h;
  ASSERT_TRUE(h.server);
  h.engine.set_ack_control_id("SOMEONE-ELSE");
  auto client = MllpClient::create(test::client_config(h.server->port()));
  ASSERT_TRUE(client);
  auto ack = client->send(test::hl7_message("MINE"));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::ack_control_id_mismatch));
  EXPECT_NE(ack.error().detail().find("SOMEONE-ELSE"), std::string::npos);
  EXPECT_FALSE(client->connected());  // out of step: the next send starts fresh
  h.engine.set_ack_control_id("");
  auto next = client->send(test::hl7_message("NEXT"));
  ASSERT_TRUE(next) << next.error().message();
  EXPECT_EQ(h.server->stats().connections_accepted.load(), 2u);
}

TEST(MllpClient, ReturnsANegativeAckAsAValue) {
  ServerHarness h;
  ASSERT_TRUE(h.server);
  h.engine.set_ack_code("AR");
  auto client = MllpClient::create(test::client_config(h.server->port()));
  ASSERT_TRUE(client);
  auto ack = client->send(test::hl7_message("NAK"));
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_TRUE(ack->rejected());
  EXPECT_TRUE(client->connected());
}

TEST(MllpClient, ReportsAConnectionClosedBeforeTheAck) {
  ServerHarness h(ScriptedEngine::Mode::close);
  ASSERT_TRUE(h.server);
  auto client = MllpClient::create(test::client_config(h.server->port()));
  ASSERT_TRUE(client);
  auto ack = client->send(test::hl7_message("C"));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::connection_closed)) << ack.error().message();
}

TEST(MllpClient, ReusesItsConnectionAndReconnectsAfterTheServerClosedIt) {
  auto config = test::server_config();
  config.idle_timeout = 150ms;
  ServerHarness h(ScriptedEngine::Mode::answer_inline, config);
  ASSERT_TRUE(h.server);
  auto client = MllpClient::create(test::client_config(h.server->port()));
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send(test::hl7_message("R1")));
  ASSERT_TRUE(client->send(test::hl7_message("R2")));
  EXPECT_EQ(h.server->stats().connections_accepted.load(), 1u);
  ASSERT_TRUE(wait_until([&] { return h.server->stats().idle_timeouts.load() == 1; }));
  ASSERT_TRUE(wait_until([&] { return h.server->stats().connections_active.load() == 0; }));
  auto ack = client->send(test::hl7_message("R3"));
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_EQ(h.server->stats().connections_accepted.load(), 2u);
}

TEST(MllpClient, RejectsAnOversizeAck) {
  ServerHarness h;
  ASSERT_TRUE(h.server);
  auto config = test::client_config(h.server->port());
  config.max_ack_bytes = 20;
  auto client = MllpClient::create(config);
  ASSERT_TRUE(client);
  auto ack = client->send(test::hl7_message("BIG"));
  ASSERT_FALSE(ack);
  EXPECT_TRUE(ack.error().is(MllpErrc::frame_too_large));
}

}  // namespace
}  // namespace hims::adapters
