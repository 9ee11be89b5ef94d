// `hims-engine migrate`: applies the store's pending migrations (run does it at start too), or
// lists them with --status.
#include <iostream>

#include "engine/commands.hpp"
#include "engine/commands/store_target.hpp"

namespace hims::engine {

int migrate_command(const MigrateOptions& options) {
  auto store = detail::open_target(options.target, "migrate", /*migrate=*/false);
  if (!store) return kExitUsage;
  auto before = store->applied_migrations();
  if (!before.ok()) {
    std::cerr << "hims-engine migrate: " << before.error().message() << "\n";
    return kExitFailed;
  }
  auto applied = [&](int version) {
    for (const store::Migration& m : *before) {
      if (m.version == version) return true;
    }
    return false;
  };
  int pending = 0;
  for (const store::Migration& m : store::Store::known_migrations()) {
    if (!applied(m.version)) ++pending;
  }
  if (options.status_only) {
    for (const store::Migration& m : store::Store::known_migrations()) {
      std::cout << m.version << " " << (applied(m.version) ? "applied" : "pending") << " " << m.name
                << "\n";
    }
    std::cout << store->backend() << ": " << pending << " pending\n";
    return kExitOk;
  }
  if (Status s = store->migrate(); !s.ok()) {
    std::cerr << "hims-engine migrate: " << s.error().message() << "\n";
    return kExitFailed;
  }
  for (const store::Migration& m : store::Store::known_migrations()) {
    if (!applied(m.version)) std::cout << m.version << " applied " << m.name << "\n";
  }
  std::cout << store->backend() << ": " << pending << " applied, schema up to date\n";
  return kExitOk;
}

}  // namespace hims::engine
