// The recent journal entries of the duplicate window, in memory (SQLite only, where the database
// file has one engine): what find_duplicates reads instead of an index on (source, control id,
// time), whose random keys cost a page write per message. Internal to hims_store.
// Keyed by a 64-bit fingerprint of (source, control id, content hash); a hit is only a candidate
// and Store confirms it against the row. Not thread-safe (one Store, one thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hims::store::detail {

class RecentEntries {
 public:
  // Keeps entries received within `horizon_us` of now; at most `limit` (the oldest go first).
  RecentEntries(std::int64_t horizon_us, std::size_t limit)
      : horizon_us_(horizon_us), limit_(limit) {}

  static std::uint64_t fingerprint(std::string_view source, std::string_view control_id,
                                   std::string_view content_hash) {
    // Three independent 64-bit hashes mixed (boost::hash_combine's constant); collisions only
    // cost a confirming read.
    const std::hash<std::string_view> h;
    std::uint64_t fp = h(source);
    fp ^= h(control_id) + 0x9e3779b97f4a7c15ULL + (fp << 6) + (fp >> 2);
    fp ^= h(content_hash) + 0x9e3779b97f4a7c15ULL + (fp << 6) + (fp >> 2);
    return fp;
  }

  // Look-ups with `since_us` at or after this are answered here; earlier ones read the journal.
  std::int64_t horizon_from_us() const { return horizon_from_us_; }
  // Drops what fell out of the window; called with the current time before look-ups.
  void advance(std::int64_t now_us) {
    horizon_from_us_ = std::max(horizon_from_us_, now_us - horizon_us_);
    while (!by_time_.empty() && by_time_.front().at_us < horizon_from_us_) pop_oldest();
  }
  void add(std::uint64_t fp, std::int64_t id, std::int64_t at_us) {
    if (at_us < horizon_from_us_) return;  // outside the window: look-ups that far back read SQL
    by_time_.push_back(Slot{fp, id, at_us});
    by_fp_.emplace(fp, Hit{id, at_us});
    while (by_time_.size() > limit_) {
      pop_oldest();
      ++evicted_;
    }
  }
  // An entry appended by the open transaction: find() sees it at once, commit() keeps it,
  // rollback() forgets it.
  void stage(std::uint64_t fp, std::int64_t id, std::int64_t at_us) {
    staged_.push_back(Slot{fp, id, at_us});
  }
  void commit() {
    for (const Slot& s : staged_) add(s.fp, s.id, s.at_us);
    staged_.clear();
  }
  void rollback() { staged_.clear(); }

  // The lowest id with that fingerprint received at or after since_us (and below before_id when
  // it is above 0), kept or staged, that `confirm` accepts.
  template <class Confirm>
  std::optional<std::int64_t> find(std::uint64_t fp, std::int64_t since_us, std::int64_t before_id,
                                   Confirm&& confirm) const {
    std::optional<std::int64_t> best;
    auto consider = [&](std::int64_t id, std::int64_t at_us) {
      if (at_us < since_us || (before_id > 0 && id >= before_id) || (best && id >= *best)) return;
      if (confirm(id)) best = id;
    };
    auto [it, end] = by_fp_.equal_range(fp);
    for (; it != end; ++it) consider(it->second.id, it->second.at_us);
    for (const Slot& s : staged_) {
      if (s.fp == fp) consider(s.id, s.at_us);
    }
    return best;
  }

  std::size_t size() const { return by_time_.size(); }
  // Entries dropped for the limit while still inside the window: the window is shorter than
  // configured by that much.
  std::uint64_t evicted() const { return evicted_; }

 private:
  struct Slot {
    std::uint64_t fp;
    std::int64_t id;
    std::int64_t at_us;
  };
  struct Hit {
    std::int64_t id;
    std::int64_t at_us;
  };
  void pop_oldest() {
    const Slot& s = by_time_.front();
    auto [it, end] = by_fp_.equal_range(s.fp);
    for (; it != end; ++it) {
      if (it->second.id == s.id) {
        by_fp_.erase(it);
        break;
      }
    }
    by_time_.pop_front();
  }

  std::int64_t horizon_us_;
  std::size_t limit_;
  std::int64_t horizon_from_us_ = std::numeric_limits<std::int64_t>::min();
  std::deque<Slot> by_time_;  // in commit order, which is close to time order
  std::unordered_multimap<std::uint64_t, Hit> by_fp_;
  std::vector<Slot> staged_;  // appended in the open transaction
  std::uint64_t evicted_ = 0;
};

}  // namespace hims::store::detail
