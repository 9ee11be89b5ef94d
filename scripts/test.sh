#!/usr/bin/env bash
# Builds everything (preset `default`) and runs every test with CTest.
# Usage: scripts/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
cmake --preset default -DHIMS_BUILD_TESTS=ON -DHIMS_BUILD_BENCH=ON >/dev/null
cmake --build --preset default
ctest --preset default -j "$(nproc)" "$@"
