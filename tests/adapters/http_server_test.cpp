// HttpServer against a real socket on 127.0.0.1 (port 0), with a small blocking HTTP/1.1 client
// on POSIX sockets. Every wait is bounded by a deadline; nothing sleeps to wait.
#include "adapters/http_server.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cctype>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "adapters/io_runtime.hpp"
#include "engine/metrics.hpp"
#include "tests/support/loopback_client.hpp"

namespace hims::adapters {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);  // polling a condition, bounded by the deadline
  }
  return true;
}

struct Reply {
  unsigned status = 0;
  std::map<std::string, std::string> headers;  // names lower-cased
  std::string body;

  std::string header(const std::string& name) const {
    const auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

// A blocking client socket to 127.0.0.1 that reads HTTP responses with deadlines.
class Client : public test::LoopbackClient {
 public:
  explicit Client(std::uint16_t port) : LoopbackClient(port) {}

  // One response (Content-Length framing); nullopt on close or time-out.
  std::optional<Reply> read_response(bool expect_body = true,
                                     std::chrono::milliseconds timeout = 10s) {
    const auto deadline = Clock::now() + timeout;
    std::size_t header_end = std::string::npos;
    while ((header_end = in_.find("\r\n\r\n")) == std::string::npos) {
      if (read_some(deadline) <= 0) return std::nullopt;
    }
    Reply reply;
    const std::string head = in_.substr(0, header_end);
    std::size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.size() < 12 || !status_line.starts_with("HTTP/1.")) return std::nullopt;
    reply.status = static_cast<unsigned>(std::stoul(status_line.substr(9, 3)));
    while (line_end != std::string::npos) {
      const std::size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line =
          head.substr(start, line_end == std::string::npos ? std::string::npos : line_end - start);
      const auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string name = line.substr(0, colon);
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      reply.headers[name] = value;
    }
    in_.erase(0, header_end + 4);
    const std::size_t length =
        expect_body && !reply.header("content-length").empty()
            ? static_cast<std::size_t>(std::stoul(reply.header("content-length")))
            : 0;
    while (in_.size() < length) {
      if (read_some(deadline) <= 0) return std::nullopt;
    }
    reply.body = in_.substr(0, length);
    in_.erase(0, length);
    return reply;
  }

  std::optional<Reply> request(std::string_view raw, bool expect_body = true) {
    if (!send(raw)) return std::nullopt;
    return read_response(expect_body);
  }

  // True when the peer closes the connection before `timeout` (bytes received meanwhile are
  // kept for read_response()).
  bool wait_closed(std::chrono::milliseconds timeout = 10s) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
      const auto n = read_some(deadline);
      if (n == 0) return true;
      if (n < 0) return !timed_out_;  // a reset counts as closed
    }
  }

 private:
  long read_some(Clock::time_point deadline) {
    char buf[8192];
    const long n = read_into(deadline, buf);
    if (n > 0) in_.append(buf, static_cast<std::size_t>(n));
    return n;
  }

  std::string in_;
};

std::string get(std::string_view path, std::string_view extra = "") {
  return "GET " + std::string(path) + " HTTP/1.1\r\nHost: localhost\r\n" + std::string(extra) +
         "\r\n";
}

class HttpServerTest : public ::testing::Test {
 protected:
  HttpServerTest() { received_.with({"lab-results"}).inc(3); }

  HttpServerConfig config() const {
    HttpServerConfig c;
    c.port = 0;
    return c;
  }

  std::vector<HttpRoute> routes() {
    return {
        {"GET", "/metrics",
         [this](const HttpRequest&) {
           return HttpResponse{200, std::string(metrics::kContentType), registry_.render(), {}};
         }},
        {"GET", "/health",
         [](const HttpRequest&) { return HttpResponse::json(200, R"({"status":"ok"})"); }},
        {"POST", "/echo",
         [](const HttpRequest& r) {
           const std::string* tag = r.header("x-tag");
           auto res = HttpResponse::text(201, r.method + " " + r.path + " ?" + r.query + " " +
                                                  (tag ? *tag : "-") + " " + r.body);
           res.headers.push_back({"X-Seen", "yes"});
           res.headers.push_back({"X-Bad", "a\r\nInjected: 1"});  // dropped by the server
           return res;
         }},
        {"GET", "/throw",
         [](const HttpRequest&) -> HttpResponse { throw std::runtime_error("boom"); }},
    };
  }

  void start(HttpServerConfig c) {
    auto s = HttpServer::start(runtime_.context(), std::move(c), routes());
    ASSERT_TRUE(s.ok()) << s.error().message();
    server_.emplace(std::move(s.value()));
  }

  void TearDown() override {
    if (server_) {
      server_->stop();
      EXPECT_TRUE(wait_until([&] { return server_->stopped(); }));
      server_.reset();
    }
  }

  metrics::Registry registry_;
  metrics::CounterFamily received_{registry_.counter("hims_messages_received_total",
                                                     "Messages received by a source.", {"source"})};
  IoRuntime runtime_{2};
  std::optional<HttpServer> server_;
};

TEST_F(HttpServerTest, MetricsServesTheRegistryText) {
  start(config());
  Client client(server_->port());
  ASSERT_TRUE(client.connected());
  const auto reply = client.request(get("/metrics"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_NE(reply->header("content-type").find("text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(reply->body, registry_.render());
  EXPECT_NE(reply->body.find("hims_messages_received_total{source=\"lab-results\"} 3\n"),
            std::string::npos);
}

TEST_F(HttpServerTest, HealthIsJson) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request(get("/health"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->header("content-type"), "application/json");
  EXPECT_EQ(reply->body, R"({"status":"ok"})");
}

TEST_F(HttpServerTest, UnknownPathIs404) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request(get("/nope"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 404u);
  EXPECT_EQ(server_->stats().not_found.load(), 1u);
  // The connection stays usable.
  const auto again = client.request(get("/health"));
  ASSERT_TRUE(again);
  EXPECT_EQ(again->status, 200u);
}

TEST_F(HttpServerTest, WrongMethodIs405WithAllow) {
  start(config());
  Client client(server_->port());
  const auto reply =
      client.request("DELETE /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 405u);
  EXPECT_EQ(reply->header("allow"), "GET, HEAD");
  EXPECT_EQ(server_->stats().method_not_allowed.load(), 1u);
}

TEST_F(HttpServerTest, HeadUsesTheGetHandlerWithoutBody) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", false);
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->header("content-length"), "15");
  // No body bytes follow: the next response starts right away.
  const auto next = client.request(get("/health"));
  ASSERT_TRUE(next);
  EXPECT_EQ(next->status, 200u);
  EXPECT_EQ(next->body, R"({"status":"ok"})");
}

TEST_F(HttpServerTest, PostPassesPathQueryHeadersAndBody) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request(
      "POST /echo?a=1&b=2 HTTP/1.1\r\nHost: x\r\nX-Tag: t1\r\nContent-Length: 5\r\n\r\nhello");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 201u);
  EXPECT_EQ(reply->body, "POST /echo ?a=1&b=2 t1 hello");
  EXPECT_EQ(reply->header("x-seen"), "yes");
  EXPECT_EQ(reply->header("x-bad"), "");
  EXPECT_EQ(reply->header("injected"), "");
}

TEST_F(HttpServerTest, HandlerExceptionIs500) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request(get("/throw"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 500u);
  EXPECT_EQ(server_->stats().handler_errors.load(), 1u);
}

TEST_F(HttpServerTest, GarbageIs400AndCloses) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request("\x01\x02 this is not HTTP\r\n\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 400u);
  EXPECT_EQ(reply->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(server_->stats().bad_requests.load(), 1u);
}

TEST_F(HttpServerTest, BadVersionIs400) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request("GET /health HTTX/9\r\n\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 400u);
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  start(config());
  Client client(server_->port());
  const auto first = client.request(get("/health"));
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 200u);
  EXPECT_NE(first->header("connection"), "close");
  const auto second = client.request(get("/metrics"));
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 200u);
  EXPECT_EQ(server_->stats().connections_accepted.load(), 1u);
  EXPECT_EQ(server_->stats().requests.load(), 2u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start(config());
  Client client(server_->port());
  ASSERT_TRUE(client.send(get("/health") + get("/nope") + get("/health")));
  const auto a = client.read_response();
  const auto b = client.read_response();
  const auto c = client.read_response();
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ(a->status, 200u);
  EXPECT_EQ(b->status, 404u);
  EXPECT_EQ(c->status, 200u);
}

TEST_F(HttpServerTest, ConnectionCloseIsHonoured) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request(get("/health", "Connection: close\r\n"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
  EXPECT_EQ(reply->header("connection"), "close");
  EXPECT_TRUE(client.wait_closed());
}

TEST_F(HttpServerTest, OversizeHeaderIs431AndCloses) {
  auto c = config();
  c.max_header_bytes = 1024;
  start(c);
  Client client(server_->port());
  const auto reply = client.request(get("/health", "X-Big: " + std::string(4096, 'a') + "\r\n"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 431u);
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(server_->stats().too_large.load(), 1u);
}

TEST_F(HttpServerTest, OversizeBodyIs413AndCloses) {
  auto c = config();
  c.max_body_bytes = 1024;
  start(c);
  Client client(server_->port());
  const auto reply =
      client.request("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n");
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 413u);
  EXPECT_TRUE(client.wait_closed());
  EXPECT_EQ(server_->stats().too_large.load(), 1u);
}

TEST_F(HttpServerTest, IdleTimeoutCloses) {
  auto c = config();
  c.idle_timeout = 200ms;
  start(c);
  Client client(server_->port());
  const auto reply = client.request(get("/health"));  // then nothing more
  ASSERT_TRUE(reply);
  EXPECT_TRUE(client.wait_closed(10s));
  EXPECT_TRUE(wait_until([&] { return server_->stats().idle_timeouts.load() == 1; }));
}

TEST_F(HttpServerTest, ReadTimeoutClosesAnUnfinishedRequest) {
  auto c = config();
  c.read_timeout = 200ms;
  start(c);
  Client client(server_->port());
  ASSERT_TRUE(client.send("GET /health HTTP/1.1\r\nHost: x\r\n"));  // no blank line
  EXPECT_TRUE(client.wait_closed(10s));
  EXPECT_TRUE(wait_until([&] { return server_->stats().read_timeouts.load() == 1; }));
}

TEST_F(HttpServerTest, MaxConnectionsRefusesTheExtraOne) {
  auto c = config();
  c.max_connections = 1;
  start(c);
  Client first(server_->port());
  ASSERT_TRUE(wait_until([&] { return server_->stats().connections_active.load() == 1; }));
  Client second(server_->port());
  EXPECT_TRUE(second.wait_closed());
  EXPECT_EQ(server_->stats().connections_refused.load(), 1u);
  const auto reply = first.request(get("/health"));
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->status, 200u);
}

TEST_F(HttpServerTest, StopClosesIdleConnectionsAndTheListener) {
  start(config());
  Client client(server_->port());
  const auto reply = client.request(get("/health"));
  ASSERT_TRUE(reply);
  const auto port = server_->port();
  server_->stop();
  EXPECT_TRUE(client.wait_closed());
  EXPECT_TRUE(wait_until([&] { return server_->stopped(); }));
  Client late(port);
  EXPECT_FALSE(late.connected() && !late.wait_closed());
}

TEST_F(HttpServerTest, StartRejectsBadConfigAndRoutes) {
  auto c = config();
  c.max_connections = 0;
  auto bad = HttpServer::start(runtime_.context(), c, routes());
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().is(HttpErrc::bad_config));

  auto duplicate = routes();
  duplicate.push_back(duplicate.front());
  auto dup = HttpServer::start(runtime_.context(), config(), duplicate);
  ASSERT_FALSE(dup.ok());
  EXPECT_TRUE(dup.error().is(HttpErrc::bad_config));

  auto relative = HttpServer::start(
      runtime_.context(), config(),
      {{"GET", "health", [](const HttpRequest&) { return HttpResponse::text(200, ""); }}});
  ASSERT_FALSE(relative.ok());
}

TEST_F(HttpServerTest, PortInUseIsBindFailed) {
  start(config());
  auto c = config();
  c.port = server_->port();
  auto second = HttpServer::start(runtime_.context(), c, routes());
  ASSERT_FALSE(second.ok());
  EXPECT_TRUE(second.error().is(HttpErrc::bind_failed));
}

}  // namespace
}  // namespace hims::adapters
