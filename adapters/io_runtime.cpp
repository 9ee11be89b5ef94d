#include "adapters/io_runtime.hpp"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <optional>
#include <thread>
#include <vector>

#include "engine/log.hpp"

namespace hims::adapters {

namespace asio = boost::asio;

struct IoRuntime::Impl {
  explicit Impl(unsigned count) : io(static_cast<int>(count)), guard(io.get_executor()) {}
  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::vector<std::thread> threads;
};

IoRuntime::IoRuntime(unsigned threads) : impl_(std::make_unique<Impl>(threads == 0 ? 1 : threads)) {
  for (unsigned i = 0; i < (threads == 0 ? 1 : threads); ++i) {
    impl_->threads.emplace_back([this] {
      for (;;) {
        try {
          impl_->io.run();
          return;
        } catch (const std::exception& e) {  // a handler threw: log it and keep the thread
          log::error("an I/O handler threw", {{"error", e.what()}});
        }
      }
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

}  // namespace hims::adapters
