// MllpServer over 127.0.0.1 (port 0): framing on the wire, ordering, limits, time-outs, stop.
#include "adapters/mllp_server.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <thread>

#include "adapters/io_runtime.hpp"
#include "adapters/mllp_client.hpp"
#include "adapters/mllp_errors.hpp"
#include "tests/adapters/mllp_test_support.hpp"

namespace hims::adapters {
namespace {

using namespace std::chrono_literals;
using test::RawPeer;
using test::ScriptedEngine;
using test::wait_until;

using Harness = test::MllpServerHarness;

TEST(MllpServer, AnswersOneMessageWithTheEnginesAck) {
  Harness h;
  ASSERT_TRUE(h.server);
  EXPECT_NE(h.port(), 0);
  auto client = MllpClient::create(test::client_config(h.port()));
  ASSERT_TRUE(client) << client.error().message();
  const auto message = test::hl7_message("CTRL1");
  auto ack = client->send(message);
  ASSERT_TRUE(ack) << ack.error().message();
  EXPECT_TRUE(ack->accepted());
  EXPECT_EQ(ack->control_id, "CTRL1");

  auto envelopes = h.engine.envelopes();
  ASSERT_EQ(envelopes.size(), 1u);
  EXPECT_EQ(envelopes[0].bytes, message);
  EXPECT_EQ(envelopes[0].source, "test-source");
  EXPECT_EQ(envelopes[0].peer.rfind("127.0.0.1:", 0), 0u);
  EXPECT_NE(envelopes[0].received_at.time_since_epoch().count(), 0);
  EXPECT_EQ(h.stats().frames_received.load(), 1u);
  // Counted once the write completed, which may be just after the client read the ACK.
  EXPECT_TRUE(wait_until([&] { return h.stats().acks_sent.load() == 1; }));
  EXPECT_EQ(h.stats().connections_accepted.load(), 1u);
}

TEST(MllpServer, ManyConcurrentConnectionsKeepTheirOrder) {
  auto config = test::server_config();
  Harness h(config, ScriptedEngine::Mode::answer_from_worker);
  ASSERT_TRUE(h.server);
  constexpr int kClients = 8;
  constexpr int kMessages = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < kClients; ++c) {
    threads.emplace_back([&, c] {
      auto client = MllpClient::create(test::client_config(h.port()));
      if (!client) {
        ++failures;
        return;
      }
      for (int m = 0; m < kMessages; ++m) {
        const std::string id = "C" + std::to_string(c) + "-" + std::to_string(m);
        auto ack = client->send(test::hl7_message(id));
        if (!ack || ack->control_id != id) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  // Per connection (peer), messages reached the engine in the order they were sent.
  std::map<std::string, std::vector<std::string>> by_peer;
  for (const auto& e : h.engine.envelopes()) {
    by_peer[e.peer].emplace_back(*message_control_id(e.bytes));
  }
  ASSERT_EQ(by_peer.size(), static_cast<std::size_t>(kClients));
  for (const auto& [peer, ids] : by_peer) {
    ASSERT_EQ(ids.size(), static_cast<std::size_t>(kMessages)) << peer;
    const std::string prefix = ids[0].substr(0, ids[0].find('-') + 1);
    for (int m = 0; m < kMessages; ++m) {
      EXPECT_EQ(ids[m], prefix + std::to_string(m)) << peer;
    }
  }
  EXPECT_TRUE(wait_until([&] {
    return h.stats().acks_sent.load() == static_cast<std::uint64_t>(kClients * kMessages);
  }));
  EXPECT_TRUE(wait_until([&] { return h.stats().connections_active.load() == 0; }));
}

TEST(MllpServer, AnswersPipelinedFramesInOrder) {
  Harness h(test::server_config(), ScriptedEngine::Mode::answer_from_worker);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.connected());
  std::string wire;
  for (int i = 0; i < 5; ++i) hl7v2::append_frame(wire, test::hl7_message("P" + std::to_string(i)));
  ASSERT_TRUE(peer.send(wire));
  auto acks = peer.read_frames(5);
  ASSERT_EQ(acks.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    auto ack = read_ack(acks[i], "P" + std::to_string(i));
    EXPECT_TRUE(ack) << ack.error().message();
  }
}

TEST(MllpServer, ReassemblesFramesSplitAcrossWrites) {
  Harness h;
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  const std::string wire = hl7v2::frame(test::hl7_message("SPLIT"));
  for (std::size_t i = 0; i < wire.size(); i += 7) {
    ASSERT_TRUE(peer.send(std::string_view(wire).substr(i, 7)));
    if (i == 14) {  // make sure the server really saw a partial frame
      ASSERT_TRUE(wait_until([&] { return h.stats().bytes_received.load() >= 21; }));
    }
  }
  auto acks = peer.read_frames(1);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(read_ack(acks[0], "SPLIT"));
  ASSERT_EQ(h.engine.count(), 1u);
  EXPECT_EQ(h.engine.envelopes()[0].bytes, test::hl7_message("SPLIT"));
}

TEST(MllpServer, SkipsAndCountsBytesOutsideFrames) {
  Harness h;
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send("junk\r\n" + hl7v2::frame(test::hl7_message("J1")) + "\n\n" +
                        hl7v2::frame(test::hl7_message("J2"))));
  auto acks = peer.read_frames(2);
  ASSERT_EQ(acks.size(), 2u);
  EXPECT_TRUE(read_ack(acks[1], "J2"));
  // Added after the read's frames are answered, so possibly just after the client has the ACKs.
  EXPECT_TRUE(wait_until([&] { return h.stats().bytes_outside_frames.load() == 8u; }));
  EXPECT_EQ(h.engine.count(), 2u);
}

TEST(MllpServer, ClosesTheConnectionOnAnOversizeFrame) {
  auto config = test::server_config();
  config.max_message_bytes = 100;
  Harness h(config);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send("\x0B" + std::string(101, 'x')));  // no FS needed to know it is too big
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_EQ(h.stats().frames_too_large.load(), 1u);
  EXPECT_EQ(h.engine.count(), 0u);
  // A frame of exactly the limit still goes through on a new connection.
  RawPeer second(h.port());
  ASSERT_TRUE(second.send(hl7v2::frame(test::hl7_message("OK").substr(0, 100))));
  EXPECT_TRUE(wait_until([&] { return h.engine.count() == 1; }));
}

TEST(MllpServer, ClosesAnIdleConnection) {
  auto config = test::server_config();
  config.idle_timeout = 150ms;
  Harness h(config);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(peer.wait_closed(10s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 100ms);
  EXPECT_EQ(h.stats().idle_timeouts.load(), 1u);
  EXPECT_EQ(h.stats().read_timeouts.load(), 0u);
}

TEST(MllpServer, IdleTimerRestartsAfterEachMessage) {
  auto config = test::server_config();
  config.idle_timeout = 300ms;
  Harness h(config);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(peer.send(hl7v2::frame(test::hl7_message("I" + std::to_string(i)))));
    ASSERT_EQ(peer.read_frames(1).size(), 1u);
  }
  EXPECT_TRUE(peer.wait_closed(10s));
  EXPECT_EQ(h.engine.count(), 3u);
}

TEST(MllpServer, ClosesAConnectionThatDoesNotFinishItsFrame) {
  auto config = test::server_config();
  config.idle_timeout = 60s;
  config.read_timeout = 150ms;
  Harness h(config);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send("\x0BMSH|^~\\&|partial"));
  EXPECT_TRUE(peer.wait_closed(10s));
  EXPECT_EQ(h.stats().read_timeouts.load(), 1u);
  EXPECT_EQ(h.stats().idle_timeouts.load(), 0u);
  EXPECT_EQ(h.engine.count(), 0u);
}

TEST(MllpServer, RefusesConnectionsOverTheLimit) {
  auto config = test::server_config();
  config.max_connections = 2;
  Harness h(config);
  ASSERT_TRUE(h.server);
  RawPeer a(h.port());
  RawPeer b(h.port());
  ASSERT_TRUE(wait_until([&] { return h.stats().connections_active.load() == 2; }));
  RawPeer c(h.port());
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(h.stats().connections_refused.load(), 1u);
  // The admitted ones still work.
  ASSERT_TRUE(a.send(hl7v2::frame(test::hl7_message("A"))));
  EXPECT_EQ(a.read_frames(1).size(), 1u);
}

TEST(MllpServer, ClosesWhenTheEngineSaysSo) {
  Harness h(test::server_config(), ScriptedEngine::Mode::close);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send(hl7v2::frame(test::hl7_message("X"))));
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_TRUE(peer.read_frames(1, 0ms).empty());
  EXPECT_EQ(h.stats().closed_by_engine.load(), 1u);
}

TEST(MllpServer, ClosesWhenTheEngineDropsTheReplier) {
  Harness h(test::server_config(), ScriptedEngine::Mode::drop);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send(hl7v2::frame(test::hl7_message("X"))));
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_EQ(h.stats().acks_sent.load(), 0u);
}

TEST(MllpServer, ClosesWhenTheEngineDoesNotAnswerInTime) {
  auto config = test::server_config();
  config.reply_timeout = 150ms;
  Harness h(config, ScriptedEngine::Mode::hold);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send(hl7v2::frame(test::hl7_message("SLOW"))));
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_EQ(h.stats().reply_timeouts.load(), 1u);
  h.engine.release_held();  // a late answer is ignored
}

TEST(MllpServer, StrictTrailerClosesOnMissingCarriageReturn) {
  auto config = test::server_config();
  config.trailer = hl7v2::MllpTrailer::strict;
  Harness h(config);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send("\x0B" + test::hl7_message("S") + "\x1CX"));
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_EQ(h.stats().bad_frames.load(), 1u);
  EXPECT_EQ(h.engine.count(), 0u);
}

TEST(MllpServer, LenientTrailerAnswersAFrameWithoutCarriageReturn) {
  Harness h;
  ASSERT_TRUE(h.server);
  RawPeer peer(h.port());
  ASSERT_TRUE(peer.send("\x0B" + test::hl7_message("NOCR") + "\x1C"));
  auto acks = peer.read_frames(1);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(read_ack(acks[0], "NOCR"));
}

TEST(MllpServer, GracefulStopWritesThePendingAckThenCloses) {
  Harness h(test::server_config(), ScriptedEngine::Mode::hold);
  ASSERT_TRUE(h.server);
  RawPeer busy(h.port());
  RawPeer idle(h.port());
  ASSERT_TRUE(busy.send(hl7v2::frame(test::hl7_message("PENDING"))));
  ASSERT_TRUE(wait_until([&] { return h.engine.count() == 1; }));
  ASSERT_TRUE(wait_until([&] { return h.stats().connections_active.load() == 2; }));
  h.server->stop();
  EXPECT_TRUE(idle.wait_closed());  // nothing owed: closed at once
  EXPECT_FALSE(h.server->stopped());
  h.engine.release_held();  // the engine commits and answers after stop() began
  auto acks = busy.read_frames(1);
  ASSERT_EQ(acks.size(), 1u);
  EXPECT_TRUE(read_ack(acks[0], "PENDING"));
  EXPECT_TRUE(busy.wait_closed());
  EXPECT_TRUE(wait_until([&] { return h.server->stopped(); }));
  RawPeer late(h.port());
  EXPECT_FALSE(late.connected() && !late.wait_closed(2s));
}

TEST(MllpServer, StartFailsOnAPortInUse) {
  Harness h;
  ASSERT_TRUE(h.server);
  auto config = test::server_config();
  config.port = h.port();
  ScriptedEngine engine;
  auto second = MllpServer::start(h.runtime.context(), config, engine.handler());
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().is(MllpErrc::bind_failed));
  EXPECT_NE(second.error().where().find(std::to_string(h.port())), std::string::npos);
}

TEST(MllpServer, StartRejectsABadConfig) {
  IoRuntime runtime(1);
  ScriptedEngine engine;
  auto config = test::server_config();
  config.max_connections = 0;
  auto server = MllpServer::start(runtime.context(), config, engine.handler());
  ASSERT_FALSE(server);
  EXPECT_TRUE(server.error().is(MllpErrc::bad_config));
  EXPECT_EQ(server.error().where(), "max_connections");

  config = test::server_config();
  config.tls = TlsServerConfig{"/nonexistent/cert.pem", "/nonexistent/key.pem", "", {}};
  server = MllpServer::start(runtime.context(), config, engine.handler());
  ASSERT_FALSE(server);
  EXPECT_TRUE(server.error().is(MllpErrc::tls_config));
  EXPECT_EQ(server.error().where(), "/nonexistent/cert.pem");
}

}  // namespace
}  // namespace hims::adapters
