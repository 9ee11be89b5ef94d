#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# MLLP round trip: our `hims-engine run` against simple-hl7's MLLP server (the fastest peer that
# ACKs correctly, PEERS.md), interleaved in one run. Each (repetition, connections, server, client)
# starts a fresh server pinned to CPU $SERVER_CPU and drives it from CPU $CLIENT_CPU with our load
# generator (mllp_load) and, to cross-check, the peers' Node client (mllp_load.js). 127.0.0.1 only;
# every run is bounded (timeout) and servers are stopped by their PID.
#
#   bench/run_mllp.sh [REPS=3] [DURATION_S=10]
#   env: BUILD=build/default  CONNS="1 8 64"  SERVERS="hims simple-hl7"  CLIENTS="hims node"
#        PORT=25801  WARMUP_S=2  SERVER_CPU=0  CLIENT_CPU=1  ENGINE=$BUILD/engine/hims-engine
#        STORE=sqlite:<tmp>/hims.db (the engine journals every message before its ACK)
# Raw lines: $BUILD/bench/results/mllp-<time>.jsonl
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
reps="${1:-3}"
dur="${2:-10}"
CONNS="${CONNS:-1 8 64}"
SERVERS="${SERVERS:-hims simple-hl7}"
CLIENTS="${CLIENTS:-hims node}"
PORT="${PORT:-25801}"
WARMUP_S="${WARMUP_S:-2}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
# shellcheck source=peers_env.sh
. "$here/peers_env.sh"
ENGINE="${ENGINE:-$build/engine/hims-engine}"
load="$bench_dir/mllp_load"
[ -x "$load" ] || { echo "missing $load: cmake --build $build --target mllp_load" >&2; exit 1; }
case " $SERVERS " in *" hims "*)
  [ -x "$ENGINE" ] || { echo "missing $ENGINE: cmake --build $build --target hims-engine" >&2; exit 1; } ;;
esac

out="$results/mllp-$(date +%Y%m%dT%H%M%S).jsonl"
tmp="$(mktemp -d)"
spid=""
stop_server() {
  stop_pid "$spid"
  spid=""
}
trap 'stop_server; rm -rf "$tmp"' EXIT
engine_config "$PORT" "${STORE:-sqlite:$tmp/hims.db}" >"$tmp/hims-bench.yaml"


# Starts server $1 on $PORT; sets spid. The servers stop by themselves after dur+40 s.
start_server() {
  local lib="$1" limit=$((dur + WARMUP_S + 40)) log="$tmp/server.log"
  : >"$log"
  rm -f "$tmp/ready.json"
  if [ "$lib" = hims ]; then
    timeout -s TERM "$limit" taskset -c "$SERVER_CPU" "$ENGINE" run --config "$tmp/hims-bench.yaml" \
      --log-level warn --ready-file "$tmp/ready.json" >"$log" 2>&1 &
    spid=$!
    wait_started "$spid" test -s "$tmp/ready.json" && return 0
  else
    (cd "$peers/node" && exec timeout -s TERM "$limit" taskset -c "$SERVER_CPU" "$NODE" \
      mllp_server.js --lib "$lib" --port "$PORT" --max-seconds "$limit") >"$log" 2>&1 &
    spid=$!
    wait_started "$spid" grep -qs '"listening":' "$log" && return 0
  fi
  echo "server $lib did not start:" >&2
  cat "$log" >&2
  stop_server
  return 1
}

rss_kb() { ps -o rss= -p "$(pgrep -P "$spid" 2>/dev/null | head -1 || echo "$spid")" 2>/dev/null | tr -d ' ' || echo 0; }

echo "# $(date -Is)  $(uname -n)  nproc=$(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out.txt"
for r in $(seq 1 "$reps"); do
  for c in $CONNS; do
    for s in $SERVERS; do
      for cl in $CLIENTS; do
        echo "== rep $r/$reps C=$c server=$s client=$cl (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
        start_server "$s" || { echo "{\"rep\":$r,\"failed\":\"start $s\"}" >>"$out"; continue; }
        line=""
        if [ "$cl" = hims ]; then
          line="$(timeout $((dur + WARMUP_S + 20)) taskset -c "$CLIENT_CPU" "$load" --port "$PORT" \
            --connections "$c" --duration "${dur}s" --warmup "${WARMUP_S}s" --file "$corpus" \
            --messages 2000 --label "$s" --json || true)"
          client_name="hims mllp_load"
        else
          line="$(cd "$peers/node" || exit 0
            timeout $((dur + WARMUP_S + 20)) taskset -c "$CLIENT_CPU" "$NODE" mllp_load.js \
              --host 127.0.0.1 --port "$PORT" --conns "$c" --duration "$dur" \
              --warmup "$WARMUP_S" --file "$corpus" --messages 2000 --label "$s" || true)"
          client_name="node mllp_load.js"
        fi
        rss="$(rss_kb)"
        stop_server
        if [ -z "$line" ]; then
          echo "{\"rep\":$r,\"failed\":\"$s $cl $c\"}" | tee -a "$out"
          continue
        fi
        echo "$line" | sed "s/^{/{\"rep\":$r,\"server\":\"$s\",\"client\":\"$client_name\",\"server_rss_kb\":${rss:-0},/; s/\"client\":\"hims mllp_load\",\"host\"/\"host\"/" |
          tee -a "$out"
      done
    done
  done
done
"$PY" "$here/compare.py" mllp "$out" | tee -a "$out.txt"
echo "raw: $out" >&2
