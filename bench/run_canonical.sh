#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# HL7 v2 into the HIMS (issue 4): ORU^R01 with 20 OBX from MLLP to committed canonical rows, end
# to end. `hims-engine run` takes every message on one source whose route maps it with the
# shipped mappings/hl7v2/oru-r01.yaml (28 rows and 27 domain events per message) and ACKs with
# ack_mode on-processed, so an ACK means the rows are committed; the load generator runs closed
# loop, so ACKs/s = messages/s into the canonical tables. Baseline in the same run: the same
# messages journaled only (no route; the ACK after the journal commit). Each point starts a fresh
# server (a fresh SQLite file or PostgreSQL database) pinned to $SERVER_CPU, drives it from
# $CLIENT_CPU and stops it by its PID; 127.0.0.1 only; every process is bounded by `timeout`.
# The corpus (gen_hl7.py --oru-ratio 1.0, $MESSAGES distinct messages: each has its own patient
# and order numbers) is large enough that no message is sent twice in a point (mllp_load's
# connections share one cursor over it), so every message creates its rows (the insert path, as
# new results do); rows/s over msgs/s shows it (26 created or updated rows per message).
#
#   bench/run_canonical.sh [REPS=3] [DURATION_S=8]
#   env: BUILD=build/bench  CONNS=64  MODES="journal sqlite postgres"  MESSAGES=20000
#        SERVER_CPU=0  CLIENT_CPU=1  PG_CPU=$SERVER_CPU  PORT=25831  WARMUP_S=2
#        ENGINE=$BUILD/engine/hims-engine  MAPPING=mappings/hl7v2/oru-r01.yaml (another build's
#        engine with its own mapping: a before/after pair with the same load generator)
# Raw lines: $BUILD/bench/results/canonical-<time>.jsonl (one per point, mllp_load's JSON plus
# the mode, the rows written per second from /metrics and the server's CPU use).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
reps="${1:-3}"
dur="${2:-8}"
export BUILD="${BUILD:-$here/../build/bench}"
CONNS="${CONNS:-64}"
MODES="${MODES:-journal sqlite postgres}"
MESSAGES="${MESSAGES:-20000}"
PORT="${PORT:-25831}"
HTTP_PORT=$((PORT + 1))
WARMUP_S="${WARMUP_S:-2}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
PG_CPU="${PG_CPU:-$SERVER_CPU}"
# shellcheck source=peers_env.sh
. "$here/peers_env.sh"
ENGINE="${ENGINE:-$build/engine/hims-engine}"
MAPPING="${MAPPING:-$repo/mappings/hl7v2/oru-r01.yaml}"
load="$bench_dir/mllp_load"
for b in "$load" "$ENGINE"; do
  [ -x "$b" ] || { echo "missing $b: cmake --build $build --target hims-engine mllp_load" >&2; exit 1; }
done
oru_corpus="$bench_dir/data/oru_corpus_$MESSAGES.txt"
if [ ! -s "$oru_corpus" ]; then
  "$PY" "$shared/bench/gen_hl7.py" -n "$MESSAGES" --seed 7 --oru-ratio 1.0 -o "$oru_corpus" >&2
fi
hz="$(getconf CLK_TCK)"
stamp="$(date +%Y%m%dT%H%M%S)"
out="$results/canonical-$stamp.jsonl"
tmp="$(mktemp -d)"
pgdir="/tmp/bench-pg-$stamp-$$"
pg_started=""
spid=""
cleanup() {
  stop_pid "$spid"
  if [ -n "$pg_started" ]; then "$repo/scripts/pg-throwaway.sh" stop "$pgdir" || true; fi
  rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT

pg_url=""
case " $MODES " in *" postgres "*)
  pg_url="$(taskset -c "$PG_CPU" "$repo/scripts/pg-throwaway.sh" start "$pgdir")"
  pg_started=1
  ;;
esac

config() { # $1: mode
  local store="sqlite:$tmp/hims.db"
  if [ "$1" = postgres ]; then
    store="${pg_url%/*}/$2"
    psql -q -X "$pg_url" -c "CREATE DATABASE $2" >/dev/null
  fi
  cat <<EOF
log: {format: text, level: warn}
store: $store
http: {listen: 127.0.0.1:$HTTP_PORT}
sources:
  bench-in:
    type: mllp
    listen: 127.0.0.1:$PORT
    max_connections: 256
EOF
  if [ "$1" != journal ]; then
    cat <<EOF
    ack_mode: on-processed
routes:
  - name: results into hims
    message: [ORU^R01]
    map: $MAPPING
EOF
  fi
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

point() { # mode, connections, rep
  local mode="$1" c="$2" r="$3" limit=$((dur + WARMUP_S + 60)) line
  echo "== rep $r/$reps $mode C=$c (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  rm -f "$tmp"/hims.db* "$tmp/ready.json"
  config "$mode" "canonical_${r}_${c}" >"$tmp/engine.yaml"
  timeout -s TERM "$limit" taskset -c "$SERVER_CPU" "$ENGINE" run --config "$tmp/engine.yaml" \
    --log-level warn --ready-file "$tmp/ready.json" >"$tmp/server.log" 2>&1 &
  spid=$!
  if ! wait_started "$spid" test -s "$tmp/ready.json"; then
    cat "$tmp/server.log" >&2
    echo "{\"rep\":$r,\"mode\":\"$mode\",\"conns\":$c,\"failed\":\"start\"}" | tee -a "$out"
    stop_pid "$spid"
    spid=""
    return 0
  fi
  local pid
  pid="$(pgrep -P "$spid" | head -1)"
  timeout $((dur + WARMUP_S + 20)) taskset -c "$CLIENT_CPU" "$load" --port "$PORT" \
    --connections "$c" --duration "${dur}s" --warmup "${WARMUP_S}s" --file "$oru_corpus" \
    --messages "$MESSAGES" --unique-ids --label "$mode" --json >"$tmp/load.json" 2>"$tmp/load.err" &
  local lpid=$!
  sleep "$WARMUP_S"
  local t0 t1
  t0="$(cpu_ticks "$pid")"
  scrape "$tmp/m0"
  sleep "$dur"
  t1="$(cpu_ticks "$pid")"
  scrape "$tmp/m1"
  wait "$lpid" || true
  stop_pid "$spid"
  spid=""
  line="$(cat "$tmp/load.json")"
  if [ -z "$line" ]; then
    echo "{\"rep\":$r,\"mode\":\"$mode\",\"conns\":$c,\"failed\":\"load: $(head -c 200 "$tmp/load.err" | tr -d '"\n')\"}" | tee -a "$out"
    return 0
  fi
  local rows0 rows1 cpu
  rows0="$(metric hims_canonical_rows_total "$tmp/m0")"
  rows1="$(metric hims_canonical_rows_total "$tmp/m1")"
  cpu="$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v d="$dur" 'BEGIN { printf "%.0f", (b - a) * 100 / hz / d }')"
  echo "${line%\}},\"rep\":$r,\"mode\":\"$mode\",\"conns\":$c,\"canonical_rows_per_s\":$(((rows1 - rows0) / dur)),\"server_cpu_pct\":$cpu,\"loadavg\":\"$(cut -d' ' -f1 /proc/loadavg)\"}" | tee -a "$out"
}

for r in $(seq 1 "$reps"); do
  for mode in $MODES; do
    for c in $CONNS; do point "$mode" "$c" "$r"; done
  done
done
echo "raw: $out" >&2
"$PY" "$here/compare.py" canonical "$out" || true
