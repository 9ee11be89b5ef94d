// libFuzzer target for the configuration loader: parse_config on arbitrary bytes. Invariants:
// it never crashes, hangs or leaks; a config with errors names a file in each of them; a config
// without errors has at least one source and a node name, and loading it again gives the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "engine/config.hpp"

namespace {

void check(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view yaml(reinterpret_cast<const char*>(data), size);
  // A name in a folder that does not exist: relative tls paths resolve to nothing readable.
  const std::string file = "/nonexistent-hims-fuzz/fuzz.yaml";
  const hims::engine::LoadedConfig loaded = hims::engine::parse_config(yaml, file);
  for (const auto& error : loaded.errors) {
    check(error.where.file == file);
    check(!error.to_string().empty());
  }
  if (loaded.ok()) {
    check(!loaded.config.sources.empty());
    check(!loaded.config.node.empty());
    const hims::engine::LoadedConfig again = hims::engine::parse_config(yaml, file);
    check(again.ok());
    check(again.config.sources.size() == loaded.config.sources.size());
    check(again.config.destinations.size() == loaded.config.destinations.size());
    check(again.config.routes.size() == loaded.config.routes.size());
  }
  return 0;
}
