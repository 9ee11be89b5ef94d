// The recent journal entries of the duplicate window, in memory (SQLite only, where the database
// file has one engine): what find_duplicates reads instead of an index on (source, control id,
// time), whose random keys cost a page write per message. Internal to hims_store.
// Keyed by a 64-bit fingerprint of (source, control id, content hash); a hit is only a candidate
// and Store confirms it against the row. Not thread-safe (one Store, one thread).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <optional>
#include <string_view>
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
    by_fp_.insert(Slot{fp, id, at_us});
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
    by_fp_.for_each(fp, [&](const Slot& s) { consider(s.id, s.at_us); });
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

  // A multimap from fingerprint to slot in one array: open addressing with linear probing, at
  // most half full, removal by backward shift (no tombstones). A node-based std::unordered_multimap
  // cost an allocation and a free per message on the journal path.
  class Table {
   public:
    void insert(const Slot& s) {
      if ((count_ + 1) * 2 > slots_.size()) grow();
      std::size_t i = home(s.fp);
      while (used_[i]) i = next(i);
      slots_[i] = s;
      used_[i] = true;
      ++count_;
    }
    template <class F>
    void for_each(std::uint64_t fp, F&& f) const {
      if (slots_.empty()) return;
      for (std::size_t i = home(fp); used_[i]; i = next(i)) {
        if (slots_[i].fp == fp) f(slots_[i]);
      }
    }
    void erase(std::uint64_t fp, std::int64_t id) {
      if (slots_.empty()) return;
      std::size_t i = home(fp);
      while (used_[i] && !(slots_[i].fp == fp && slots_[i].id == id)) i = next(i);
      if (!used_[i]) return;
      // Backward shift: move later members of the cluster into the hole when their home allows.
      for (std::size_t j = next(i);; j = next(j)) {
        if (!used_[j]) break;
        const std::size_t h = home(slots_[j].fp);
        // j may move to i when h is not cyclically within (i, j].
        const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
        if (stays) continue;
        slots_[i] = slots_[j];
        i = j;
      }
      used_[i] = false;
      --count_;
    }
    std::size_t size() const { return count_; }

   private:
    std::size_t home(std::uint64_t fp) const {
      // The fingerprint is a hash already; mix once more so low bits are spread.
      return static_cast<std::size_t>((fp * 0x9e3779b97f4a7c15ULL) >> shift_);
    }
    std::size_t next(std::size_t i) const { return (i + 1) & (slots_.size() - 1); }
    void grow() {
      const std::size_t capacity = slots_.empty() ? 1024 : slots_.size() * 2;
      std::vector<Slot> old_slots(capacity);
      std::vector<bool> old_used(capacity, false);
      old_slots.swap(slots_);
      old_used.swap(used_);
      shift_ = 64 - static_cast<unsigned>(std::countr_zero(capacity));  // capacity is 2^k
      count_ = 0;
      for (std::size_t k = 0; k < old_slots.size(); ++k) {
        if (old_used[k]) insert(old_slots[k]);
      }
    }

    std::vector<Slot> slots_;
    std::vector<bool> used_;
    std::size_t count_ = 0;
    unsigned shift_ = 64;
  };

  void pop_oldest() {
    const Slot& s = by_time_.front();
    by_fp_.erase(s.fp, s.id);
    by_time_.pop_front();
  }

  std::int64_t horizon_us_;
  std::size_t limit_;
  std::int64_t horizon_from_us_ = std::numeric_limits<std::int64_t>::min();
  std::deque<Slot> by_time_;  // in commit order, which is close to time order
  Table by_fp_;
  std::vector<Slot> staged_;  // appended in the open transaction
  std::uint64_t evicted_ = 0;
};

}  // namespace hims::store::detail
