// Opens the store an operational command (migrate, replay, stats) works on: --store URL, or the
// `store` of --config FILE, or the default store. Internal to engine/commands.
#pragma once

#include <iostream>
#include <memory>
#include <string>

#include "engine/commands.hpp"
#include "engine/config.hpp"
#include "engine/store.hpp"

namespace hims::engine::detail {

// The URL, or nullopt after printing why (config errors) on stderr.
inline std::optional<std::string> store_url(const StoreSelection& target,
                                            std::string_view command) {
  if (!target.store.empty()) return target.store;
  if (target.config.empty()) return std::string(kDefaultStoreUrl);
  LoadedConfig loaded = load_config(target.config);
  if (!loaded.ok()) {
    for (const ConfigError& e : loaded.errors) std::cerr << e.to_string() << "\n";
    std::cerr << "hims-engine " << command << ": " << target.config.string() << " is not valid\n";
    return std::nullopt;
  }
  return loaded.config.store;
}

// Opens it; prints the error and returns null when it cannot.
inline std::unique_ptr<store::Store> open_target(const StoreSelection& target,
                                                 std::string_view command, bool migrate) {
  auto url = store_url(target, command);
  if (!url) return nullptr;
  if (auto problem = store_url_problem(*url)) {
    std::cerr << "hims-engine " << command << ": " << *problem << "\n";
    return nullptr;
  }
  store::OpenOptions options;
  options.migrate = migrate;
  auto opened = store::open_store(*url, options);
  if (!opened.ok()) {
    std::cerr << "hims-engine " << command << ": cannot open " << redact_store_url(*url) << ": "
              << opened.error().message() << "\n";
    return nullptr;
  }
  return std::move(*opened);
}

}  // namespace hims::engine::detail
