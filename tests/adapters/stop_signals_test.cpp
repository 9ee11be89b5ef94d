// StopSignals with a real MllpServer on 127.0.0.1 (port 0): SIGTERM/SIGINT raised to this process
// stop the servers and let the runtime's threads return; a second signal or the deadline stops the
// runtime at once. Every wait is bounded.
#include "adapters/stop_signals.hpp"

#include <gtest/gtest.h>

#include <sched.h>
#include <algorithm>
#include <atomic>
#include <csignal>
#include <optional>
#include <thread>

#include "adapters/io_runtime.hpp"
#include "adapters/mllp_server.hpp"
#include "tests/adapters/mllp_test_support.hpp"

namespace hims::adapters {
namespace {

using namespace std::chrono_literals;
using test::RawPeer;
using test::ScriptedEngine;
using test::wait_until;

// A runtime, one server on it and a StopSignals stopping that server. Declaration order is
// destruction order in reverse: the signals go first, then the server, then the runtime.
struct Harness {
  explicit Harness(ScriptedEngine::Mode mode, std::chrono::milliseconds deadline = 30s)
      : engine(mode) {
    auto started = MllpServer::start(runtime.context(), test::server_config(), engine.handler());
    if (!started) {
      ADD_FAILURE() << started.error().message();
      return;
    }
    server.emplace(std::move(started.value()));
    signals.emplace(
        runtime,
        [this] {
          stop_calls.fetch_add(1);
          server->stop();
        },
        [this] { return server->stopped(); }, deadline);
  }
  ~Harness() {
    signals.reset();
    if (server) {
      server->stop();
      engine.drop_held();
    }
    runtime.stop();
    runtime.join();
  }

  IoRuntime runtime{2};
  ScriptedEngine engine;
  std::atomic<int> stop_calls{0};
  std::optional<MllpServer> server;
  std::optional<StopSignals> signals;
};

TEST(StopSignals, SigtermStopsTheServerWithAnIdleConnectionOpen) {
  Harness h(ScriptedEngine::Mode::answer_inline);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.server->port());
  ASSERT_TRUE(peer.connected());
  ASSERT_TRUE(peer.send(hims::hl7v2::frame(test::hl7_message("C1"))));
  ASSERT_EQ(peer.read_frames(1).size(), 1u);  // the connection is open, idle, owes nothing
  h.runtime.release();

  ASSERT_EQ(std::raise(SIGTERM), 0);

  EXPECT_TRUE(peer.wait_closed());
  EXPECT_TRUE(h.runtime.join_for(10s)) << "the runtime's threads did not return";
  EXPECT_EQ(h.stop_calls.load(), 1);
  EXPECT_TRUE(h.server->stopped());
  EXPECT_EQ(h.server->stats().acks_sent.load(), 1u);
}

TEST(StopSignals, SigintLetsAConnectionOwingAnAckWriteItFirst) {
  Harness h(ScriptedEngine::Mode::hold);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.server->port());
  ASSERT_TRUE(peer.send(hims::hl7v2::frame(test::hl7_message("C2"))));
  ASSERT_TRUE(wait_until([&] { return h.engine.count() == 1; }));
  h.runtime.release();

  ASSERT_EQ(std::raise(SIGINT), 0);
  ASSERT_TRUE(wait_until([&] { return h.stop_calls.load() == 1; }));
  EXPECT_FALSE(h.runtime.join_for(50ms)) << "returned while an ACK was owed";

  h.engine.release_held();
  const auto frames = peer.read_frames(1);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_NE(frames[0].find("MSA|AA|C2"), std::string::npos);
  EXPECT_TRUE(peer.wait_closed());
  EXPECT_TRUE(h.runtime.join_for(10s));
  EXPECT_TRUE(h.server->stopped());
}

TEST(StopSignals, ASecondSignalStopsTheRuntimeAtOnce) {
  Harness h(ScriptedEngine::Mode::hold);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.server->port());
  ASSERT_TRUE(peer.send(hims::hl7v2::frame(test::hl7_message("C3"))));
  ASSERT_TRUE(wait_until([&] { return h.engine.count() == 1; }));
  h.runtime.release();

  ASSERT_EQ(std::raise(SIGTERM), 0);
  ASSERT_TRUE(wait_until([&] { return h.stop_calls.load() == 1; }));
  EXPECT_FALSE(h.runtime.join_for(50ms));  // an ACK is still owed
  ASSERT_EQ(std::raise(SIGTERM), 0);

  EXPECT_TRUE(h.runtime.join_for(10s)) << "the second signal did not stop the runtime";
  EXPECT_EQ(h.stop_calls.load(), 1);
  EXPECT_FALSE(h.server->stopped());  // abandoned, not finished
}

TEST(StopSignals, TheDeadlineStopsTheRuntime) {
  Harness h(ScriptedEngine::Mode::hold, 200ms);
  ASSERT_TRUE(h.server);
  RawPeer peer(h.server->port());
  ASSERT_TRUE(peer.send(hims::hl7v2::frame(test::hl7_message("C4"))));
  ASSERT_TRUE(wait_until([&] { return h.engine.count() == 1; }));
  h.runtime.release();

  const auto start = std::chrono::steady_clock::now();
  ASSERT_EQ(std::raise(SIGTERM), 0);
  EXPECT_TRUE(h.runtime.join_for(10s)) << "the deadline did not stop the runtime";
  EXPECT_GE(std::chrono::steady_clock::now() - start, 200ms);
  EXPECT_FALSE(h.server->stopped());
}

TEST(StopSignals, CancelCallsNothingAndLeavesNoWork) {
  Harness h(ScriptedEngine::Mode::answer_inline);
  ASSERT_TRUE(h.server);
  h.signals->cancel();
  h.server->stop();
  h.runtime.release();
  EXPECT_TRUE(h.runtime.join_for(10s)) << "the cancelled signal set kept the runtime busy";
  EXPECT_EQ(h.stop_calls.load(), 0);
}

TEST(IoRuntime, UsableCpusFollowsTheAffinityMask) {
  const unsigned all = IoRuntime::usable_cpus();
  EXPECT_GE(all, 1u);
  EXPECT_LE(all, std::max(1u, std::thread::hardware_concurrency()));
  // Pinned to one CPU (on a thread of its own, so the test process keeps its mask), it sees one.
  unsigned pinned = 0;
  std::thread([&] {
    cpu_set_t set;
    CPU_ZERO(&set);
    ASSERT_EQ(::sched_getaffinity(0, sizeof set, &set), 0);
    int first = 0;
    while (!CPU_ISSET(first, &set)) ++first;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(first, &one);
    ASSERT_EQ(::sched_setaffinity(0, sizeof one, &one), 0);
    pinned = IoRuntime::usable_cpus();
  }).join();
  EXPECT_EQ(pinned, 1u);
}

}  // namespace
}  // namespace hims::adapters
