// Metrics: a registry of counters, gauges and histograms with labels, rendered in the Prometheus
// text exposition format 0.0.4 for `/metrics`. Thread-safe. Registration and with() take a lock
// (start-up, or once per new source/route/destination); the handles they return update one series
// with relaxed atomics and no lookup, so the hot path never locks. Handles stay valid as long as
// their Registry. Names follow STYLE.md section 7 (received, filtered, errored, queued, sent,
// retried, dead); docs/metrics.md lists them.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace hims::metrics {

// The Content-Type of render()'s output.
inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Upper bounds in seconds for commit and ACK latency: 100 us to 10 s (the +Inf bucket is implicit).
std::vector<double> latency_buckets();

namespace detail {
enum class Type : std::uint8_t { counter, gauge, histogram };
struct Family;
struct HistogramCells;
}  // namespace detail

// A counter series: only goes up. A default-constructed handle is detached (updates are dropped).
class Counter {
 public:
  Counter() = default;
  void inc(std::uint64_t n = 1) const noexcept {
    if (cell_ != nullptr) cell_->fetch_add(n, std::memory_order_relaxed);
  }
  std::uint64_t value() const noexcept {
    return cell_ != nullptr ? cell_->load(std::memory_order_relaxed) : 0;
  }

 private:
  friend class CounterFamily;
  explicit Counter(std::atomic<std::uint64_t>* cell) : cell_(cell) {}
  std::atomic<std::uint64_t>* cell_ = nullptr;
};

// A gauge series: a value that goes up and down (queue depth, oldest age in seconds, connections).
class Gauge {
 public:
  Gauge() = default;
  void set(double v) const noexcept {
    if (cell_ != nullptr) cell_->store(v, std::memory_order_relaxed);
  }
  void add(double d) const noexcept {
    if (cell_ != nullptr) cell_->fetch_add(d, std::memory_order_relaxed);
  }
  void sub(double d) const noexcept { add(-d); }
  void inc() const noexcept { add(1); }
  void dec() const noexcept { add(-1); }
  double value() const noexcept {
    return cell_ != nullptr ? cell_->load(std::memory_order_relaxed) : 0;
  }

 private:
  friend class GaugeFamily;
  explicit Gauge(std::atomic<double>* cell) : cell_(cell) {}
  std::atomic<double>* cell_ = nullptr;
};

// A histogram series with the family's fixed buckets. NaN observations are dropped.
class Histogram {
 public:
  Histogram() = default;
  void observe(double v) const noexcept;
  template <class Rep, class Period>
  void observe(std::chrono::duration<Rep, Period> d) const noexcept {
    observe(std::chrono::duration<double>(d).count());  // seconds, as Prometheus expects
  }
  // Totals, for tests and `hims-engine stats`.
  std::uint64_t count() const noexcept;
  double sum() const noexcept;

 private:
  friend class HistogramFamily;
  explicit Histogram(detail::HistogramCells* cells) : cells_(cells) {}
  detail::HistogramCells* cells_ = nullptr;
};

// A family: one metric name, its help text and label names, and one series per distinct list of
// label values. with() returns the series' handle, creating it on first use; it takes the
// family's lock, so call it once and keep the handle. Throws std::invalid_argument when the
// number of values differs from the number of label names (a bug in the caller).
class CounterFamily {
 public:
  explicit CounterFamily(detail::Family& family) : family_(&family) {}
  Counter with(std::initializer_list<std::string_view> label_values) const;
  Counter with(const std::vector<std::string>& label_values) const;

 private:
  detail::Family* family_;
};

class GaugeFamily {
 public:
  explicit GaugeFamily(detail::Family& family) : family_(&family) {}
  Gauge with(std::initializer_list<std::string_view> label_values) const;
  Gauge with(const std::vector<std::string>& label_values) const;

 private:
  detail::Family* family_;
};

class HistogramFamily {
 public:
  explicit HistogramFamily(detail::Family& family) : family_(&family) {}
  Histogram with(std::initializer_list<std::string_view> label_values) const;
  Histogram with(const std::vector<std::string>& label_values) const;

 private:
  detail::Family* family_;
};

// The registry. Registration is for start-up: it throws std::invalid_argument on an invalid
// metric or label name, on bad buckets (not strictly increasing, NaN), and when a name is
// registered again with another type, help text, label names or buckets. Registering the same
// definition again returns the same family. A family without labels has its one series created
// at registration, so it renders as 0 before the first update.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  CounterFamily counter(std::string_view name, std::string_view help,
                        std::vector<std::string> label_names = {});
  GaugeFamily gauge(std::string_view name, std::string_view help,
                    std::vector<std::string> label_names = {});
  // `buckets`: upper bounds, strictly increasing; a trailing +Inf is implicit (and allowed).
  HistogramFamily histogram(std::string_view name, std::string_view help,
                            std::vector<double> buckets, std::vector<std::string> label_names = {});

  // The exposition text: families in registration order, series in creation order.
  std::string render() const;

 private:
  detail::Family& add(std::string_view name, std::string_view help, detail::Type type,
                      std::vector<std::string> label_names, std::vector<double> buckets);

  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<detail::Family>> families_;
};

}  // namespace hims::metrics
