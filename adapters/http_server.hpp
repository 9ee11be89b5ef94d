// HttpServer: a small HTTP/1.1 listener for `/health`, `/metrics` and, later, the dashboard and
// its API. Plain TCP (TLS is a follow-up), keep-alive, time-outs and size limits on every read;
// a routing table of exact paths and methods to handlers. Runs on an io_context the caller owns
// (and runs on any number of threads); start, stop, port and stats are thread-safe. No Asio or
// Beast in this header.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/result.hpp"

namespace boost::asio {
class io_context;
}

namespace hims::adapters {

enum class HttpErrc : std::uint8_t {
  bad_config,   // a config value out of range (validate()), or a bad routing table
  bind_failed,  // the listen address cannot be resolved, bound or listened on
};

constexpr ErrorDomain error_domain(HttpErrc) { return ErrorDomain::io; }
std::string_view to_string(HttpErrc code);

struct HttpServerConfig {
  std::string listener_id = "http";          // the `listener` log field
  std::string host = "127.0.0.1";            // an IP address or a name ("0.0.0.0", "::")
  std::uint16_t port = 8080;                 // 0: any free port (HttpServer::port() tells which)
  std::size_t max_connections = 64;          // more are accepted, logged and closed at once
  std::size_t max_header_bytes = 16 * 1024;  // request line plus headers; over: 431 and close
  std::size_t max_body_bytes = 1024 * 1024;  // over: 413 and close
  std::chrono::milliseconds idle_timeout{std::chrono::seconds(30)};   // nothing between requests
  std::chrono::milliseconds read_timeout{std::chrono::seconds(10)};   // a request not complete
  std::chrono::milliseconds write_timeout{std::chrono::seconds(10)};  // a response not taken
  Status validate() const;
};

struct HttpHeader {
  std::string name;  // as the client sent it; compare case-insensitively
  std::string value;
};

struct HttpRequest {
  std::string method;  // "GET", "POST", ... (case-sensitive, as HTTP says)
  std::string target;  // the request-target as sent: "/metrics?name=x"
  std::string path;    // the target before '?': "/metrics" (not percent-decoded)
  std::string query;   // the target after '?', without it (not decoded); empty if none
  std::vector<HttpHeader> headers;
  std::string body;
  std::string peer;  // "127.0.0.1:54321"

  // The first header with this name (case-insensitive), or nullptr.
  const std::string* header(std::string_view name) const;
};

struct HttpResponse {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<HttpHeader> headers;  // extra headers (Cache-Control, ...); not Content-Length

  static HttpResponse text(unsigned status, std::string body) {
    return {status, "text/plain; charset=utf-8", std::move(body), {}};
  }
  static HttpResponse json(unsigned status, std::string body) {
    return {status, "application/json", std::move(body), {}};
  }
};

// Called on the connection's strand, one request at a time per connection. It must not block
// (render from memory; post slow work elsewhere). An exception is logged and answered with 500.
using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

// Exact path + method -> handler. A HEAD request is served by the GET handler without the body.
struct HttpRoute {
  std::string method;
  std::string path;
  HttpHandler handler;
};

// Counters (monotonic, except connections_active). Read with .load(); updated concurrently.
struct HttpServerStats {
  std::atomic<std::uint64_t> connections_accepted{0};
  std::atomic<std::uint64_t> connections_refused{0};  // over max_connections, or while stopping
  std::atomic<std::uint64_t> connections_active{0};
  std::atomic<std::uint64_t> requests{0};            // complete requests handled (any status)
  std::atomic<std::uint64_t> bad_requests{0};        // 400: malformed
  std::atomic<std::uint64_t> not_found{0};           // 404
  std::atomic<std::uint64_t> method_not_allowed{0};  // 405
  std::atomic<std::uint64_t> too_large{0};           // 413 body or 431 header
  std::atomic<std::uint64_t> handler_errors{0};      // 500: the handler threw
  std::atomic<std::uint64_t> idle_timeouts{0};
  std::atomic<std::uint64_t> read_timeouts{0};
  std::atomic<std::uint64_t> write_timeouts{0};
};

class HttpServer {
 public:
  // Validates the config and the routes (no duplicate method + path, paths start with '/',
  // handlers set), binds and listens, then accepts on `io`. Errors: HttpErrc::bad_config,
  // bind_failed.
  static Result<HttpServer> start(boost::asio::io_context& io, HttpServerConfig config,
                                  std::vector<HttpRoute> routes);

  HttpServer(HttpServer&&) noexcept;
  HttpServer& operator=(HttpServer&&) noexcept;
  ~HttpServer();  // stop(); destroy the server before its io_context

  // The bound port (the real one when config.port was 0).
  std::uint16_t port() const;
  const HttpServerConfig& config() const;
  const HttpServerStats& stats() const;

  // Graceful stop, asynchronous and idempotent: closes the listener and idle connections; a
  // request being read or answered finishes, with `Connection: close`. The io_context runs out of
  // this server's work once stopped() is true.
  void stop();
  bool stopped() const;

 private:
  struct Impl;
  explicit HttpServer(std::shared_ptr<Impl> impl);
  std::shared_ptr<Impl> impl_;
};

}  // namespace hims::adapters
