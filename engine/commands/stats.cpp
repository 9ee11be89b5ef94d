// `hims-engine stats`: what the journal holds per source and state, and each destination queue
// (pending, delivered, dead, oldest waiting item), read from the store.
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include <array>
#include <cstdio>
#include <iostream>
#include <map>

#include "engine/commands.hpp"
#include "engine/commands/store_target.hpp"

namespace hims::engine {

namespace {

constexpr std::array kStates{store::MessageState::received, store::MessageState::processed,
                             store::MessageState::filtered, store::MessageState::errored,
                             store::MessageState::rejected};

std::string age_text(const std::optional<std::chrono::microseconds>& age) {
  if (!age) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fs", std::chrono::duration<double>(*age).count());
  return buf;
}

}  // namespace

int stats_command(const StatsOptions& options) {
  auto store = detail::open_target(options.target, "stats", /*migrate=*/true);
  if (!store) return kExitUsage;
  auto counts = store->journal_counts();
  auto queues = store->queue_summary(store::Clock::now());
  if (!counts.ok() || !queues.ok()) {
    std::cerr << "hims-engine stats: "
              << (counts.ok() ? queues.error().message() : counts.error().message()) << "\n";
    return kExitFailed;
  }
  // source -> state -> count
  std::map<std::string, std::map<store::MessageState, std::int64_t>> by_source;
  for (const store::StateCount& c : *counts) by_source[c.source][c.state] += c.count;

  if (options.json) {
    rapidjson::StringBuffer buffer;
    rapidjson::Writer<rapidjson::StringBuffer> w(buffer);
    w.StartObject();
    w.Key("store");
    w.String(std::string(store->backend()).c_str());
    w.Key("sources");
    w.StartObject();
    for (const auto& [source, states] : by_source) {
      w.Key(source.c_str());
      w.StartObject();
      for (const auto state : kStates) {
        const auto it = states.find(state);
        w.Key(std::string(store::to_string(state)).c_str());
        w.Int64(it == states.end() ? 0 : it->second);
      }
      w.EndObject();
    }
    w.EndObject();
    w.Key("destinations");
    w.StartObject();
    for (const store::DestinationStats& d : *queues) {
      w.Key(d.destination.c_str());
      w.StartObject();
      w.Key("pending");
      w.Int64(d.pending);
      w.Key("delivered");
      w.Int64(d.delivered);
      w.Key("dead");
      w.Int64(d.dead);
      w.Key("oldest_pending_age_seconds");
      if (d.oldest_pending_age) {
        w.Double(std::chrono::duration<double>(*d.oldest_pending_age).count());
      } else {
        w.Null();
      }
      w.EndObject();
    }
    w.EndObject();
    w.EndObject();
    std::cout << buffer.GetString() << "\n";
    return kExitOk;
  }

  std::printf("store: %s\n\n", std::string(store->backend()).c_str());
  std::printf("%-24s %10s %10s %10s %10s %10s\n", "source", "received", "processed", "filtered",
              "errored", "rejected");
  for (const auto& [source, states] : by_source) {
    std::printf("%-24s", source.c_str());
    for (const auto state : kStates) {
      const auto it = states.find(state);
      std::printf(" %10lld", static_cast<long long>(it == states.end() ? 0 : it->second));
    }
    std::printf("\n");
  }
  std::printf("\n%-24s %10s %10s %10s %12s\n", "destination", "pending", "delivered", "dead",
              "oldest");
  for (const store::DestinationStats& d : *queues) {
    std::printf("%-24s %10lld %10lld %10lld %12s\n", d.destination.c_str(),
                static_cast<long long>(d.pending), static_cast<long long>(d.delivered),
                static_cast<long long>(d.dead), age_text(d.oldest_pending_age).c_str());
  }
  return kExitOk;
}

}  // namespace hims::engine
