// A fixture for tests of canonical writes on both backends: a throwaway store of the test's
// backend (PostgreSQL skipped without HIMS_TEST_POSTGRES_URL), migrated, with a canonical writer
// open on it, and one mapped message written in its own transaction.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "engine/canonical_writer.hpp"
#include "engine/store.hpp"
#include "tests/support/test_store.hpp"

namespace hims::test {

class CanonicalStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  // `name`: the throwaway store's (a folder or database name).
  explicit CanonicalStoreTest(std::string name) : name_(std::move(name)) {}

  void SetUp() override {
    place_ = std::make_unique<ThrowawayStore>(GetParam(), name_);
    if (place_->skipped()) GTEST_SKIP() << kPostgresSkipped;
    auto opened = store::open_store(place_->url());
    ASSERT_TRUE(opened.ok()) << opened.error().message();
    store_ = std::move(*opened);
    auto w = engine::CanonicalWriter::open(*store_);
    ASSERT_TRUE(w.ok()) << w.error().message();
    writer_.emplace(std::move(*w));
  }

  // `mapped` written in its own transaction as journal entry `id`.
  Result<engine::CanonicalWriteStats> write_mapped(const engine::MappedMessage& mapped,
                                                   store::JournalId id) {
    Result<engine::CanonicalWriteStats> out = engine::CanonicalWriteStats{};
    Status s = store_->transact([&]() -> Status {
      out = writer_->write(*store_, mapped, id, store::Clock::now());
      return {};
    });
    EXPECT_TRUE(s.ok()) << s.error().message();
    return out;
  }

  std::string name_;
  std::unique_ptr<ThrowawayStore> place_;
  std::unique_ptr<store::Store> store_;
  std::optional<engine::CanonicalWriter> writer_;
};

}  // namespace hims::test
