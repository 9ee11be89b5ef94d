// IoRuntime: an io_context run by N threads, for the engine's adapters (and tests). Owns the
// context and its threads; start/release/stop/join/join_for are for the owning thread only;
// context() and usable_cpus() may be called from any thread.
#pragma once

#include <chrono>
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
  // Waits up to `timeout` for every thread to return, then joins them. False on time-out (the
  // threads keep running; stop() then join() ends them).
  bool join_for(std::chrono::milliseconds timeout);

  // The CPUs this process may run on (its affinity mask on Linux, so `taskset` and cgroup cpusets
  // count), falling back to std::thread::hardware_concurrency(); at least 1.
  static unsigned usable_cpus();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace hims::adapters
