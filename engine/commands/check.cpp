#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <iostream>

#include "engine/canonical_writer.hpp"
#include "engine/commands.hpp"
#include "engine/config.hpp"
#include "engine/mapping.hpp"
#include "engine/store.hpp"

namespace hims::engine {

namespace {

// A SQLite file in a fresh temporary folder, removed with the folder (WAL needs a real file).
class ScratchFile {
 public:
  ScratchFile() {
    std::error_code ec;
    dir_ = std::filesystem::temp_directory_path(ec) /
           ("hims-check-" + std::to_string(::getpid()) + "-" +
            std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
  }
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;
  std::filesystem::path file() const { return dir_ / "schema.db"; }

 private:
  std::filesystem::path dir_;
};

// The routes' mappings against this build's canonical schema (a scratch SQLite store migrated
// to it): every table and column they write must exist and be writable. The mappings themselves
// were loaded by the config loader, which reported their problems.
void check_mappings(LoadedConfig& loaded) {
  const auto& routes = loaded.config.routes;
  ScratchFile scratch;
  std::optional<CanonicalWriter> writer;
  std::unique_ptr<store::Store> schema;
  for (std::size_t r = 0; r < routes.size(); ++r) {
    // Only mappings that loaded (the loader reported the problems of the others).
    const std::shared_ptr<const Mapping>& mapping = routes[r].compiled_mapping;
    if (!mapping) continue;
    const std::string key = "routes[" + std::to_string(r) + "].map";
    auto add = [&](std::string problem) {
      auto it = loaded.locations.find(key);
      if (it == loaded.locations.end())
        it = loaded.locations.find("routes[" + std::to_string(r) + "]");
      const Location at =
          it != loaded.locations.end() ? it->second : Location{loaded.config.file.string(), 0, 0};
      loaded.errors.push_back({ConfigErrc::bad_value, at, key, std::move(problem)});
    };
    if (!writer) {
      auto opened = store::open_store("sqlite:" + scratch.file().string());
      auto w =
          opened.ok() ? CanonicalWriter::open(**opened) : Result<CanonicalWriter>(opened.error());
      if (!w.ok()) {
        add("cannot build the canonical schema to check the mapping against: " +
            w.error().message());
        return;
      }
      schema = std::move(*opened);
      writer.emplace(std::move(*w));
    }
    for (std::string& problem : writer->check(*mapping)) add(std::move(problem));
  }
}

}  // namespace

int check_command(const CheckOptions& options) {
  LoadedConfig loaded = load_config(options.config);
  check_environment(loaded);
  check_mappings(loaded);
  if (loaded.ok()) {
    std::cout << "ok\n";
    return kExitOk;
  }
  for (const ConfigError& error : loaded.errors) std::cout << error.to_string() << "\n";
  std::cout << loaded.errors.size() << (loaded.errors.size() == 1 ? " error" : " errors") << "\n";
  return kExitFailed;
}

}  // namespace hims::engine
