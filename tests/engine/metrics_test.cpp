#include "engine/metrics.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace hims::metrics {
namespace {

TEST(Metrics, CounterWithLabelsRendersExposition) {
  Registry registry;
  auto received = registry.counter("hims_messages_received_total", "Messages received by a source.",
                                   {"source"});
  const Counter lab = received.with({"lab-results"});
  const Counter adt = received.with({"adt"});
  lab.inc();
  lab.inc(4);
  adt.inc();
  EXPECT_EQ(lab.value(), 5u);
  EXPECT_EQ(registry.render(),
            "# HELP hims_messages_received_total Messages received by a source.\n"
            "# TYPE hims_messages_received_total counter\n"
            "hims_messages_received_total{source=\"lab-results\"} 5\n"
            "hims_messages_received_total{source=\"adt\"} 1\n");
}

TEST(Metrics, WithReturnsTheSameSeries) {
  Registry registry;
  auto family = registry.counter("hims_x_total", "x", {"a", "b"});
  family.with({"1", "2"}).inc();
  family.with(std::vector<std::string>{"1", "2"}).inc();
  EXPECT_EQ(family.with({"1", "2"}).value(), 2u);
  EXPECT_EQ(
      registry.render(),
      "# HELP hims_x_total x\n# TYPE hims_x_total counter\nhims_x_total{a=\"1\",b=\"2\"} 2\n");
}

TEST(Metrics, UnlabelledFamiliesRenderZeroAtOnce) {
  Registry registry;
  registry.counter("hims_a_total", "A.");
  auto g = registry.gauge("hims_b", "B.");
  EXPECT_EQ(registry.render(),
            "# HELP hims_a_total A.\n# TYPE hims_a_total counter\nhims_a_total 0\n"
            "# HELP hims_b B.\n# TYPE hims_b gauge\nhims_b 0\n");
  g.with({}).set(2.5);
  EXPECT_NE(registry.render().find("\nhims_b 2.5\n"), std::string::npos);
}

TEST(Metrics, LabelledFamilyWithoutSeriesRendersOnlyHelpAndType) {
  Registry registry;
  registry.counter("hims_sent_total", "Sent.", {"destination"});
  EXPECT_EQ(registry.render(), "# HELP hims_sent_total Sent.\n# TYPE hims_sent_total counter\n");
}

TEST(Metrics, GaugeGoesUpAndDown) {
  Registry registry;
  auto depth = registry.gauge("hims_queue_depth", "Queued items.", {"destination"}).with({"lis"});
  depth.inc();
  depth.inc();
  depth.dec();
  depth.add(10);
  depth.sub(0.5);
  EXPECT_DOUBLE_EQ(depth.value(), 10.5);
  depth.set(-3);
  EXPECT_EQ(registry.render(),
            "# HELP hims_queue_depth Queued items.\n# TYPE hims_queue_depth gauge\n"
            "hims_queue_depth{destination=\"lis\"} -3\n");
}

TEST(Metrics, GaugeSpecialValues) {
  Registry registry;
  auto g = registry.gauge("g", "G.", {"k"});
  g.with({"nan"}).set(std::nan(""));
  g.with({"pinf"}).set(INFINITY);
  g.with({"ninf"}).set(-INFINITY);
  g.with({"small"}).set(1e-7);
  EXPECT_EQ(registry.render(),
            "# HELP g G.\n# TYPE g gauge\n"
            "g{k=\"nan\"} NaN\ng{k=\"pinf\"} +Inf\ng{k=\"ninf\"} -Inf\ng{k=\"small\"} 1e-07\n");
}

TEST(Metrics, LabelValuesAndHelpAreEscaped) {
  Registry registry;
  auto family =
      registry.counter("hims_errored_total", "Help with \\ backslash\nand \"quotes\".", {"source"});
  family.with({"a\\b\"c\nd"}).inc();
  EXPECT_EQ(registry.render(),
            "# HELP hims_errored_total Help with \\\\ backslash\\nand \"quotes\".\n"
            "# TYPE hims_errored_total counter\n"
            "hims_errored_total{source=\"a\\\\b\\\"c\\nd\"} 1\n");
}

TEST(Metrics, HistogramBucketsAreCumulative) {
  Registry registry;
  auto latency =
      registry.histogram("hims_commit_seconds", "Commit latency.", {0.001, 0.01, 0.1}, {"store"});
  const Histogram h = latency.with({"sqlite"});
  h.observe(0.0005);                         // le 0.001
  h.observe(0.001);                          // le 0.001 (upper bound is inclusive)
  h.observe(0.005);                          // le 0.01
  h.observe(std::chrono::milliseconds(50));  // le 0.1
  h.observe(2.0);                            // +Inf only
  h.observe(std::nan(""));                   // dropped
  EXPECT_EQ(h.count(), 5u);
  EXPECT_NEAR(h.sum(), 2.0565, 1e-12);
  const std::string text = registry.render();
  const std::string expected_head =
      "# HELP hims_commit_seconds Commit latency.\n"
      "# TYPE hims_commit_seconds histogram\n"
      "hims_commit_seconds_bucket{store=\"sqlite\",le=\"0.001\"} 2\n"
      "hims_commit_seconds_bucket{store=\"sqlite\",le=\"0.01\"} 3\n"
      "hims_commit_seconds_bucket{store=\"sqlite\",le=\"0.1\"} 4\n"
      "hims_commit_seconds_bucket{store=\"sqlite\",le=\"+Inf\"} 5\n"
      "hims_commit_seconds_sum{store=\"sqlite\"} ";
  ASSERT_EQ(text.substr(0, expected_head.size()), expected_head);
  const auto sum_end = text.find('\n', expected_head.size());
  EXPECT_NEAR(std::stod(text.substr(expected_head.size(), sum_end - expected_head.size())), 2.0565,
              1e-12);
  EXPECT_EQ(text.substr(sum_end + 1), "hims_commit_seconds_count{store=\"sqlite\"} 5\n");
}

TEST(Metrics, UnlabelledHistogramAndExplicitInf) {
  Registry registry;
  auto h = registry.histogram("hims_ack_seconds", "ACK latency.", {0.5, 1, INFINITY});
  h.with({}).observe(1);
  EXPECT_EQ(registry.render(),
            "# HELP hims_ack_seconds ACK latency.\n# TYPE hims_ack_seconds histogram\n"
            "hims_ack_seconds_bucket{le=\"0.5\"} 0\n"
            "hims_ack_seconds_bucket{le=\"1\"} 1\n"
            "hims_ack_seconds_bucket{le=\"+Inf\"} 1\n"
            "hims_ack_seconds_sum 1\n"
            "hims_ack_seconds_count 1\n");
}

TEST(Metrics, LatencyBucketsAreAccepted) {
  Registry registry;
  const auto buckets = latency_buckets();
  ASSERT_FALSE(buckets.empty());
  auto h = registry.histogram("hims_ack_latency_seconds", "ACK latency.", buckets).with({});
  h.observe(0.003);
  EXPECT_EQ(h.count(), 1u);
}

TEST(Metrics, FamiliesRenderInRegistrationOrder) {
  Registry registry;
  registry.gauge("zz", "Z.");
  registry.counter("aa_total", "A.");
  const auto text = registry.render();
  EXPECT_LT(text.find("# HELP zz"), text.find("# HELP aa_total"));
}

TEST(Metrics, SameDefinitionReturnsSameFamily) {
  Registry registry;
  registry.counter("hims_sent_total", "Sent.", {"destination"}).with({"a"}).inc();
  registry.counter("hims_sent_total", "Sent.", {"destination"}).with({"a"}).inc();
  EXPECT_EQ(registry.counter("hims_sent_total", "Sent.", {"destination"}).with({"a"}).value(), 2u);
}

TEST(Metrics, InvalidRegistrationsThrow) {
  Registry registry;
  registry.counter("hims_sent_total", "Sent.", {"destination"});
  EXPECT_THROW(registry.gauge("hims_sent_total", "Sent.", {"destination"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("hims_sent_total", "Other.", {"destination"}),
               std::invalid_argument);
  EXPECT_THROW(registry.counter("hims_sent_total", "Sent.", {"route"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter("bad-name", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter("", "x"), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "x", {"bad-label"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "x", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(registry.counter("ok_total", "x", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "x", {0.1}, {"le"}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "x", {0.1, 0.1}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "x", {1, 0.5}), std::invalid_argument);
  EXPECT_THROW(registry.histogram("h", "x", {std::nan("")}), std::invalid_argument);
  EXPECT_NO_THROW(registry.counter("ns:ok_total", "x", {"_a1"}));
}

TEST(Metrics, WrongNumberOfLabelValuesThrows) {
  Registry registry;
  auto family = registry.counter("hims_x_total", "x", {"source", "route"});
  EXPECT_THROW(family.with({"only-one"}), std::invalid_argument);
  EXPECT_THROW(family.with({"a", "b", "c"}), std::invalid_argument);
}

TEST(Metrics, DetachedHandlesAreHarmless) {
  const Counter c;
  const Gauge g;
  const Histogram h;
  c.inc();
  g.set(3);
  h.observe(1);
  EXPECT_EQ(c.value(), 0u);
  EXPECT_EQ(g.value(), 0);
  EXPECT_EQ(h.count(), 0u);
}

TEST(Metrics, ConcurrentUpdatesSumCorrectly) {
  Registry registry;
  auto counters = registry.counter("hims_received_total", "Received.", {"source"});
  auto gauges = registry.gauge("hims_active", "Active.", {"source"});
  auto histograms = registry.histogram("hims_lat_seconds", "Latency.", {0.5}, {"source"});
  constexpr int kThreads = 4;
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Half the threads share a series, half create theirs concurrently (with() under races).
      const std::string source = t % 2 == 0 ? "shared" : "own-" + std::to_string(t);
      const Counter shared = counters.with({"shared"});
      const Counter own = counters.with({source});
      const Gauge g = gauges.with({"shared"});
      const Histogram h = histograms.with({"shared"});
      for (int i = 0; i < kPerThread; ++i) {
        shared.inc();
        if (source != "shared") own.inc();
        g.add(1);
        h.observe(i % 2 == 0 ? 0.25 : 1.0);
        if (i % 1000 == 0) (void)registry.render();  // rendering races with updates
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(counters.with({"shared"}).value(), std::uint64_t{kThreads} * kPerThread);
  EXPECT_EQ(counters.with({"own-1"}).value(), std::uint64_t{kPerThread});
  EXPECT_EQ(counters.with({"own-3"}).value(), std::uint64_t{kPerThread});
  EXPECT_DOUBLE_EQ(gauges.with({"shared"}).value(), double{kThreads} * kPerThread);
  const Histogram h = histograms.with({"shared"});
  EXPECT_EQ(h.count(), std::uint64_t{kThreads} * kPerThread);
  EXPECT_DOUBLE_EQ(h.sum(), kThreads * (kPerThread / 2) * 1.25);
  const std::string text = registry.render();
  EXPECT_NE(text.find("hims_lat_seconds_bucket{source=\"shared\",le=\"0.5\"} 200000\n"),
            std::string::npos);
  EXPECT_NE(text.find("hims_lat_seconds_bucket{source=\"shared\",le=\"+Inf\"} 400000\n"),
            std::string::npos);
}

}  // namespace
}  // namespace hims::metrics
