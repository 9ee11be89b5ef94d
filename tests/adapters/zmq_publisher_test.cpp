// ZmqPublisher: a SUB socket (libzmq's C API, in the test) receives [topic][payload] over tcp,
// ipc and inproc; topic filtering; would_block at the high-water mark; config, bad endpoint and
// bind conflict errors. SUB joins asynchronously, so each test first publishes probes in a
// bounded loop until one arrives.
#include "adapters/zmq_publisher.hpp"

#include <gtest/gtest.h>
#include <zmq.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/temp_dir.hpp"

namespace hims::adapters {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;
using Frames = std::vector<std::string>;

constexpr auto kJoinTimeout = 5s;

// A SUB socket connected to `endpoint`, subscribed to `prefix`. With a null context it makes its
// own (tcp, ipc); pass the publisher's context_handle() for inproc.
class Subscriber {
 public:
  Subscriber(void* context, const std::string& endpoint, std::string_view prefix,
             int receive_hwm = 1000)
      : own_context_(context == nullptr ? zmq_ctx_new() : nullptr),
        socket_(zmq_socket(context == nullptr ? own_context_ : context, ZMQ_SUB)) {
    EXPECT_NE(socket_, nullptr) << zmq_strerror(zmq_errno());
    const int linger = 0;
    EXPECT_EQ(zmq_setsockopt(socket_, ZMQ_LINGER, &linger, sizeof linger), 0);
    EXPECT_EQ(zmq_setsockopt(socket_, ZMQ_RCVHWM, &receive_hwm, sizeof receive_hwm), 0);
    EXPECT_EQ(zmq_setsockopt(socket_, ZMQ_SUBSCRIBE, prefix.data(), prefix.size()), 0);
    EXPECT_EQ(zmq_connect(socket_, endpoint.c_str()), 0) << zmq_strerror(zmq_errno());
  }
  ~Subscriber() {
    zmq_close(socket_);
    if (own_context_ != nullptr) zmq_ctx_term(own_context_);
  }
  Subscriber(const Subscriber&) = delete;
  Subscriber& operator=(const Subscriber&) = delete;

  // One whole multipart message, or nothing within `timeout`.
  std::optional<Frames> receive(std::chrono::milliseconds timeout) {
    zmq_pollitem_t item{socket_, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, static_cast<long>(timeout.count())) <= 0) return std::nullopt;
    Frames frames;
    bool more = true;
    while (more) {
      zmq_msg_t msg;
      zmq_msg_init(&msg);
      if (zmq_msg_recv(&msg, socket_, 0) < 0) {
        ADD_FAILURE() << "recv: " << zmq_strerror(zmq_errno());
        zmq_msg_close(&msg);
        return std::nullopt;
      }
      frames.emplace_back(static_cast<const char*>(zmq_msg_data(&msg)), zmq_msg_size(&msg));
      more = zmq_msg_more(&msg) != 0;
      zmq_msg_close(&msg);
    }
    return frames;
  }

  // The next message whose payload is not a probe (probes still in flight are skipped).
  std::optional<Frames> receive_skipping_probes(std::chrono::milliseconds timeout = 5000ms) {
    const auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
      auto frames = receive(50ms);
      if (frames && !(frames->size() == 2 && (*frames)[1].starts_with("probe-"))) return frames;
    }
    return std::nullopt;
  }

 private:
  void* own_context_;
  void* socket_;
};

// Publishes probes under `topic` until the subscriber receives one, or kJoinTimeout passes.
bool await_subscription(ZmqPublisher& publisher, Subscriber& subscriber, std::string_view topic) {
  const auto deadline = Clock::now() + kJoinTimeout;
  for (int i = 0; Clock::now() < deadline; ++i) {
    auto sent = publisher.publish(topic, "probe-" + std::to_string(i));
    if (!sent) {
      ADD_FAILURE() << sent.error().message();
      return false;
    }
    if (subscriber.receive(20ms)) return true;
  }
  return false;
}

ZmqPublisherConfig config_for(std::string bind) {
  ZmqPublisherConfig config;
  config.destination_id = "events";
  config.bind = std::move(bind);
  config.linger = 0ms;
  return config;
}

const std::string kPayload =
    std::string("MSH|^~\\&|LAB|FAC\rPID|1||123\r") + std::string("\0\xff", 2);

TEST(ZmqPublisher, SubscriberReceivesTopicAndPayloadOverTcp) {
  auto publisher = ZmqPublisher::create(config_for("tcp://127.0.0.1:*"));
  ASSERT_TRUE(publisher) << publisher.error().message();
  const std::string endpoint = publisher->endpoint();
  ASSERT_TRUE(endpoint.starts_with("tcp://127.0.0.1:")) << endpoint;
  EXPECT_EQ(endpoint.find('*'), std::string::npos) << endpoint;  // the real port

  Subscriber sub(nullptr, endpoint, "");
  ASSERT_TRUE(await_subscription(*publisher, sub, "hl7v2.ORU^R01"));
  ASSERT_TRUE(publisher->publish("hl7v2.ORU^R01", kPayload));
  auto frames = sub.receive_skipping_probes();
  ASSERT_TRUE(frames);
  EXPECT_EQ(*frames, (Frames{"hl7v2.ORU^R01", kPayload}));

  ASSERT_TRUE(publisher->publish("", ""));  // empty frames are still two frames
  frames = sub.receive_skipping_probes();
  ASSERT_TRUE(frames);
  EXPECT_EQ(*frames, (Frames{"", ""}));
}

TEST(ZmqPublisher, SubscriberReceivesOverIpc) {
  test::TempDir tmp("hims-zmq");
  const std::string bind = "ipc://" + (tmp / "pub.sock").string();
  auto publisher = ZmqPublisher::create(config_for(bind));
  ASSERT_TRUE(publisher) << publisher.error().message();
  EXPECT_EQ(publisher->endpoint(), bind);
  Subscriber sub(nullptr, bind, "");
  ASSERT_TRUE(await_subscription(*publisher, sub, "t"));
  ASSERT_TRUE(publisher->publish("t", kPayload));
  auto frames = sub.receive_skipping_probes();
  ASSERT_TRUE(frames);
  EXPECT_EQ(*frames, (Frames{"t", kPayload}));
}

TEST(ZmqPublisher, SubscriberGetsOnlyItsTopicPrefix) {
  auto publisher = ZmqPublisher::create(config_for("tcp://127.0.0.1:*"));
  ASSERT_TRUE(publisher) << publisher.error().message();
  Subscriber sub(nullptr, publisher->endpoint(), "hl7v2.ADT");
  ASSERT_TRUE(await_subscription(*publisher, sub, "hl7v2.ADT^A01"));

  // One connection keeps order: had the ORU message passed the filter, it would come first.
  ASSERT_TRUE(publisher->publish("hl7v2.ORU^R01", "filtered"));
  ASSERT_TRUE(publisher->publish("x12.837", "filtered"));
  ASSERT_TRUE(publisher->publish("hl7v2.ADT^A08", "wanted"));
  auto frames = sub.receive_skipping_probes();
  ASSERT_TRUE(frames);
  EXPECT_EQ(*frames, (Frames{"hl7v2.ADT^A08", "wanted"}));
}

TEST(ZmqPublisher, WithoutSubscribersPublishingSucceeds) {
  auto publisher = ZmqPublisher::create(config_for("tcp://127.0.0.1:*"));
  ASSERT_TRUE(publisher) << publisher.error().message();
  for (int i = 0; i < 100; ++i) {
    auto sent = publisher->publish("t", kPayload);
    ASSERT_TRUE(sent) << sent.error().message();
  }
}

TEST(ZmqPublisher, FullSubscriberQueueIsWouldBlockNotADrop) {
  auto config = config_for("inproc://hims-would-block");
  config.high_water_mark = 1;
  auto publisher = ZmqPublisher::create(config);
  ASSERT_TRUE(publisher) << publisher.error().message();
  Subscriber sub(publisher->context_handle(), publisher->endpoint(), "", /*receive_hwm=*/1);
  ASSERT_TRUE(await_subscription(*publisher, sub, "t"));

  // The subscriber stops reading: the queue fills and publish() says so.
  int accepted = 0;
  std::optional<Error> error;
  for (int i = 0; i < 1000 && !error; ++i) {
    auto sent = publisher->publish("t", "m" + std::to_string(i));
    if (sent) {
      ++accepted;
    } else {
      error = sent.take_error();
    }
  }
  ASSERT_TRUE(error) << "1000 messages accepted with a high-water mark of 1";
  EXPECT_TRUE(error->is(ZmqErrc::would_block)) << error->message();
  EXPECT_EQ(error->where(), "inproc://hims-would-block");

  // Every accepted message arrives (nothing was dropped), then publishing works again.
  Frames last;
  for (int got = 0; got < accepted;) {
    auto frames = sub.receive_skipping_probes(1000ms);
    ASSERT_TRUE(frames) << "received " << got << " of " << accepted;
    last = *frames;
    ++got;
  }
  EXPECT_EQ(last, (Frames{"t", "m" + std::to_string(accepted - 1)}));
  const auto deadline = Clock::now() + kJoinTimeout;
  bool sent_again = false;
  while (!sent_again && Clock::now() < deadline) {
    sent_again = publisher->publish("t", "after").ok();
    if (!sent_again) sub.receive(10ms);
  }
  EXPECT_TRUE(sent_again);
}

TEST(ZmqPublisher, MovedPublisherKeepsItsSocket) {
  auto created = ZmqPublisher::create(config_for("tcp://127.0.0.1:*"));
  ASSERT_TRUE(created) << created.error().message();
  ZmqPublisher publisher = std::move(created).value();
  const std::string endpoint = publisher.endpoint();
  ZmqPublisher moved = std::move(publisher);
  EXPECT_EQ(moved.endpoint(), endpoint);
  Subscriber sub(nullptr, endpoint, "");
  EXPECT_TRUE(await_subscription(moved, sub, "t"));

  auto stale = publisher.publish("t", "x");  // NOLINT(bugprone-use-after-move): tested on purpose
  ASSERT_FALSE(stale);
  EXPECT_TRUE(stale.error().is(ZmqErrc::send_failed));
  EXPECT_EQ(publisher.endpoint(), "");
}

TEST(ZmqPublisherConfig, RejectsBadValues) {
  struct Case {
    ZmqPublisherConfig config;
    std::string key;
  };
  std::vector<Case> cases;
  cases.push_back({config_for(""), "bind"});
  cases.push_back({config_for("http://127.0.0.1:80"), "bind"});
  cases.push_back({config_for("tcp://"), "bind"});
  cases.push_back({config_for("127.0.0.1:5556"), "bind"});
  auto hwm = config_for("tcp://127.0.0.1:*");
  hwm.high_water_mark = 0;
  cases.push_back({hwm, "high_water_mark"});
  auto linger = config_for("tcp://127.0.0.1:*");
  linger.linger = -1ms;
  cases.push_back({linger, "linger"});
  auto id = config_for("tcp://127.0.0.1:*");
  id.destination_id.clear();
  cases.push_back({id, "destination_id"});
  for (const auto& c : cases) {
    SCOPED_TRACE(c.config.bind + " " + c.key);
    auto status = c.config.validate();
    ASSERT_FALSE(status);
    EXPECT_TRUE(status.error().is(ZmqErrc::bad_config));
    EXPECT_EQ(status.error().where(), c.key);
    auto publisher = ZmqPublisher::create(c.config);
    ASSERT_FALSE(publisher);
    EXPECT_TRUE(publisher.error().is(ZmqErrc::bad_config));
  }
}

TEST(ZmqPublisher, BadEndpointNamesItAndTheReason) {
  test::TempDir tmp("hims-zmq");
  const std::string bind = "ipc://" + (tmp / "no-such-dir" / "pub.sock").string();
  auto publisher = ZmqPublisher::create(config_for(bind));
  ASSERT_FALSE(publisher);
  EXPECT_TRUE(publisher.error().is(ZmqErrc::bind_failed)) << publisher.error().message();
  EXPECT_EQ(publisher.error().where(), bind);
  EXPECT_EQ(publisher.error().detail(), zmq_strerror(ENOENT));

  auto bad_port = ZmqPublisher::create(config_for("tcp://127.0.0.1:notaport"));
  ASSERT_FALSE(bad_port);
  EXPECT_TRUE(bad_port.error().is(ZmqErrc::bind_failed)) << bad_port.error().message();
  EXPECT_EQ(bad_port.error().where(), "tcp://127.0.0.1:notaport");
  EXPECT_FALSE(bad_port.error().detail().empty());
}

TEST(ZmqPublisher, BindConflictIsBindFailed) {
  auto first = ZmqPublisher::create(config_for("tcp://127.0.0.1:*"));
  ASSERT_TRUE(first) << first.error().message();
  auto second = ZmqPublisher::create(config_for(first->endpoint()));
  ASSERT_FALSE(second);
  EXPECT_TRUE(second.error().is(ZmqErrc::bind_failed)) << second.error().message();
  EXPECT_EQ(second.error().where(), first->endpoint());
  EXPECT_EQ(second.error().detail(), zmq_strerror(EADDRINUSE));
  EXPECT_EQ(second.error().message(),
            "io.bind_failed at " + first->endpoint() + ": " + zmq_strerror(EADDRINUSE));
}

TEST(ZmqErrc, NamesEveryCode) {
  EXPECT_EQ(to_string(ZmqErrc::bad_config), "bad_config");
  EXPECT_EQ(to_string(ZmqErrc::bind_failed), "bind_failed");
  EXPECT_EQ(to_string(ZmqErrc::would_block), "would_block");
  EXPECT_EQ(to_string(ZmqErrc::send_failed), "send_failed");
}

}  // namespace
}  // namespace hims::adapters
