// A store driver that forwards every call to a real one. Tests derive from it to count
// statements or to fail and hold commits, while the store under test stays real: what a test does
// not override reaches the backend exactly as the engine's own calls do. Test-only.
#pragma once

#include <memory>
#include <span>
#include <string_view>
#include <utility>

#include "engine/store_driver.hpp"

namespace hims::test {

class ForwardingDriver : public store::Driver {
 public:
  explicit ForwardingDriver(std::unique_ptr<store::Driver> inner) : inner_(std::move(inner)) {}

  store::Dialect dialect() const override { return inner_->dialect(); }
  Result<store::Rows> query(std::string_view sql, std::span<const store::Param> params) override {
    return inner_->query(sql, params);
  }
  Result<store::Rows> query_unprepared(std::string_view sql,
                                       std::span<const store::Param> params) override {
    return inner_->query_unprepared(sql, params);
  }
  Status script(std::string_view sql) override { return inner_->script(sql); }
  Status begin() override { return inner_->begin(); }
  Status commit() override { return inner_->commit(); }
  void rollback() override { inner_->rollback(); }
  store::WalCheckpoints wal_checkpoints() const override { return inner_->wal_checkpoints(); }

 private:
  std::unique_ptr<store::Driver> inner_;
};

}  // namespace hims::test
