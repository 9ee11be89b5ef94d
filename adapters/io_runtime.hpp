// IoRuntime: an io_context run by N threads, for the engine's adapters (and tests). Owns the
// context and its threads; start/stop/join are for the owning thread only.
#pragma once

#include <memory>

namespace boost::asio {
class io_context;
}

namespace hims::adapters {

class IoRuntime {
 public:
  // Starts `threads` threads (at least 1) running the context; a work guard keeps them alive
  // until release() or stop().
  explicit IoRuntime(unsigned threads);
  ~IoRuntime();  // stop() and join()
  IoRuntime(const IoRuntime&) = delete;
  IoRuntime& operator=(const IoRuntime&) = delete;

  boost::asio::io_context& context();
  // Drops the work guard: the threads return once no work remains (graceful: after the
  // listeners stopped and the connections ended).
  void release();
  // Abandons pending work: the threads return as soon as their current handler ends.
  void stop();
  void join();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hims::adapters
