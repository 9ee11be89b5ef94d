#include "engine/metrics.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <map>
#include <stdexcept>

namespace hims::metrics {

std::vector<double> latency_buckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
          0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};
}

namespace detail {

// One histogram series: a count per bucket (not cumulative; the last one is +Inf) and the sum.
struct HistogramCells {
  explicit HistogramCells(const std::vector<double>& b) : bounds(b), counts(b.size() + 1) {}
  const std::vector<double>& bounds;
  std::vector<std::atomic<std::uint64_t>> counts;  // sized once, never resized
  std::atomic<double> sum{0};
};

// One series of any type: only the member of the family's type is used.
struct Series {
  std::vector<std::string> label_values;
  std::atomic<std::uint64_t> counter{0};
  std::atomic<double> gauge{0};
  std::unique_ptr<HistogramCells> histogram;
};

struct Family {
  std::string name;
  std::string help;
  Type type = Type::counter;
  std::vector<std::string> label_names;
  std::vector<double> buckets;

  std::mutex mutex;  // guards series and index (not the cells: they are atomics)
  std::vector<std::unique_ptr<Series>> series;
  std::map<std::vector<std::string>, Series*, std::less<>> index;

  Series& get(std::vector<std::string> values) {
    if (values.size() != label_names.size()) {
      throw std::invalid_argument("metric " + name + ": expected " +
                                  std::to_string(label_names.size()) + " label values, got " +
                                  std::to_string(values.size()));
    }
    std::lock_guard lock(mutex);
    if (auto it = index.find(values); it != index.end()) return *it->second;
    auto s = std::make_unique<Series>();
    s->label_values = values;
    if (type == Type::histogram) s->histogram = std::make_unique<HistogramCells>(buckets);
    Series& ref = *s;
    series.push_back(std::move(s));
    index.emplace(std::move(values), &ref);
    return ref;
  }
};

}  // namespace detail

namespace {

std::vector<std::string> to_strings(std::initializer_list<std::string_view> values) {
  return {values.begin(), values.end()};
}

bool valid_metric_name(std::string_view s) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool valid_label_name(std::string_view s) {
  if (s.empty() || s.starts_with("__")) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string_view type_name(detail::Type type) {
  switch (type) {
    case detail::Type::counter:
      return "counter";
    case detail::Type::gauge:
      return "gauge";
    case detail::Type::histogram:
      return "histogram";
  }
  return "untyped";
}

// HELP text escapes backslash and newline; label values also escape the double quote.
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (const char c : s) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '"':
        out += quote ? "\\\"" : "\"";
        break;
      default:
        out += c;
    }
  }
}

void append_number(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    std::array<char, 32> buf{};
    const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);  // shortest round-trip
    out.append(buf.data(), r.ptr);
  }
}

void append_number(std::string& out, std::uint64_t v) {
  std::array<char, 24> buf{};
  const auto r = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  out.append(buf.data(), r.ptr);
}

// `{a="x",b="y"}` plus an optional `le` label; nothing when there are no labels at all.
void append_labels(std::string& out, const detail::Family& f, const detail::Series& s,
                   std::string_view le = {}) {
  if (f.label_names.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (std::size_t i = 0; i < f.label_names.size(); ++i) {
    if (!first) out += ',';
    first = false;
    out += f.label_names[i];
    out += "=\"";
    append_escaped(out, s.label_values[i], true);
    out += '"';
  }
  if (!le.empty()) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

void render_family(std::string& out, detail::Family& f) {
  out += "# HELP ";
  out += f.name;
  out += ' ';
  append_escaped(out, f.help, false);
  out += "\n# TYPE ";
  out += f.name;
  out += ' ';
  out += type_name(f.type);
  out += '\n';
  std::lock_guard lock(f.mutex);
  for (const auto& series : f.series) {
    const detail::Series& s = *series;
    switch (f.type) {
      case detail::Type::counter:
        out += f.name;
        append_labels(out, f, s);
        out += ' ';
        append_number(out, s.counter.load(std::memory_order_relaxed));
        out += '\n';
        break;
      case detail::Type::gauge:
        out += f.name;
        append_labels(out, f, s);
        out += ' ';
        append_number(out, s.gauge.load(std::memory_order_relaxed));
        out += '\n';
        break;
      case detail::Type::histogram: {
        // _count is the +Inf bucket, so the two always agree even while observations race.
        std::uint64_t cumulative = 0;
        std::string le;
        for (std::size_t b = 0; b <= f.buckets.size(); ++b) {
          cumulative += s.histogram->counts[b].load(std::memory_order_relaxed);
          le.clear();
          append_number(le, b < f.buckets.size() ? f.buckets[b] : INFINITY);
          out += f.name;
          out += "_bucket";
          append_labels(out, f, s, le);
          out += ' ';
          append_number(out, cumulative);
          out += '\n';
        }
        out += f.name;
        out += "_sum";
        append_labels(out, f, s);
        out += ' ';
        append_number(out, s.histogram->sum.load(std::memory_order_relaxed));
        out += '\n';
        out += f.name;
        out += "_count";
        append_labels(out, f, s);
        out += ' ';
        append_number(out, cumulative);
        out += '\n';
        break;
      }
    }
  }
}

}  // namespace

// ---- handles -------------------------------------------------------------------------------

void Histogram::observe(double v) const noexcept {
  if (cells_ == nullptr || std::isnan(v)) return;
  const auto& bounds = cells_->bounds;
  // Bucket i counts bounds[i-1] < v <= bounds[i]; past the last bound: +Inf.
  const auto i =
      static_cast<std::size_t>(std::lower_bound(bounds.begin(), bounds.end(), v) - bounds.begin());
  cells_->counts[i].fetch_add(1, std::memory_order_relaxed);
  cells_->sum.fetch_add(v, std::memory_order_relaxed);
}

std::uint64_t Histogram::count() const noexcept {
  if (cells_ == nullptr) return 0;
  std::uint64_t total = 0;
  for (std::size_t b = 0; b <= cells_->bounds.size(); ++b) {
    total += cells_->counts[b].load(std::memory_order_relaxed);
  }
  return total;
}

double Histogram::sum() const noexcept {
  return cells_ != nullptr ? cells_->sum.load(std::memory_order_relaxed) : 0;
}

Counter CounterFamily::with(std::initializer_list<std::string_view> label_values) const {
  return Counter(&family_->get(to_strings(label_values)).counter);
}
Counter CounterFamily::with(const std::vector<std::string>& label_values) const {
  return Counter(&family_->get(label_values).counter);
}
Gauge GaugeFamily::with(std::initializer_list<std::string_view> label_values) const {
  return Gauge(&family_->get(to_strings(label_values)).gauge);
}
Gauge GaugeFamily::with(const std::vector<std::string>& label_values) const {
  return Gauge(&family_->get(label_values).gauge);
}
Histogram HistogramFamily::with(std::initializer_list<std::string_view> label_values) const {
  return Histogram(family_->get(to_strings(label_values)).histogram.get());
}
Histogram HistogramFamily::with(const std::vector<std::string>& label_values) const {
  return Histogram(family_->get(label_values).histogram.get());
}

// ---- registry ------------------------------------------------------------------------------

Registry::Registry() = default;
Registry::~Registry() = default;

detail::Family& Registry::add(std::string_view name, std::string_view help, detail::Type type,
                              std::vector<std::string> label_names, std::vector<double> buckets) {
  const std::string where = "metric " + std::string(name);
  if (!valid_metric_name(name)) throw std::invalid_argument(where + ": invalid name");
  for (std::size_t i = 0; i < label_names.size(); ++i) {
    const auto& label = label_names[i];
    if (!valid_label_name(label)) throw std::invalid_argument(where + ": invalid label " + label);
    if (type == detail::Type::histogram && label == "le") {
      throw std::invalid_argument(where + ": label le is reserved for histogram buckets");
    }
    if (std::find(label_names.begin(), label_names.begin() + static_cast<std::ptrdiff_t>(i),
                  label) != label_names.begin() + static_cast<std::ptrdiff_t>(i)) {
      throw std::invalid_argument(where + ": duplicate label " + label);
    }
  }
  if (type == detail::Type::histogram) {
    if (!buckets.empty() && std::isinf(buckets.back()) && buckets.back() > 0) buckets.pop_back();
    for (std::size_t i = 0; i < buckets.size(); ++i) {
      if (std::isnan(buckets[i]) || std::isinf(buckets[i]) ||
          (i > 0 && !(buckets[i - 1] < buckets[i]))) {
        throw std::invalid_argument(where + ": buckets must be finite and strictly increasing");
      }
    }
  }

  std::lock_guard lock(mutex_);
  for (const auto& f : families_) {
    if (f->name != name) continue;
    if (f->type != type || f->help != help || f->label_names != label_names ||
        f->buckets != buckets) {
      throw std::invalid_argument(where + ": registered again with another definition");
    }
    return *f;
  }
  auto f = std::make_unique<detail::Family>();
  f->name = name;
  f->help = help;
  f->type = type;
  f->label_names = std::move(label_names);
  f->buckets = std::move(buckets);
  if (f->label_names.empty()) f->get({});
  families_.push_back(std::move(f));
  return *families_.back();
}

CounterFamily Registry::counter(std::string_view name, std::string_view help,
                                std::vector<std::string> label_names) {
  return CounterFamily(add(name, help, detail::Type::counter, std::move(label_names), {}));
}

GaugeFamily Registry::gauge(std::string_view name, std::string_view help,
                            std::vector<std::string> label_names) {
  return GaugeFamily(add(name, help, detail::Type::gauge, std::move(label_names), {}));
}

HistogramFamily Registry::histogram(std::string_view name, std::string_view help,
                                    std::vector<double> buckets,
                                    std::vector<std::string> label_names) {
  return HistogramFamily(
      add(name, help, detail::Type::histogram, std::move(label_names), std::move(buckets)));
}

std::string Registry::render() const {
  std::vector<detail::Family*> families;
  {
    std::lock_guard lock(mutex_);
    families.reserve(families_.size());
    for (const auto& f : families_) families.push_back(f.get());
  }
  std::string out;
  for (auto* f : families) render_family(out, *f);
  return out;
}

}  // namespace hims::metrics
