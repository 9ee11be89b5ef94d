// Every configuration shipped with the engine (samples/ and the route sets under routes/) loads
// with no error, so a file a user copies is always a working starting point.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/config.hpp"
#include "tests/support/corpus.hpp"

namespace hims::engine {
namespace {

std::string dump(const LoadedConfig& loaded) {
  std::string out;
  for (const auto& e : loaded.errors) out += "  " + e.to_string() + "\n";
  return out;
}

std::vector<std::filesystem::path> configs_under(const char* folder) {
  return test::files_under(test::source_dir() / folder, {".yaml", ".yml"});
}

TEST(ConfigFiles, EverySampleLoads) {
  const auto files = configs_under("samples");
  EXPECT_GE(files.size(), 1u);
  for (const auto& file : files) {
    auto loaded = load_config(file);
    EXPECT_TRUE(loaded.ok()) << file << "\n" << dump(loaded);
  }
}

// A route set is a complete configuration: sources, destinations and the routes between them.
TEST(ConfigFiles, EveryRouteSetLoadsAndHasRoutes) {
  const auto files = configs_under("routes");
  EXPECT_GE(files.size(), 2u);
  for (const auto& file : files) {
    auto loaded = load_config(file);
    EXPECT_TRUE(loaded.ok()) << file << "\n" << dump(loaded);
    EXPECT_FALSE(loaded.config.routes.empty()) << file;
    EXPECT_FALSE(loaded.config.destinations.empty()) << file;
  }
}

}  // namespace
}  // namespace hims::engine
