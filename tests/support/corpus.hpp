// Test helpers: where ../shared/corpus and the source tree are, and reading files whole.
// Test-only code; not thread-safe beyond what gtest needs.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace hims::test {

// ../shared beside the checkout (HIMS_SHARED_DIR in the environment overrides the built-in path).
std::filesystem::path shared_dir();
std::filesystem::path corpus_dir();     // shared_dir() / "corpus"
std::filesystem::path source_dir();     // the repository root
std::filesystem::path binary_dir();     // the CMake build tree
std::filesystem::path engine_binary();  // the hims-engine executable of this build tree

// The whole file as bytes; fails the current test (ADD_FAILURE) and returns "" when unreadable.
std::string read_file(const std::filesystem::path& path);

// Every regular file below `dir` whose name ends with one of `extensions` (all files when empty),
// sorted, so test output is stable.
std::vector<std::filesystem::path> files_under(const std::filesystem::path& dir,
                                               const std::vector<std::string>& extensions = {});

}  // namespace hims::test
