// The blocking MLLP client: each step starts one asynchronous operation on the client's own
// io_context and runs it until the step's deadline; on time-out the socket is closed, which
// cancels the operation (the Asio "blocking client with time-outs" pattern, no exceptions).
#include "adapters/mllp_client.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <thread>

#include "adapters/mllp_errors.hpp"
#include "adapters/tls.hpp"
#include "engine/log.hpp"

namespace hims::adapters {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;

std::string millis(Millis d) { return std::to_string(d.count()) + "ms"; }
}  // namespace

Status MllpClientConfig::validate() const {
  auto bad = [](std::string key, std::string detail) {
    return Error(MllpErrc::bad_config, std::move(key), std::move(detail));
  };
  if (host.empty()) return bad("host", "must not be empty");
  if (port == 0) return bad("port", "must not be 0");
  if (connect_attempts < 1) return bad("connect_attempts", "must be at least 1");
  if (connect_timeout.count() <= 0) return bad("connect_timeout", "must be positive");
  if (write_timeout.count() <= 0) return bad("write_timeout", "must be positive");
  if (ack_timeout.count() <= 0) return bad("ack_timeout", "must be positive");
  if (backoff_initial.count() < 0 || backoff_max < backoff_initial) {
    return bad("backoff_initial", "must be >= 0 and <= backoff_max");
  }
  if (max_ack_bytes == 0) return bad("max_ack_bytes", "must be at least 1");
  if (tls) return tls->validate();
  return {};
}

struct MllpClient::Impl {
  explicit Impl(MllpClientConfig c)
      : config(std::move(c)),
        where(config.host + ":" + std::to_string(config.port)),
        socket(io),
        resolver(io),
        decoder({config.max_ack_bytes, config.trailer}) {}

  // Runs the io_context until `done` or `deadline`. On time-out closes the socket (cancelling the
  // pending operation), lets its handler run, and answers false.
  bool run_until(const bool& done, Clock::time_point deadline) {
    io.restart();
    io.run_until(deadline);
    if (done) return true;
    resolver.cancel();
    error_code ec;
    socket.close(ec);
    io.restart();
    io.run();
    connected = false;
    return false;
  }

  void close() {
    error_code ec;
    socket.shutdown(tcp::socket::shutdown_both, ec);
    socket.close(ec);
    tls.reset();
    connected = false;
  }

  // A connection the partner closed (FIN) while idle is detected here, so send() does not write
  // into a dead socket. Plain TCP: any unsolicited byte also means the stream is out of step.
  // TLS: bytes may be post-handshake records (TLS 1.3 session tickets), so only EOF counts.
  bool peer_gone() {
    if (!socket.is_open()) return true;
    char byte = 0;
    const ssize_t r = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r == 0) return true;
    if (r > 0) return !tls;
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }

  std::optional<Error> connect_once();
  Status connect();
  // Writes one framed message and reads its ACK. The caller closes the connection on an error.
  Result<AckResult> exchange(std::string_view message, std::string_view control_id);

  MllpClientConfig config;
  std::string where;
  asio::io_context io{1};
  std::optional<ssl::context> tls_context;
  tcp::socket socket;
  tcp::resolver resolver;
  std::unique_ptr<ssl::stream<tcp::socket&>> tls;
  hl7v2::FrameDecoder decoder;
  std::string out;
  bool connected = false;
};

std::optional<Error> MllpClient::Impl::connect_once() {
  close();
  const auto deadline = Clock::now() + config.connect_timeout;
  bool done = false;
  error_code ec;
  tcp::resolver::results_type endpoints;
  resolver.async_resolve(config.host, std::to_string(config.port),
                         [&](const error_code& e, tcp::resolver::results_type r) {
                           ec = e;
                           endpoints = std::move(r);
                           done = true;
                         });
  if (!run_until(done, deadline))
    return Error(MllpErrc::connect_timeout, where, "resolve timed out");
  if (ec) return Error(MllpErrc::resolve_failed, where, ec.message());

  done = false;
  asio::async_connect(socket, endpoints, [&](const error_code& e, const tcp::endpoint&) {
    ec = e;
    done = true;
  });
  if (!run_until(done, deadline)) {
    return Error(MllpErrc::connect_timeout, where,
                 "no TCP connection within " + millis(config.connect_timeout));
  }
  if (ec) return Error(MllpErrc::connect_failed, where, ec.message());
  socket.set_option(tcp::no_delay(true), ec);

  if (tls_context) {
    tls = std::make_unique<ssl::stream<tcp::socket&>>(socket, *tls_context);
    if (auto s = prepare_client_stream(tls->native_handle(), *config.tls, config.host); !s) {
      return s.take_error();
    }
    done = false;
    tls->async_handshake(ssl::stream_base::client, [&](const error_code& e) {
      ec = e;
      done = true;
    });
    if (!run_until(done, deadline)) {
      return Error(MllpErrc::connect_timeout, where, "TLS handshake timed out");
    }
    if (ec) {
      std::string detail = ec.message();
      const long verify = SSL_get_verify_result(tls->native_handle());
      if (verify != X509_V_OK) {
        detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
      }
      return Error(MllpErrc::tls_handshake_failed, where, detail);
    }
  }
  connected = true;
  return std::nullopt;
}

Status MllpClient::Impl::connect() {
  Millis backoff = config.backoff_initial;
  for (int attempt = 1;; ++attempt) {
    auto failure = connect_once();
    if (!failure) {
      log::debug("MLLP connected", {{"destination", config.destination_id},
                                    {"peer", where},
                                    {"tls", tls ? "on" : "off"},
                                    {"attempt", attempt}});
      return {};
    }
    close();
    const bool final = attempt >= config.connect_attempts ||
                       failure->is(MllpErrc::tls_handshake_failed) ||
                       failure->is(MllpErrc::tls_config);
    if (final) {
      log::warn("MLLP connect failed", {{"destination", config.destination_id},
                                        {"peer", where},
                                        {"attempts", attempt},
                                        {"error", failure->message()}});
      return Error(failure->code_as<MllpErrc>(), failure->where(),
                   failure->detail() + " (attempt " + std::to_string(attempt) + " of " +
                       std::to_string(config.connect_attempts) + ")");
    }
    log::debug("MLLP connect attempt failed; retrying", {{"destination", config.destination_id},
                                                         {"peer", where},
                                                         {"attempt", attempt},
                                                         {"error", failure->message()}});
    std::this_thread::sleep_for(backoff);  // a real back-off of a blocking client
    backoff = std::min(backoff * 2, config.backoff_max);
  }
}

Result<AckResult> MllpClient::Impl::exchange(std::string_view message,
                                             std::string_view control_id) {
  out.clear();
  hl7v2::append_frame(out, message);
  bool done = false;
  error_code ec;
  auto on_write = [&](const error_code& e, std::size_t) {
    ec = e;
    done = true;
  };
  if (tls) {
    asio::async_write(*tls, asio::buffer(out), on_write);
  } else {
    asio::async_write(socket, asio::buffer(out), on_write);
  }
  if (!run_until(done, Clock::now() + config.write_timeout)) {
    return Error(MllpErrc::write_timeout, where,
                 "not written within " + millis(config.write_timeout));
  }
  if (ec) return Error(MllpErrc::write_failed, where, ec.message());

  decoder.reset();
  const auto deadline = Clock::now() + config.ack_timeout;
  for (;;) {
    const auto r = decoder.next();
    if (r.status == hl7v2::FrameStatus::frame) return read_ack(r.frame, control_id);
    if (r.status == hl7v2::FrameStatus::too_large) {
      return Error(MllpErrc::frame_too_large, where,
                   "ACK over " + std::to_string(config.max_ack_bytes) + " bytes");
    }
    if (r.status == hl7v2::FrameStatus::bad) {
      return Error(MllpErrc::bad_frame, where, "ACK end block not followed by CR");
    }
    if (ec) {  // the previous read failed and what it delivered holds no complete frame
      return Error(MllpErrc::connection_closed, where,
                   ec == asio::error::eof || ec == ssl::error::stream_truncated
                       ? std::string("closed by the partner before the ACK")
                       : ec.message());
    }
    auto space = decoder.prepare(kReadChunk);
    std::size_t got = 0;
    done = false;
    auto on_read = [&](const error_code& e, std::size_t n) {
      ec = e;
      got = n;
      done = true;
    };
    if (tls) {
      tls->async_read_some(asio::buffer(space.data(), space.size()), on_read);
    } else {
      socket.async_read_some(asio::buffer(space.data(), space.size()), on_read);
    }
    if (!run_until(done, deadline)) {
      return Error(MllpErrc::ack_timeout, where, "no ACK within " + millis(config.ack_timeout));
    }
    decoder.commit(got);
  }
}

MllpClient::MllpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
MllpClient::MllpClient(MllpClient&&) noexcept = default;
MllpClient& MllpClient::operator=(MllpClient&&) noexcept = default;
MllpClient::~MllpClient() = default;

Result<MllpClient> MllpClient::create(MllpClientConfig config) {
  if (auto s = config.validate(); !s) return s.take_error();
  auto impl = std::make_unique<Impl>(std::move(config));
  if (impl->config.tls) {
    auto ctx = make_client_context(*impl->config.tls);
    if (!ctx) return ctx.take_error();
    impl->tls_context.emplace(std::move(ctx.value()));
  }
  return MllpClient(std::move(impl));
}

Result<AckResult> MllpClient::send(std::string_view message) {
  auto control_id = message_control_id(message);
  if (!control_id) return control_id.take_error();
  if (hl7v2::contains_mllp_control(message)) {
    return Error(MllpErrc::bad_message, "message", "holds MLLP framing bytes (VT or FS)");
  }
  auto& impl = *impl_;
  if (impl.connected && impl.peer_gone()) impl.close();
  if (!impl.connected) {
    if (auto s = impl.connect(); !s) return s.take_error();
  }
  auto ack = impl.exchange(message, *control_id);
  if (!ack) {
    impl.close();  // out of step with the partner, or broken: start over on a fresh connection
    log::warn("MLLP send failed", {{"destination", impl.config.destination_id},
                                   {"peer", impl.where},
                                   {"control_id", std::string(*control_id)},
                                   {"error", ack.error().message()}});
  }
  return ack;
}

bool MllpClient::connected() const { return impl_ && impl_->connected; }

void MllpClient::close() {
  if (impl_) impl_->close();
}

}  // namespace hims::adapters
