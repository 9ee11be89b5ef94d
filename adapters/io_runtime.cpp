#include "adapters/io_runtime.hpp"

#include <sched.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "engine/log.hpp"
#include "engine/thread_name.hpp"

namespace hims::adapters {

namespace asio = boost::asio;

struct IoRuntime::Impl {
  explicit Impl(unsigned count) : io(static_cast<int>(count)), guard(io.get_executor()) {}
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::vector<std::thread> threads;
  std::mutex mutex;  // guards `returned`
  std::condition_variable returned_cv;
  unsigned returned = 0;  // threads whose run loop has ended
};

IoRuntime::IoRuntime(unsigned threads) : impl_(std::make_unique<Impl>(threads == 0 ? 1 : threads)) {
  for (unsigned i = 0; i < (threads == 0 ? 1 : threads); ++i) {
    impl_->threads.emplace_back([impl = impl_.get(), i] {
      set_thread_name("hims-io-" + std::to_string(i));
      for (;;) {
        try {
          impl->io.run();
          break;
        } catch (const std::exception& e) {  // a handler threw: log it and keep the thread
          log::error("an I/O handler threw", {{"error", e.what()}});
        }
      }
      {
        std::lock_guard lock(impl->mutex);
        ++impl->returned;
      }
      impl->returned_cv.notify_all();
    });
  }
}

IoRuntime::~IoRuntime() {
  stop();
  join();
}

asio::io_context& IoRuntime::context() { return impl_->io; }

void IoRuntime::release() { impl_->guard.reset(); }

void IoRuntime::stop() {
  impl_->guard.reset();
  impl_->io.stop();
}

void IoRuntime::join() {
  for (auto& t : impl_->threads) {
    if (t.joinable()) t.join();
  }
}

bool IoRuntime::join_for(std::chrono::milliseconds timeout) {
  {
    std::unique_lock lock(impl_->mutex);
    const auto count = impl_->threads.size();
    if (!impl_->returned_cv.wait_for(lock, timeout, [&] { return impl_->returned == count; })) {
      return false;
    }
  }
  join();
  return true;
}

unsigned IoRuntime::usable_cpus() {
#ifdef __linux__
  // cpu_set_t holds 1024 CPUs; a larger machine needs a bigger, dynamically sized mask.
  for (int cpus = CPU_SETSIZE; cpus <= (1 << 16); cpus *= 2) {
    cpu_set_t* set = CPU_ALLOC(static_cast<std::size_t>(cpus));
    if (set == nullptr) break;
    const std::size_t size = CPU_ALLOC_SIZE(static_cast<std::size_t>(cpus));
    CPU_ZERO_S(size, set);
    const int rc = ::sched_getaffinity(0, size, set);
    const int count = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    const int error = rc == 0 ? 0 : errno;
    CPU_FREE(set);
    if (rc == 0 && count > 0) return static_cast<unsigned>(count);
    if (rc != 0 && error == EINVAL) continue;  // mask too small for the kernel's
    break;
  }
#endif
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace hims::adapters
