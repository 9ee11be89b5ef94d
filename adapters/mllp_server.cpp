#include "adapters/mllp_server.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <exception>
#include <tuple>

#include "adapters/detail/listener.hpp"
#include "adapters/mllp_errors.hpp"
#include "adapters/tls.hpp"
#include "engine/log.hpp"

namespace hims::adapters {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;
}  // namespace

namespace detail {

class MllpSession;

// Everything the listener and its sessions share. Lives as long as the longest of them.
struct MllpServerCore
    : ListenerCore<MllpServerCore, MllpSession, MllpServerConfig, MllpServerStats> {
  static constexpr ListenerLabels kLabels{"MLLP", "source"};

  MllpServerCore(asio::io_context& io_context, MllpServerConfig cfg, MllpHandler h)
      : ListenerCore(io_context, std::move(cfg)), handler(std::move(h)) {}

  const std::string& id() const { return config.source_id; }

  const MllpHandler handler;
  std::optional<asio::ssl::context> tls;
};

// One connection: one coroutine owning the socket on its own strand, plus a watchdog coroutine
// that closes the socket when the current deadline passes. Everything runs on the strand.
class MllpSession : public std::enable_shared_from_this<MllpSession> {
 public:
  MllpSession(std::shared_ptr<MllpServerCore> core, tcp::socket socket, std::uint64_t id,
              std::string peer)
      : core_(std::move(core)),
        config_(core_->config),
        socket_(std::move(socket)),
        deadline_timer_(socket_.get_executor()),
        reply_timer_(socket_.get_executor()),
        id_(id),
        peer_(std::move(peer)) {}

  ~MllpSession() {
    if (registered) core_->remove(id_);
  }

  MllpSession(const MllpSession&) = delete;
  MllpSession& operator=(const MllpSession&) = delete;

  asio::any_io_executor executor() { return socket_.get_executor(); }
  asio::awaitable<void> run();
  void request_stop();
  void on_reply(std::uint64_t seq, MllpReply reply, bool dropped);

  bool registered = false;  // counted in connections_active and listed in the registry

 private:
  enum class Deadline : std::uint8_t { none, handshake, idle, read, write };
  enum class Phase : std::uint8_t { starting, reading, busy };

  asio::awaitable<void> watchdog();
  asio::awaitable<bool> drain(hl7v2::FrameDecoder& decoder);
  asio::awaitable<bool> exchange(Envelope envelope);
  void set_deadline(Deadline kind, Millis after);
  void close();
  std::string describe(const error_code& ec) const;

  std::shared_ptr<MllpServerCore> core_;
  const MllpServerConfig& config_;
  tcp::socket socket_;
  std::optional<asio::ssl::stream<tcp::socket&>> tls_;
  asio::steady_timer deadline_timer_;
  asio::steady_timer reply_timer_;
  Clock::time_point deadline_{};
  Deadline deadline_kind_ = Deadline::none;
  Deadline timed_out_ = Deadline::none;
  Phase phase_ = Phase::starting;
  bool stopping_ = false;
  bool closed_ = false;
  std::uint64_t seq_ = 0;
  std::optional<MllpReply> reply_;
  std::string out_;     // the framed ACK being written
  std::string reason_;  // why the connection ended, for the log
  const std::uint64_t id_;
  const std::string peer_;
};

// Shared by the session and every copy of the engine's MllpReplier.
struct ReplySlot {
  ReplySlot(std::weak_ptr<MllpSession> s, std::uint64_t q) : session(std::move(s)), seq(q) {}
  ~ReplySlot() {
    if (!answered.exchange(true)) deliver(MllpReply::close(), true);
  }
  ReplySlot(const ReplySlot&) = delete;
  ReplySlot& operator=(const ReplySlot&) = delete;

  void deliver(MllpReply reply, bool dropped) {
    if (auto s = session.lock()) {
      asio::post(s->executor(), [s, q = seq, r = std::move(reply), dropped]() mutable {
        s->on_reply(q, std::move(r), dropped);
      });
    }
  }

  std::weak_ptr<MllpSession> session;
  const std::uint64_t seq;
  std::atomic<bool> answered{false};
};

// ---- session -------------------------------------------------------------------------------

void MllpSession::set_deadline(Deadline kind, Millis after) {
  deadline_kind_ = kind;
  if (kind == Deadline::none) return;  // the watchdog goes back to sleep when it next wakes
  deadline_ = Clock::now() + after;
  if (deadline_ < deadline_timer_.expiry()) deadline_timer_.cancel();  // wake it to re-arm
}

void MllpSession::close() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  deadline_timer_.cancel();
  reply_timer_.cancel();
}

void MllpSession::request_stop() {
  stopping_ = true;
  if (reason_.empty()) reason_ = "server stopping";
  // Idle, mid-frame or mid-handshake: no ACK is owed, stop now. Otherwise the loop ends after the
  // ACK it owes is written.
  if (phase_ != Phase::busy) {
    error_code ec;
    socket_.cancel(ec);
  }
}

void MllpSession::on_reply(std::uint64_t seq, MllpReply reply, bool dropped) {
  if (seq != seq_ || reply_) return;  // late: the connection gave up on that envelope
  if (dropped) {
    log::warn("the engine dropped an envelope without answering; closing the connection",
              {{"source", config_.source_id}, {"peer", peer_}, {"connection", id_}});
  }
  reply_ = std::move(reply);
  reply_timer_.cancel();
}

std::string MllpSession::describe(const error_code& ec) const {
  switch (timed_out_) {
    case Deadline::idle:
      return "idle time-out";
    case Deadline::read:
      return "read time-out";
    case Deadline::handshake:
      return "TLS handshake time-out";
    case Deadline::write:
      return "write time-out";
    case Deadline::none:
      break;
  }
  if (!reason_.empty()) return reason_;
  if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) return "closed by peer";
  return "connection error: " + ec.message();
}

asio::awaitable<void> MllpSession::watchdog() {
  auto self = shared_from_this();
  while (!closed_) {
    if (deadline_kind_ != Deadline::none && Clock::now() >= deadline_) {
      timed_out_ = deadline_kind_;
      auto& s = core_->stats;
      switch (timed_out_) {
        case Deadline::idle:
          s.idle_timeouts.fetch_add(1);
          break;
        case Deadline::read:
        case Deadline::handshake:
          s.read_timeouts.fetch_add(1);
          break;
        case Deadline::write:
          s.write_timeouts.fetch_add(1);
          break;
        case Deadline::none:
          break;
      }
      close();
      co_return;
    }
    deadline_timer_.expires_at(deadline_kind_ == Deadline::none ? Clock::time_point::max()
                                                                : deadline_);
    co_await deadline_timer_.async_wait(kNoThrow);
  }
}

asio::awaitable<void> MllpSession::run() {
  auto self = shared_from_this();
  asio::co_spawn(socket_.get_executor(), watchdog(), asio::detached);
  log::debug("connection accepted",
             {{"source", config_.source_id}, {"peer", peer_}, {"connection", id_}});
  error_code last_ec;
  if (core_->tls && !stopping_) {
    tls_.emplace(socket_, *core_->tls);
    set_deadline(Deadline::handshake, config_.read_timeout);
    phase_ = Phase::reading;
    auto [ec] = co_await tls_->async_handshake(asio::ssl::stream_base::server, kNoThrow);
    if (ec && stopping_) {  // cancelled by stop(): not the peer's fault
      close();
      co_return;
    }
    if (ec) {
      core_->stats.tls_handshake_failures.fetch_add(1);
      log::warn("TLS handshake failed", {{"source", config_.source_id},
                                         {"peer", peer_},
                                         {"connection", id_},
                                         {"error", describe(ec)}});
      close();
      co_return;
    }
  }

  hl7v2::FrameDecoder decoder({config_.max_message_bytes, config_.trailer});
  set_deadline(Deadline::idle, config_.idle_timeout);
  bool frame_pending = false;
  std::uint64_t frames_seen = 0;
  std::uint64_t outside_seen = 0;
  std::uint64_t abandoned_seen = 0;
  while (!stopping_ && !closed_) {
    auto space = decoder.prepare(kReadChunk);
    phase_ = Phase::reading;
    auto [ec, n] =
        tls_ ? co_await tls_->async_read_some(asio::buffer(space.data(), space.size()), kNoThrow)
             : co_await socket_.async_read_some(asio::buffer(space.data(), space.size()), kNoThrow);
    phase_ = Phase::busy;
    decoder.commit(n);
    core_->stats.bytes_received.fetch_add(n);
    const bool keep = co_await drain(decoder);
    const auto& ds = decoder.stats();
    core_->stats.bytes_outside_frames.fetch_add(ds.bytes_outside_frames - outside_seen);
    core_->stats.frames_abandoned.fetch_add(ds.frames_abandoned - abandoned_seen);
    outside_seen = ds.bytes_outside_frames;
    abandoned_seen = ds.frames_abandoned;
    if (!keep) break;
    if (ec) {
      last_ec = ec;
      break;
    }
    if (decoder.in_frame()) {
      if (!frame_pending || frames_seen != ds.frames)
        set_deadline(Deadline::read, config_.read_timeout);
      frame_pending = true;
    } else {
      frame_pending = false;
      set_deadline(Deadline::idle, config_.idle_timeout);
    }
    frames_seen = ds.frames;
  }
  if (stopping_ && reason_.empty()) reason_ = "server stopping";
  const bool timed_out = timed_out_ != Deadline::none;
  close();
  const log::Fields fields = {{"source", config_.source_id},
                              {"peer", peer_},
                              {"connection", id_},
                              {"reason", describe(last_ec)},
                              {"frames", decoder.stats().frames}};
  if (timed_out && timed_out_ != Deadline::idle) {
    log::warn("connection closed", fields);
  } else {
    log::debug("connection closed", fields);
  }
}

asio::awaitable<bool> MllpSession::drain(hl7v2::FrameDecoder& decoder) {
  for (;;) {
    const auto r = decoder.next();
    switch (r.status) {
      case hl7v2::FrameStatus::need_more:
        co_return true;
      case hl7v2::FrameStatus::too_large:
        core_->stats.frames_too_large.fetch_add(1);
        reason_ = "frame too large";
        log::warn("MLLP frame over max_message_bytes; closing the connection",
                  {{"source", config_.source_id},
                   {"peer", peer_},
                   {"connection", id_},
                   {"max_message_bytes", config_.max_message_bytes}});
        co_return false;
      case hl7v2::FrameStatus::bad:
        core_->stats.bad_frames.fetch_add(1);
        reason_ = "bad frame";
        log::warn("MLLP end block not followed by CR; closing the connection",
                  {{"source", config_.source_id}, {"peer", peer_}, {"connection", id_}});
        co_return false;
      case hl7v2::FrameStatus::frame: {
        core_->stats.frames_received.fetch_add(1);
        if (stopping_) co_return false;  // not handed over, no ACK: the sender resends it
        Envelope envelope{
            std::string(r.frame), config_.source_id, peer_, std::chrono::system_clock::now(), {}};
        if (!co_await exchange(std::move(envelope))) co_return false;
        break;
      }
    }
  }
}

asio::awaitable<bool> MllpSession::exchange(Envelope envelope) {
  const std::uint64_t seq = ++seq_;
  reply_.reset();
  set_deadline(Deadline::none, {});  // reply_timer_ bounds the wait for the engine
  reply_timer_.expires_after(config_.reply_timeout);
  {
    auto slot = std::make_shared<ReplySlot>(weak_from_this(), seq);
    try {
      core_->handler(std::move(envelope), MllpReplier(slot));
    } catch (const std::exception& e) {
      slot->answered = true;
      reason_ = "handler error";
      log::error("the MLLP handler threw; closing the connection",
                 {{"source", config_.source_id}, {"connection", id_}, {"error", e.what()}});
      co_return false;
    } catch (...) {
      slot->answered = true;
      reason_ = "handler error";
      log::error("the MLLP handler threw; closing the connection",
                 {{"source", config_.source_id}, {"connection", id_}});
      co_return false;
    }
  }
  while (!reply_ && !closed_) {
    auto [ec] = co_await reply_timer_.async_wait(kNoThrow);
    if (!ec) break;  // expired
  }
  if (!reply_) {
    if (!closed_) {
      core_->stats.reply_timeouts.fetch_add(1);
      reason_ = "reply time-out";
      log::warn("the engine did not answer in time; closing the connection",
                {{"source", config_.source_id}, {"peer", peer_}, {"connection", id_}});
    }
    co_return false;
  }
  MllpReply reply = std::move(*reply_);
  reply_.reset();
  if (reply.action == MllpReply::Action::close) {
    core_->stats.closed_by_engine.fetch_add(1);
    reason_ = "closed by the engine";
    co_return false;
  }
  out_.clear();
  hl7v2::append_frame(out_, reply.ack);
  set_deadline(Deadline::write, config_.write_timeout);
  auto [ec, n] = tls_ ? co_await asio::async_write(*tls_, asio::buffer(out_), kNoThrow)
                      : co_await asio::async_write(socket_, asio::buffer(out_), kNoThrow);
  if (ec) {
    if (reason_.empty()) reason_ = "ACK not written: " + ec.message();
    co_return false;
  }
  core_->stats.acks_sent.fetch_add(1);
  co_return true;
}

}  // namespace detail

// ---- public API ----------------------------------------------------------------------------

void MllpReplier::operator()(MllpReply reply) const {
  if (slot_ && !slot_->answered.exchange(true)) slot_->deliver(std::move(reply), false);
}

Status MllpServerConfig::validate() const {
  auto bad = [](std::string key, std::string detail) {
    return Error(MllpErrc::bad_config, std::move(key), std::move(detail));
  };
  if (source_id.empty()) return bad("source_id", "must not be empty");
  if (host.empty()) return bad("host", "must not be empty");
  if (max_connections == 0) return bad("max_connections", "must be at least 1");
  if (max_message_bytes == 0) return bad("max_message_bytes", "must be at least 1");
  if (idle_timeout.count() <= 0) return bad("idle_timeout", "must be positive");
  if (read_timeout.count() <= 0) return bad("read_timeout", "must be positive");
  if (write_timeout.count() <= 0) return bad("write_timeout", "must be positive");
  if (reply_timeout.count() <= 0) return bad("reply_timeout", "must be positive");
  if (tls) return tls->validate();
  return {};
}

struct MllpServer::Impl {
  std::shared_ptr<detail::MllpServerCore> core;
};

MllpServer::MllpServer(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
MllpServer::MllpServer(MllpServer&&) noexcept = default;
MllpServer& MllpServer::operator=(MllpServer&& other) noexcept {
  if (this != &other) {
    if (impl_) impl_->core->stop();
    impl_ = std::move(other.impl_);
  }
  return *this;
}
MllpServer::~MllpServer() {
  if (impl_) impl_->core->stop();
}

Result<MllpServer> MllpServer::start(asio::io_context& io, MllpServerConfig config,
                                     MllpHandler handler) {
  if (auto s = config.validate(); !s) return s.take_error();
  if (!handler) return Error(MllpErrc::bad_config, "handler", "must be set");
  auto core = std::make_shared<detail::MllpServerCore>(io, std::move(config), std::move(handler));
  const auto& cfg = core->config;
  if (cfg.tls) {
    auto ctx = make_server_context(*cfg.tls);
    if (!ctx) return ctx.take_error();
    core->tls.emplace(std::move(ctx.value()));
  }

  if (auto why = core->listen(); !why.empty()) {
    return Error(MllpErrc::bind_failed, cfg.host + ":" + std::to_string(cfg.port), std::move(why));
  }
  log::info("MLLP listener started", {{"source", cfg.source_id},
                                      {"address", cfg.host},
                                      {"port", unsigned{core->port}},
                                      {"tls", cfg.tls ? to_string(cfg.tls->client_cert) : "off"}});
  core->start_accepting();
  return MllpServer(std::make_shared<Impl>(Impl{std::move(core)}));
}

std::uint16_t MllpServer::port() const { return impl_->core->port; }
const MllpServerConfig& MllpServer::config() const { return impl_->core->config; }
const MllpServerStats& MllpServer::stats() const { return impl_->core->stats; }
void MllpServer::stop() {
  if (impl_) impl_->core->stop();
}
bool MllpServer::stopped() const { return !impl_ || impl_->core->stopped(); }

}  // namespace hims::adapters
