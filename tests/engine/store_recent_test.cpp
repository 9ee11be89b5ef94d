// The duplicate window's memory (engine/store_recent.hpp): look-ups by fingerprint over kept and
// staged entries, the window and the limit, and its open-addressing table under collisions,
// growth and removal, checked against a plain list of the entries that should be kept.
#include "engine/store_recent.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <optional>
#include <random>
#include <vector>

namespace {

using hims::store::detail::RecentEntries;

const auto kAccept = [](std::int64_t) { return true; };

std::optional<std::int64_t> find(const RecentEntries& r, std::uint64_t fp,
                                 std::int64_t since_us = 0, std::int64_t before_id = 0) {
  return r.find(fp, since_us, before_id, kAccept);
}

TEST(RecentEntries, FindsTheLowestIdOfAFingerprintInsideTheWindow) {
  RecentEntries r(1'000, 100);
  r.advance(10'000);  // keeps entries at or after 9,000
  r.add(7, 1, 9'100);
  r.add(7, 2, 9'200);
  r.add(8, 3, 9'300);
  EXPECT_EQ(find(r, 7), 1);
  EXPECT_EQ(find(r, 7, 9'150), 2);            // since: only what came at or after
  EXPECT_EQ(find(r, 7, 0, 2), 1);             // before_id: only lower ids
  EXPECT_EQ(find(r, 7, 0, 1), std::nullopt);  // nothing below id 1
  EXPECT_EQ(find(r, 8), 3);
  EXPECT_EQ(find(r, 9), std::nullopt);
  r.add(9, 4, 8'000);  // older than the window: not kept
  EXPECT_EQ(find(r, 9), std::nullopt);
  EXPECT_EQ(r.size(), 3u);
}

TEST(RecentEntries, ARejectedCandidateIsPassedOverForTheNext) {
  RecentEntries r(1'000, 100);
  r.advance(10'000);
  r.add(7, 1, 9'100);
  r.add(7, 2, 9'200);
  EXPECT_EQ(r.find(7, 0, 0, [](std::int64_t id) { return id != 1; }), 2);
}

TEST(RecentEntries, StagedEntriesAreSeenAndKeptOnlyOnCommit) {
  RecentEntries r(1'000, 100);
  r.advance(10'000);
  r.stage(5, 1, 9'500);
  EXPECT_EQ(find(r, 5), 1);
  r.rollback();
  EXPECT_EQ(find(r, 5), std::nullopt);
  r.stage(5, 2, 9'600);
  r.commit();
  EXPECT_EQ(find(r, 5), 2);
  EXPECT_EQ(r.size(), 1u);
}

TEST(RecentEntries, AdvancingDropsWhatLeftTheWindow) {
  RecentEntries r(1'000, 100);
  r.advance(10'000);
  r.add(1, 1, 9'100);
  r.add(2, 2, 9'900);
  r.advance(10'500);  // the window now starts at 9,500
  EXPECT_EQ(find(r, 1), std::nullopt);
  EXPECT_EQ(find(r, 2), 2);
  EXPECT_EQ(r.size(), 1u);
  EXPECT_EQ(r.horizon_from_us(), 9'500);
  EXPECT_EQ(r.evicted(), 0u);
}

TEST(RecentEntries, TheLimitDropsTheOldestAndCountsThem) {
  RecentEntries r(1'000'000, 3);
  r.advance(0);
  for (std::int64_t id = 1; id <= 5; ++id) r.add(static_cast<std::uint64_t>(id), id, id);
  EXPECT_EQ(r.size(), 3u);
  EXPECT_EQ(r.evicted(), 2u);
  EXPECT_EQ(find(r, 1), std::nullopt);
  EXPECT_EQ(find(r, 2), std::nullopt);
  EXPECT_EQ(find(r, 3), 3);
  EXPECT_EQ(find(r, 5), 5);
}

// Many entries over few fingerprints (long probe clusters), through growth and removals, against
// a list of the kept entries.
TEST(RecentEntries, AgreesWithAPlainListThroughGrowthAndRemoval) {
  constexpr std::size_t kLimit = 5'000;
  RecentEntries r(1'000'000'000, kLimit);
  r.advance(0);
  struct Kept {
    std::uint64_t fp;
    std::int64_t id;
  };
  std::vector<Kept> kept;
  std::mt19937_64 random(42);
  for (std::int64_t id = 1; id <= 40'000; ++id) {
    // Few distinct fingerprints, and some that differ only in their high bits.
    const std::uint64_t fp = (random() % 300) << (id % 2 == 0 ? 0 : 56);
    r.add(fp, id, id);
    kept.push_back({fp, id});
    if (kept.size() > kLimit) kept.erase(kept.begin());
    if (id % 997 == 0) {
      for (std::uint64_t probe = 0; probe < 300; ++probe) {
        for (const std::uint64_t f : {probe, probe << 56}) {
          std::optional<std::int64_t> expected;
          for (const Kept& k : kept) {
            if (k.fp == f) {
              expected = k.id;
              break;
            }
          }
          ASSERT_EQ(find(r, f), expected) << "fingerprint " << f << " after id " << id;
        }
      }
    }
  }
  EXPECT_EQ(r.size(), kLimit);
  EXPECT_EQ(r.evicted(), 40'000u - kLimit);
  r.advance(1'000'000'000 + 40'001);  // everything leaves the window
  EXPECT_EQ(r.size(), 0u);
  EXPECT_EQ(find(r, 0), std::nullopt);
}

}  // namespace
