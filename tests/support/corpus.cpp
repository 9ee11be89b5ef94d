#include "tests/support/corpus.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>

namespace hims::test {

std::filesystem::path shared_dir() {
  if (const char* env = std::getenv("HIMS_SHARED_DIR"); env != nullptr && *env != '\0') {
    return env;
  }
  return HIMS_SHARED_DIR;
}

std::filesystem::path corpus_dir() { return shared_dir() / "corpus"; }
std::filesystem::path source_dir() { return HIMS_SOURCE_DIR; }
std::filesystem::path binary_dir() { return HIMS_BINARY_DIR; }
std::filesystem::path engine_binary() { return HIMS_ENGINE_BINARY; }

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return {};
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return std::move(ss).str();
}

std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir,
                                               const std::vector<std::string>& extensions) {
  std::vector<std::filesystem::path> out;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string name = entry.path().filename().string();
    const bool match =
        extensions.empty() || std::any_of(extensions.begin(), extensions.end(), [&](auto& ext) {
          return name.size() >= ext.size() &&
                 name.compare(name.size() - ext.size(), ext.size(), ext) == 0;
        });
    if (match) out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace hims::test
