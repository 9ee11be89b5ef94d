// StopSignals: the graceful stop of an IoRuntime on SIGINT/SIGTERM. Owned by the thread that owns
// the runtime; its handlers run on one strand of the runtime; the callbacks are called there, never
// after the destructor (or cancel()) returned. No Asio in this header.
#pragma once

#include <chrono>
#include <functional>
#include <memory>

#include "adapters/io_runtime.hpp"

namespace hims::adapters {

class StopSignals {
 public:
  // Registers SIGINT and SIGTERM on `runtime` at once. On the first signal: logs "stopping", calls
  // `stop` (e.g. stop the servers), then polls `stopped` until it holds; then it cancels its own
  // work, so the runtime's threads return once released. A second signal, or `deadline` without
  // `stopped`, stops the runtime's context at once (logged as a warning).
  StopSignals(IoRuntime& runtime, std::function<void()> stop, std::function<bool()> stopped,
              std::chrono::milliseconds deadline = std::chrono::seconds(30));
  ~StopSignals();  // cancel(), then unregisters the signals once no handler is queued
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Cancels the wait and the timers; no callback runs after this returns. The signals stay
  // registered (and ignored) until the destructor, so a late signal does not kill the process.
  void cancel();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace hims::adapters
