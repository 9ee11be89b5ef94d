#!/usr/bin/env bash
# Builds everything (preset `default`) and runs every test with CTest.
# Usage: scripts/test.sh [extra ctest arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh test
cmake --preset default -DHIMS_BUILD_TESTS=ON -DHIMS_BUILD_BENCH=ON >/dev/null
cmake --build --preset default
# The store tests run against PostgreSQL too: a throwaway server, stopped on exit (unless the
# caller already provides one in HIMS_TEST_POSTGRES_URL).
if [[ -z "${HIMS_TEST_POSTGRES_URL:-}" ]]; then
  pg_dir="$(mktemp -d "${TMPDIR:-/tmp}/hims-pg.XXXXXX")"
  trap 'scripts/pg-throwaway.sh stop "$pg_dir" || true; rm -rf "$pg_dir"' EXIT
  HIMS_TEST_POSTGRES_URL="$(scripts/pg-throwaway.sh start "$pg_dir")"
  export HIMS_TEST_POSTGRES_URL
fi
ctest --preset default -j "$(nproc)" "$@"
