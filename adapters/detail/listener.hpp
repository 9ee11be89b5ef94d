// ListenerCore: the listening half shared by MllpServer and HttpServer (acceptor, a registry of
// sessions capped at max_connections, graceful stop), as a CRTP base of each server's core; the
// core is shared by the server, its accept loop and its sessions. Thread-safe: the registry is
// under `mutex`, the acceptor stays on its strand. Adapter-internal (includes Asio).
#pragma once

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "engine/log.hpp"

namespace hims::adapters::detail {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

// Completion token: `auto [ec, ...] = co_await op(..., kNoThrow);` (errors are values).
inline constexpr auto kNoThrow = asio::as_tuple(asio::use_awaitable);

// "ip:port", "[ip6]:port".
inline std::string peer_name(const tcp::endpoint& ep) {
  const auto address = ep.address();
  std::string out = address.is_v6() ? "[" + address.to_string() + "]" : address.to_string();
  return out + ":" + std::to_string(ep.port());
}

// How a listener names itself in log lines: "<protocol> listener stopped", {<field>: id}.
struct ListenerLabels {
  std::string_view protocol;  // "MLLP"
  std::string_view field;     // "source"
};

// Derived (the server's core) defines `static constexpr ListenerLabels kLabels` and
// `const std::string& id() const`. Session is made from (std::shared_ptr<Derived>, tcp::socket,
// id, peer) and has executor(), run(), request_stop() and `bool registered`; when registered,
// its destructor calls remove(id).
template <class Derived, class Session, class Config, class Stats>
struct ListenerCore : std::enable_shared_from_this<Derived> {
  ListenerCore(asio::io_context& io_context, Config cfg)
      : io(io_context), config(std::move(cfg)), acceptor(asio::make_strand(io_context)) {}

  // Resolves, opens, binds and listens on host:port, then sets `port`. Empty when listening,
  // else why not ("cannot bind: ...").
  std::string listen();
  // Runs accept_loop() on the acceptor's strand.
  void start_accepting();
  // add() counts the session in connections_active and lists it; remove() undoes both.
  bool add(const std::shared_ptr<Session>& session, std::uint64_t id);
  void remove(std::uint64_t id);
  void stop();
  bool stopped() const { return accept_loop_done.load() && stats.connections_active.load() == 0; }

  asio::io_context& io;
  const Config config;
  tcp::acceptor acceptor;
  Stats stats;
  std::uint16_t port = 0;
  std::atomic<bool> stop_requested{false};
  std::atomic<bool> accept_loop_done{false};

  std::mutex mutex;  // guards sessions and stopping
  std::unordered_map<std::uint64_t, std::weak_ptr<Session>> sessions;
  bool stopping = false;

 private:
  asio::awaitable<void> accept_loop();
  static std::string what(std::string_view rest) {
    return std::string(Derived::kLabels.protocol) + std::string(rest);
  }
  const std::string& name() const { return static_cast<const Derived&>(*this).id(); }
};

template <class D, class S, class C, class T>
std::string ListenerCore<D, S, C, T>::listen() {
  boost::system::error_code ec;
  tcp::resolver resolver(io);
  const auto endpoints =
      resolver.resolve(config.host, std::to_string(config.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) return "cannot resolve: " + ec.message();
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  if (acceptor.open(endpoint.protocol(), ec); ec) return "cannot open: " + ec.message();
  acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (acceptor.bind(endpoint, ec); ec) return "cannot bind: " + ec.message();
  if (acceptor.listen(asio::socket_base::max_listen_connections, ec); ec) {
    return "cannot listen: " + ec.message();
  }
  port = acceptor.local_endpoint(ec).port();
  return {};
}

template <class D, class S, class C, class T>
void ListenerCore<D, S, C, T>::start_accepting() {
  asio::co_spawn(acceptor.get_executor(), accept_loop(), [](std::exception_ptr e) {
    if (e) log::error(what(" listener ended by an exception"));
  });
}

template <class D, class S, class C, class T>
bool ListenerCore<D, S, C, T>::add(const std::shared_ptr<S>& session, std::uint64_t id) {
  std::lock_guard lock(mutex);
  if (stopping || stats.connections_active.load() >= config.max_connections) return false;
  stats.connections_active.fetch_add(1);
  sessions.emplace(id, session);
  session->registered = true;
  return true;
}

template <class D, class S, class C, class T>
void ListenerCore<D, S, C, T>::remove(std::uint64_t id) {
  std::lock_guard lock(mutex);
  sessions.erase(id);
  stats.connections_active.fetch_sub(1);
}

template <class D, class S, class C, class T>
void ListenerCore<D, S, C, T>::stop() {
  if (stop_requested.exchange(true)) return;
  std::vector<std::weak_ptr<S>> to_stop;
  {
    std::lock_guard lock(mutex);
    stopping = true;
    for (auto& [id, session] : sessions) to_stop.push_back(session);
  }
  asio::post(acceptor.get_executor(), [self = this->shared_from_this()] {
    boost::system::error_code ec;
    self->acceptor.close(ec);
  });
  for (auto& weak : to_stop) {
    if (auto session = weak.lock()) {
      asio::post(session->executor(), [session] { session->request_stop(); });
    }
  }
}

template <class D, class S, class C, class T>
asio::awaitable<void> ListenerCore<D, S, C, T>::accept_loop() {
  auto self = this->shared_from_this();
  const std::string_view field = D::kLabels.field;
  std::uint64_t next_id = 0;
  while (!stop_requested) {
    tcp::socket socket(asio::make_strand(io));
    auto [ec] = co_await acceptor.async_accept(socket, kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || stop_requested || !acceptor.is_open()) break;
      log::warn("accept failed", {{field, name()}, {"error", ec.message()}});
      asio::steady_timer pause(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await pause.async_wait(kNoThrow);  // e.g. out of file descriptors: do not spin
      continue;
    }
    // Replies are small writes: without this, Nagle plus the peer's delayed ACK adds latency.
    boost::system::error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);  // best effort
    boost::system::error_code peer_ec;
    const auto remote = socket.remote_endpoint(peer_ec);
    std::string peer = peer_ec ? std::string("unknown") : peer_name(remote);
    const std::uint64_t id = ++next_id;
    auto session = std::make_shared<S>(self, std::move(socket), id, peer);
    if (!add(session, id)) {
      stats.connections_refused.fetch_add(1);
      log::warn("connection refused: max_connections reached or stopping",
                {{field, name()}, {"peer", peer}, {"max_connections", config.max_connections}});
      continue;  // `session` goes out of scope and closes the socket
    }
    stats.connections_accepted.fetch_add(1);
    auto executor = session->executor();
    asio::co_spawn(executor, session->run(), [field, listener = name()](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log::error(what(" connection ended by an exception"),
                   {{field, listener}, {"error", ex.what()}});
      } catch (...) {
        log::error(what(" connection ended by an exception"), {{field, listener}});
      }
    });
  }
  accept_loop_done = true;
  log::info(what(" listener stopped"), {{field, name()}, {"port", unsigned{port}}});
}

}  // namespace hims::adapters::detail
