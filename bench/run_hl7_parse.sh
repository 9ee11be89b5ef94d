#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Our HL7 v2 parser (hl7_parse_bench) against the best peers (simple-hl7, @medplum/core), in the
# same run, interleaved: each repetition runs ours once, then every peer in touch and full mode.
# Everything is pinned to one CPU (taskset -c $CPU). Prints median tables and ours/peer ratios.
#
#   bench/run_hl7_parse.sh [REPS=5]
#   env: BUILD=build/default  CPU=1  PEERS="simple-hl7 medplum"  FILTER=<gbench regex>
#        MIN_TIME=0.5 (s per benchmark)  HIMS_SHARED_DIR=../shared
# Raw lines: $BUILD/bench/results/hl7_parse-<time>.jsonl
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
reps="${1:-5}"
CPU="${CPU:-1}"
PEER_LIBS="${PEERS:-simple-hl7 medplum}"
FILTER="${FILTER:-^hl7/(tokenize|parse|touch|full|full_indexed|full_decode)/}"
MIN_TIME="${MIN_TIME:-0.5}"
# shellcheck source=peers_env.sh
. "$here/peers_env.sh"

bin="$bench_dir/hl7_parse_bench"
[ -x "$bin" ] || { echo "missing $bin: cmake --build $build --target hl7_parse_bench" >&2; exit 1; }
out="$results/hl7_parse-$(date +%Y%m%dT%H%M%S).jsonl"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

echo "# $(date -Is)  $(uname -n)  nproc=$(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out.txt"
"$bin" --corpus="$corpus" --verify-only | tee -a "$out.txt"
for r in $(seq 1 "$reps"); do
  echo "== repetition $r/$reps (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  timeout 600 taskset -c "$CPU" "$bin" --corpus="$corpus" --benchmark_filter="$FILTER" \
    --benchmark_min_time="$MIN_TIME" --benchmark_out="$tmp/g.json" \
    --benchmark_out_format=json >"$tmp/g.txt"
  "$PY" "$here/compare.py" gbench "$tmp/g.json" --rep "$r" >>"$out"
  for lib in $PEER_LIBS; do
    for mode in touch full; do
      (cd "$peers/node" && timeout 120 taskset -c "$CPU" "$NODE" hl7_parse.js --lib "$lib" \
        --mode "$mode" --file "$corpus") | sed "s/^{/{\"rep\":$r,/" >>"$out" ||
        echo "{\"rep\":$r,\"failed\":\"$lib $mode\"}" >>"$out"
    done
  done
done
"$PY" "$here/compare.py" hl7 "$out" | tee -a "$out.txt"
echo "raw: $out" >&2
