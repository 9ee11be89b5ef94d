#include "adapters/stop_signals.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <csignal>
#include <mutex>

#include "engine/log.hpp"

namespace hims::adapters {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
constexpr std::chrono::milliseconds kPollInterval{20};
}  // namespace

// Every handler runs on `strand`; `mutex` makes cancel() wait for a callback in progress.
struct StopSignals::Impl : std::enable_shared_from_this<StopSignals::Impl> {
  Impl(asio::io_context& context, std::function<void()> stop_fn, std::function<bool()> stopped_fn,
       std::chrono::milliseconds deadline_in)
      : io(context),
        strand(asio::make_strand(context)),
        signals(strand, SIGINT, SIGTERM),
        deadline(strand),
        poll_timer(strand),
        stop(std::move(stop_fn)),
        stopped(std::move(stopped_fn)),
        deadline_after(deadline_in) {}

  void arm() {
    signals.async_wait([self = shared_from_this()](const error_code& ec, int signal) {
      self->on_signal(ec, signal);
    });
  }

  void on_signal(const error_code& ec, int signal) {
    if (ec) return;
    std::lock_guard lock(mutex);
    if (cancelled) return;
    if (stopping) {
      log::warn("second signal: stopping now", {{"signal", signal}});
      io.stop();
      return;
    }
    stopping = true;
    log::info("stopping", {{"signal", signal}});
    stop();
    deadline.expires_after(deadline_after);
    deadline.async_wait([self = shared_from_this()](const error_code& wait_ec) {
      if (wait_ec) return;
      std::lock_guard deadline_lock(self->mutex);
      if (self->cancelled) return;
      log::warn("graceful stop took too long: stopping now");
      self->io.stop();
    });
    arm();
    poll_locked();
  }

  // The servers' stop() is asynchronous: poll `stopped` so the signal set and the deadline can be
  // cancelled once there is no work left, letting the runtime's threads return.
  void poll_locked() {
    if (stopped()) {
      cancelled = true;
      cancel_io();
      return;
    }
    poll_timer.expires_after(kPollInterval);
    poll_timer.async_wait([self = shared_from_this()](const error_code& ec) {
      if (ec) return;
      std::lock_guard lock(self->mutex);
      if (!self->cancelled) self->poll_locked();
    });
  }

  // On the strand only: the I/O objects are not thread-safe.
  void cancel_io() {
    error_code ignored;
    signals.cancel(ignored);  // still registered until destroyed: a late signal is swallowed
    deadline.cancel();
    poll_timer.cancel();
  }

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  asio::signal_set signals;
  asio::steady_timer deadline;
  asio::steady_timer poll_timer;
  std::function<void()> stop;
  std::function<bool()> stopped;
  std::chrono::milliseconds deadline_after;
  std::mutex mutex;  // held while a callback runs; guards `cancelled` and `stopping`
  bool cancelled = false;
  bool stopping = false;
};

StopSignals::StopSignals(IoRuntime& runtime, std::function<void()> stop,
                         std::function<bool()> stopped, std::chrono::milliseconds deadline)
    : impl_(std::make_shared<Impl>(runtime.context(), std::move(stop), std::move(stopped),
                                   deadline)) {
  // The signals are registered by now (a signal raised before the wait starts is kept); the wait
  // starts on the strand, like every other use of the I/O objects.
  asio::post(impl_->strand, [impl = impl_] {
    std::lock_guard lock(impl->mutex);
    if (!impl->cancelled) impl->arm();
  });
}

StopSignals::~StopSignals() { cancel(); }

void StopSignals::cancel() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    if (impl_->cancelled) return;
    impl_->cancelled = true;
  }
  // The I/O objects belong to the strand: cancel them there. Handlers still queued see
  // `cancelled` and call nothing; the last one frees the Impl.
  asio::post(impl_->strand, [impl = impl_] { impl->cancel_io(); });
}

}  // namespace hims::adapters
