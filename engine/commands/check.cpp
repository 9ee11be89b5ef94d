#include <iostream>

#include "engine/commands.hpp"
#include "engine/config.hpp"

namespace hims::engine {

int check_command(const CheckOptions& options) {
  LoadedConfig loaded = load_config(options.config);
  check_environment(loaded);
  if (loaded.ok()) {
    std::cout << "ok\n";
    return kExitOk;
  }
  for (const ConfigError& error : loaded.errors) std::cout << error.to_string() << "\n";
  std::cout << loaded.errors.size() << (loaded.errors.size() == 1 ? " error" : " errors") << "\n";
  return kExitFailed;
}

}  // namespace hims::engine
