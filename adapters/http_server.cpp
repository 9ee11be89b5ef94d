#include "adapters/http_server.hpp"

#include <algorithm>
#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <exception>
#include <limits>
#include <optional>
#include <tuple>
#include <unordered_map>

#include "adapters/detail/listener.hpp"
#include "engine/log.hpp"

namespace hims::adapters {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;
// After an error response, how long and how much the unread rest of a request is drained before
// the socket is closed, so the client reads the response instead of a reset.
constexpr std::chrono::milliseconds kLingerTime{1000};
constexpr std::size_t kLingerBytes = 1024 * 1024;
}  // namespace

std::string_view to_string(HttpErrc code) {
  switch (code) {
    case HttpErrc::bad_config:
      return "bad_config";
    case HttpErrc::bind_failed:
      return "bind_failed";
  }
  return "unknown";
}

const std::string* HttpRequest::header(std::string_view name) const {
  for (const auto& h : headers) {
    if (beast::iequals(h.name, name)) return &h.value;
  }
  return nullptr;
}

namespace detail {

class HttpSession;

struct HttpRoutesForPath {
  std::vector<HttpRoute> routes;
  std::string allow;  // the Allow header of a 405
};

// Everything the listener and its sessions share. Lives as long as the longest of them.
struct HttpServerCore
    : ListenerCore<HttpServerCore, HttpSession, HttpServerConfig, HttpServerStats> {
  static constexpr ListenerLabels kLabels{"HTTP", "listener"};

  HttpServerCore(asio::io_context& io_context, HttpServerConfig cfg)
      : ListenerCore(io_context, std::move(cfg)) {}

  const std::string& id() const { return config.listener_id; }

  std::unordered_map<std::string, HttpRoutesForPath> routes;  // read-only once started
};

// One connection: one coroutine owning the stream on its own strand. The stream's own expiry
// bounds every read and write.
class HttpSession : public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(std::shared_ptr<HttpServerCore> core, tcp::socket socket, std::uint64_t id,
              std::string peer)
      : core_(std::move(core)),
        config_(core_->config),
        stream_(std::move(socket)),
        id_(id),
        peer_(std::move(peer)) {}

  ~HttpSession() {
    if (registered) core_->remove(id_);
  }

  HttpSession(const HttpSession&) = delete;
  HttpSession& operator=(const HttpSession&) = delete;

  asio::any_io_executor executor() { return stream_.get_executor(); }
  asio::awaitable<void> run();
  void request_stop();

  bool registered = false;  // counted in connections_active and listed in the registry

 private:
  enum class Phase : std::uint8_t { idle, reading, busy };
  using Request = http::request<http::string_body>;
  using Response = http::response<http::string_body>;

  HttpResponse dispatch(const Request& req);
  asio::awaitable<bool> write(Response& res);
  asio::awaitable<void> reject(unsigned status, std::string_view body);
  asio::awaitable<void> linger_close();
  void close();

  std::shared_ptr<HttpServerCore> core_;
  const HttpServerConfig& config_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  Phase phase_ = Phase::idle;
  bool stopping_ = false;
  bool closed_ = false;
  std::uint64_t requests_ = 0;
  std::string reason_;  // why the connection ended, for the log
  const std::uint64_t id_;
  const std::string peer_;
};

// ---- session -------------------------------------------------------------------------------

void HttpSession::close() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.close();
}

void HttpSession::request_stop() {
  stopping_ = true;
  // Waiting for the next request: nothing is owed, stop now. Otherwise the loop ends after the
  // current response (bounded by the read and write time-outs).
  if (phase_ == Phase::idle) stream_.cancel();
}

asio::awaitable<bool> HttpSession::write(Response& res) {
  stream_.expires_after(config_.write_timeout);
  auto [ec, n] = co_await http::async_write(stream_, res, kNoThrow);
  if (ec) {
    if (ec == beast::error::timeout) {
      core_->stats.write_timeouts.fetch_add(1);
      reason_ = "write time-out";
    } else {
      reason_ = "response not written: " + ec.message();
    }
    co_return false;
  }
  co_return true;
}

// An error response with `Connection: close`, then the connection ends.
asio::awaitable<void> HttpSession::reject(unsigned status, std::string_view body) {
  Response res;
  res.version(11);
  res.result(status);
  res.set(http::field::server, "hims-engine");
  res.set(http::field::content_type, "text/plain; charset=utf-8");
  res.keep_alive(false);
  res.body() = std::string(body) + "\n";
  res.prepare_payload();
  if (co_await write(res)) co_await linger_close();
}

asio::awaitable<void> HttpSession::linger_close() {
  error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) co_return;
  std::size_t drained = 0;
  stream_.expires_after(std::min<std::chrono::milliseconds>(config_.read_timeout, kLingerTime));
  std::array<char, 4096> sink{};
  while (drained < kLingerBytes) {
    auto [read_ec, n] = co_await stream_.async_read_some(asio::buffer(sink), kNoThrow);
    if (read_ec) break;
    drained += n;
  }
}

HttpResponse HttpSession::dispatch(const Request& req) {
  HttpRequest request;
  request.method = std::string(req.method_string());
  request.target = std::string(req.target());
  const auto q = request.target.find('?');
  request.path = request.target.substr(0, q);
  if (q != std::string::npos) request.query = request.target.substr(q + 1);
  const auto found = core_->routes.find(request.path);
  if (found == core_->routes.end()) {
    core_->stats.not_found.fetch_add(1);
    return HttpResponse::text(404, "not found\n");
  }
  const HttpRoute* route = nullptr;
  for (const auto& r : found->second.routes) {
    if (r.method == request.method) route = &r;
  }
  if (route == nullptr && request.method == "HEAD") {
    for (const auto& r : found->second.routes) {
      if (r.method == "GET") route = &r;
    }
  }
  if (route == nullptr) {
    core_->stats.method_not_allowed.fetch_add(1);
    auto res = HttpResponse::text(405, "method not allowed\n");
    res.headers.push_back({"Allow", found->second.allow});
    return res;
  }
  for (const auto& field : req) {
    request.headers.push_back({std::string(field.name_string()), std::string(field.value())});
  }
  request.body = req.body();
  request.peer = peer_;
  try {
    return route->handler(request);
  } catch (const std::exception& e) {
    core_->stats.handler_errors.fetch_add(1);
    log::error("the HTTP handler threw", {{"listener", config_.listener_id},
                                          {"route", route->path},
                                          {"method", route->method},
                                          {"error", e.what()}});
  } catch (...) {
    core_->stats.handler_errors.fetch_add(1);
    log::error(
        "the HTTP handler threw",
        {{"listener", config_.listener_id}, {"route", route->path}, {"method", route->method}});
  }
  return HttpResponse::text(500, "internal error\n");
}

asio::awaitable<void> HttpSession::run() {
  auto self = shared_from_this();
  log::debug("connection accepted",
             {{"listener", config_.listener_id}, {"peer", peer_}, {"connection", id_}});
  buffer_.max_size(config_.max_header_bytes + 2 * kReadChunk);
  while (!stopping_ && !closed_) {
    if (buffer_.size() == 0) {
      // Keep-alive: wait for the first byte of the next request under the idle time-out.
      phase_ = Phase::idle;
      stream_.expires_after(config_.idle_timeout);
      auto [ec, n] = co_await stream_.async_read_some(buffer_.prepare(kReadChunk), kNoThrow);
      buffer_.commit(n);
      if (ec) {
        if (ec == beast::error::timeout) {
          core_->stats.idle_timeouts.fetch_add(1);
          reason_ = "idle time-out";
        } else if (ec == asio::error::eof) {
          reason_ = "closed by peer";
        } else if (!stopping_) {
          reason_ = "connection error: " + ec.message();
        }
        break;
      }
    }
    phase_ = Phase::reading;
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(
        config_.max_header_bytes, std::numeric_limits<std::uint32_t>::max())));
    parser.body_limit(config_.max_body_bytes);
    stream_.expires_after(config_.read_timeout);
    auto [ec, n] = co_await http::async_read(stream_, buffer_, parser, kNoThrow);
    phase_ = Phase::busy;
    if (ec) {
      const log::Fields fields = {{"listener", config_.listener_id},
                                  {"peer", peer_},
                                  {"connection", id_},
                                  {"error", ec.message()}};
      if (ec == beast::error::timeout) {
        core_->stats.read_timeouts.fetch_add(1);
        reason_ = "read time-out";
      } else if (ec == http::error::header_limit || ec == http::error::buffer_overflow) {
        core_->stats.too_large.fetch_add(1);
        reason_ = "header too large";
        log::debug("HTTP request header over max_header_bytes", fields);
        co_await reject(431, "request header fields too large");
      } else if (ec == http::error::body_limit) {
        core_->stats.too_large.fetch_add(1);
        reason_ = "body too large";
        log::debug("HTTP request body over max_body_bytes", fields);
        co_await reject(413, "payload too large");
      } else if (ec == http::error::end_of_stream || ec == http::error::partial_message ||
                 ec == asio::error::eof || ec.category() == asio::error::get_system_category()) {
        reason_ = "closed by peer";
      } else {
        core_->stats.bad_requests.fetch_add(1);
        reason_ = "malformed request";
        log::debug("malformed HTTP request", fields);
        co_await reject(400, "bad request");
      }
      break;
    }
    const Request& req = parser.get();
    core_->stats.requests.fetch_add(1);
    ++requests_;
    if (req.target().empty() || req.target().front() != '/') {
      core_->stats.bad_requests.fetch_add(1);
      reason_ = "malformed request";
      co_await reject(400, "bad request: origin-form target expected");
      break;
    }
    HttpResponse out = dispatch(req);
    if (out.status < 100 || out.status > 599) out = HttpResponse::text(500, "internal error\n");

    Response res;
    res.version(req.version());
    res.result(out.status);
    res.set(http::field::server, "hims-engine");
    res.set(http::field::content_type, out.content_type);
    for (const auto& h : out.headers) {
      // Framing is ours; CR/LF in a value would split the header.
      if (beast::iequals(h.name, "content-length") || beast::iequals(h.name, "transfer-encoding") ||
          beast::iequals(h.name, "connection") ||
          h.value.find_first_of("\r\n") != std::string::npos ||
          h.name.find_first_of("\r\n: ") != std::string::npos || h.name.empty()) {
        continue;
      }
      res.set(h.name, h.value);
    }
    const bool keep_alive = req.keep_alive() && !stopping_;
    res.keep_alive(keep_alive);
    res.body() = std::move(out.body);
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();  // Content-Length stays that of GET
    if (!co_await write(res)) break;
    if (!keep_alive) {
      if (reason_.empty()) reason_ = stopping_ ? "server stopping" : "not keep-alive";
      break;
    }
  }
  if (stopping_ && reason_.empty()) reason_ = "server stopping";
  close();
  log::debug("connection closed", {{"listener", config_.listener_id},
                                   {"peer", peer_},
                                   {"connection", id_},
                                   {"reason", reason_},
                                   {"requests", requests_}});
}

}  // namespace detail

// ---- public API ----------------------------------------------------------------------------

Status HttpServerConfig::validate() const {
  auto bad = [](std::string key, std::string detail) {
    return Error(HttpErrc::bad_config, std::move(key), std::move(detail));
  };
  if (listener_id.empty()) return bad("listener_id", "must not be empty");
  if (host.empty()) return bad("host", "must not be empty");
  if (max_connections == 0) return bad("max_connections", "must be at least 1");
  if (max_header_bytes < 256) return bad("max_header_bytes", "must be at least 256");
  if (max_header_bytes > (1u << 30)) return bad("max_header_bytes", "must be at most 1 GiB");
  if (idle_timeout.count() <= 0) return bad("idle_timeout", "must be positive");
  if (read_timeout.count() <= 0) return bad("read_timeout", "must be positive");
  if (write_timeout.count() <= 0) return bad("write_timeout", "must be positive");
  return {};
}

struct HttpServer::Impl {
  std::shared_ptr<detail::HttpServerCore> core;
};

HttpServer::HttpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpServer::HttpServer(HttpServer&&) noexcept = default;
HttpServer& HttpServer::operator=(HttpServer&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->core->stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
HttpServer::~HttpServer() {
  if (impl_) impl_->core->stop();
}

Result<HttpServer> HttpServer::start(asio::io_context& io, HttpServerConfig config,
                                     std::vector<HttpRoute> routes) {
  if (auto s = config.validate(); !s) return s.take_error();
  auto core = std::make_shared<detail::HttpServerCore>(io, std::move(config));
  for (auto& route : routes) {
    const std::string where = "routes." + route.method + " " + route.path;
    if (route.path.empty() || route.path.front() != '/') {
      return Error(HttpErrc::bad_config, where, "path must start with '/'");
    }
    if (route.method.empty()) return Error(HttpErrc::bad_config, where, "method must be set");
    if (!route.handler) return Error(HttpErrc::bad_config, where, "handler must be set");
    auto& entry = core->routes[route.path];
    for (const auto& r : entry.routes) {
      if (r.method == route.method) return Error(HttpErrc::bad_config, where, "duplicate route");
    }
    entry.routes.push_back(std::move(route));
  }
  for (auto& [path, entry] : core->routes) {
    bool get = false;
    bool head = false;
    for (const auto& r : entry.routes) {
      if (!entry.allow.empty()) entry.allow += ", ";
      entry.allow += r.method;
      get = get || r.method == "GET";
      head = head || r.method == "HEAD";
    }
    if (get && !head) entry.allow += ", HEAD";
  }

  const auto& cfg = core->config;
  if (auto why = core->listen(); !why.empty()) {
    return Error(HttpErrc::bind_failed, cfg.host + ":" + std::to_string(cfg.port), std::move(why));
  }
  log::info("HTTP listener started",
            {{"listener", cfg.listener_id}, {"address", cfg.host}, {"port", unsigned{core->port}}});
  core->start_accepting();
  return HttpServer(std::make_shared<Impl>(Impl{std::move(core)}));
}

std::uint16_t HttpServer::port() const { return impl_->core->port; }
const HttpServerConfig& HttpServer::config() const { return impl_->core->config; }
const HttpServerStats& HttpServer::stats() const { return impl_->core->stats; }
void HttpServer::stop() {
  if (impl_) impl_->core->stop();
}
bool HttpServer::stopped() const { return !impl_ || impl_->core->stopped(); }

}  // namespace hims::adapters
