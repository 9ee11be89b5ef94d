#!/usr/bin/env bash
# Builds hims-engine (preset `default`) and runs it with the sample configuration on the
# embedded SQLite store. Extra arguments go to `hims-engine run`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
cmake --preset default -DHIMS_BUILD_TESTS=OFF -DHIMS_BUILD_BENCH=OFF >/dev/null
cmake --build --preset default --target hims-engine
exec build/default/engine/hims-engine run --config samples/hims-engine.yaml "$@"
