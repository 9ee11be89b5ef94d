// The fixture of the integration tests that run once per store backend: the journal on SQLite in
// the test's temp dir, and on PostgreSQL (a throwaway database, tests/support/test_store.hpp) when
// HIMS_TEST_POSTGRES_URL is set, skipped otherwise. Test-only.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>

#include "tests/integration/process.hpp"
#include "tests/support/test_store.hpp"

namespace hims::test {

class BackendRun : public ::testing::TestWithParam<Backend> {
 protected:
  // `prefix` names the PostgreSQL database (letters, digits, '_').
  explicit BackendRun(std::string prefix) : prefix_(std::move(prefix)) {}

  void SetUp() override {
    if (GetParam() == Backend::postgres) {
      db_ = std::make_unique<ThrowawayStore>(GetParam(), prefix_);
      if (db_->skipped()) GTEST_SKIP() << kPostgresSkipped;
      url_ = db_->url();
    } else {
      url_ = "sqlite:" + (dir_ / "var" / "hims.db").string();  // inside the engine's temp dir
    }
  }
  void TearDown() override { db_.reset(); }

  TempDir dir_;
  std::unique_ptr<ThrowawayStore> db_;
  std::string url_;  // the store the engine is configured with

 private:
  std::string prefix_;
};

// The parameter's name in test names: "sqlite" or "postgres".
inline std::string backend_test_name(const ::testing::TestParamInfo<Backend>& info) {
  return backend_name(info.param);
}

}  // namespace hims::test
