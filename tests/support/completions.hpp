// Test helpers for components that report back through completion callbacks on their own thread
// (the journal writer, the processor): a recorder of every call, and a latch that holds that
// thread inside one completion. Test-only; `R` is the completion's Result value type.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "engine/result.hpp"

namespace hims::test {

inline constexpr std::chrono::seconds kCompletionDeadline{60};

// Records every completion; wait() returns once `n` were called or the deadline passed.
template <class R>
class CompletionRecorder {
 public:
  explicit CompletionRecorder(std::size_t n) : calls_(n, 0), results_(n) {}

  // The completion for slot `i` (converts to the component's completion type).
  auto at(std::size_t i) {
    return [this, i](Result<R> r) {
      std::lock_guard lock(mutex_);
      if (++calls_[i] == 1) results_[i].emplace(std::move(r));
      ++done_;
      cv_.notify_all();
    };
  }
  bool wait(std::size_t n) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, kCompletionDeadline, [&] { return done_ >= n; });
  }
  int calls(std::size_t i) {
    std::lock_guard lock(mutex_);
    return calls_[i];
  }
  std::size_t done() {
    std::lock_guard lock(mutex_);
    return done_;
  }
  // Call after wait().
  const Result<R>& result(std::size_t i) { return *results_[i]; }

 private:
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<int> calls_;
  std::vector<std::optional<Result<R>>> results_;
  std::size_t done_ = 0;
};

// Holds the component's thread inside a completion until release(), so work piles up behind it.
// Released at the latest when it goes out of scope (declare it after the component), so a failed
// assertion does not leave that thread blocked.
template <class R>
class CompletionLatch {
 public:
  CompletionLatch() = default;
  CompletionLatch(const CompletionLatch&) = delete;
  CompletionLatch& operator=(const CompletionLatch&) = delete;
  ~CompletionLatch() { release(); }

  auto blocker() {
    return [state = state_, released = released_](Result<R>) {
      state->entered.set_value();
      released.wait_for(kCompletionDeadline);
    };
  }
  bool wait_entered() {
    return entered_.wait_for(kCompletionDeadline) == std::future_status::ready;
  }
  void release() {
    if (!released_flag_) {
      released_flag_ = true;
      state_->release.set_value();
    }
  }

 private:
  struct State {
    std::promise<void> entered;
    std::promise<void> release;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
  std::future<void> entered_ = state_->entered.get_future();
  std::shared_future<void> released_ = state_->release.get_future().share();
  bool released_flag_ = false;
};

}  // namespace hims::test
