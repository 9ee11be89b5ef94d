// A bounded polling wait for tests: for a state another thread or process reaches with no
// completion to await. Test-only.
#pragma once

#include <chrono>
#include <functional>
#include <thread>

namespace hims::test {

// Polls `condition` every 10 ms until it holds (true) or `timeout` passes (false).
inline bool eventually(const std::function<bool()>& condition,
                       std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

}  // namespace hims::test
