#!/usr/bin/env bash
# Regenerates the mapping golden files: for every tests/data/golden/hl7v2/<mapping>/<case>.input
# (one line: a corpus file, relative to ../shared/corpus), runs
#   hims-engine map mappings/hl7v2/<mapping>.yaml <corpus file>
# and writes the rows to <case>.json. Review the diff before committing it: the golden test
# (tests/mappings/golden_test.cpp) compares the mapper's output with these files byte for byte.
#   BUILD=build/default scripts/update-goldens.sh [mapping...]
set -euo pipefail
cd "$(dirname "$0")/.."
engine="${BUILD:-build/default}/engine/hims-engine"
shared="${HIMS_SHARED_DIR:-../shared}"
[[ -x "$engine" ]] || { echo "no engine binary at $engine (set BUILD)" >&2; exit 2; }
status=0
for dir in tests/data/golden/hl7v2/*/; do
  name="$(basename "$dir")"
  if [[ $# -gt 0 ]] && ! printf '%s\n' "$@" | grep -qx "$name"; then continue; fi
  mapping="mappings/hl7v2/$name.yaml"
  for input in "$dir"*.input; do
    [[ -e "$input" ]] || continue
    corpus="$shared/corpus/$(head -n1 "$input" | tr -d '\r')"
    out="${input%.input}.json"
    if ! "$engine" map "$mapping" "$corpus" >"$out.tmp"; then
      echo "FAILED: $mapping on $corpus" >&2
      rm -f "$out.tmp"
      status=1
      continue
    fi
    mv "$out.tmp" "$out"
  done
done
exit $status
