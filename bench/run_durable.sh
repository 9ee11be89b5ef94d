#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Engine core, durable ingest (issue 3): `hims-engine run` journals every message and ACKs after
# the commit, measured in one run on SQLite and on PostgreSQL at 1, 8 and 64 connections, in
# pass-through (a route to an MLLP destination whose partner is bench/mllp_sink), at half the
# measured 64-connection rate (mllp_load --rate: the p99 goal), and against simple-hl7, the
# fastest MLLP peer of PEERS.md (which persists nothing), for the ratio. Each point starts a fresh
# server (and a fresh SQLite file or PostgreSQL database) pinned to $SERVER_CPU, drives it from
# $CLIENT_CPU, and stops it by its PID. 127.0.0.1 only; every process is bounded by `timeout`.
#
#   bench/run_durable.sh [REPS=3] [DURATION_S=10]
#   env: BUILD=build/bench  CONNS="1 8 64"  MODES="sqlite postgres pass peer"
#        HALF="sqlite postgres" (half-rate runs, 64 connections; "" for none)  PASS_CONNS=$CONNS
#        PASS_STORE=sqlite (or postgres)  SERVER_CPU=0  CLIENT_CPU=1  PG_CPU=$SERVER_CPU
#        PORT=25811 (MLLP; +1 HTTP /metrics, +2 the sink)  WARMUP_S=2
#        ENGINE=$BUILD/engine/hims-engine  PG_URL=postgresql://... (an existing server instead
#        of scripts/pg-throwaway.sh; a database is created per point)
#        PG_SETTINGS="-c max_wal_size=8GB -c checkpoint_timeout=15min -c wal_init_zero=off" (the
#        throwaway server's; why: peers_env.sh)
# Each point starts after a PostgreSQL CHECKPOINT and a sync (settle). For every engine point it
# also records the server's CPU use (all threads, and the busiest threads by tid), the journal and
# delivery counters, the group commits over 10 ms and SQLite's inline checkpoints from /metrics,
# the load average, and the CPU and I/O pressure of its window. Beside each half-rate point,
# bench/fsync_probe times one 4 KiB write and fdatasync every 20 ms on the store's disk (PROBE=0:
# not run): the disk's own stalls over 10 ms in the same window, which no ACK after an fsync can
# avoid.
# Raw lines: $BUILD/bench/results/durable-<time>.jsonl; medians: compare.py durable FILE.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
reps="${1:-3}"
dur="${2:-10}"
export BUILD="${BUILD:-$here/../build/bench}"
CONNS="${CONNS:-1 8 64}"
MODES="${MODES:-sqlite postgres pass peer}"
HALF="${HALF-sqlite postgres}"
PASS_CONNS="${PASS_CONNS:-$CONNS}"
PASS_STORE="${PASS_STORE:-sqlite}"
PORT="${PORT:-25811}"
HTTP_PORT=$((PORT + 1))
SINK_PORT=$((PORT + 2))
WARMUP_S="${WARMUP_S:-2}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
PG_CPU="${PG_CPU:-$SERVER_CPU}"
# shellcheck source=peers_env.sh
. "$here/peers_env.sh"
pg_note="${PG_SETTINGS:-defaults}"
[ -n "${PG_URL:-}" ] && pg_note="those of the server at PG_URL"
ENGINE="${ENGINE:-$build/engine/hims-engine}"
load="$bench_dir/mllp_load"
sink="$bench_dir/mllp_sink"
probe="$bench_dir/fsync_probe"
PROBE="${PROBE:-1}"
for b in "$load" "$sink" "$ENGINE" "$probe"; do
  [ -x "$b" ] || { echo "missing $b: cmake --build $build --target hims-engine mllp_load mllp_sink fsync_probe" >&2; exit 1; }
done
hz="$(getconf CLK_TCK)"

stamp="$(date +%Y%m%dT%H%M%S)"
out="$results/durable-$stamp.jsonl"
tmp="$(mktemp -d)"
pgdir="/tmp/bench-pg-$stamp-$$" # not under $tmp: the postgres user must reach it
pg_started=""
spid=""
kpid=""
cleanup() {
  stop_pid "$spid"
  stop_pid "$kpid"
  if [ -n "$pg_started" ]; then "$repo/scripts/pg-throwaway.sh" stop "$pgdir" || true; fi
  rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT

pg_url=""
pg_db_url() { # $1: database name -> URL of a new, empty database
  local base="${pg_url%/*}"
  psql -q -X "$pg_url" -c "CREATE DATABASE $1" >/dev/null
  echo "$base/$1"
}
need_pg=""
case " $MODES " in *" postgres "*) need_pg=1 ;; esac
[ "$PASS_STORE" = postgres ] && case " $MODES " in *" pass "*) need_pg=1 ;; esac
case " $HALF " in *" postgres "*) need_pg=1 ;; esac
if [ -n "$need_pg" ]; then
  if [ -n "${PG_URL:-}" ]; then
    pg_url="$PG_URL"
  else
    pg_url="$(HIMS_PG_SETTINGS="$PG_SETTINGS" taskset -c "$PG_CPU" "$repo/scripts/pg-throwaway.sh" start "$pgdir")"
    pg_started=1
  fi
fi

# Starts the server for mode $1 (sqlite|postgres|pass|peer) on $PORT; sets spid (and kpid for
# the sink). $2: a name for the point's database. Servers stop by themselves after dur+60 s.
store_url=""
start_server() {
  local mode="$1" limit=$((dur + WARMUP_S + 60)) log="$tmp/server.log" store
  : >"$log"
  rm -f "$tmp/ready.json" "$tmp"/hims.db*
  if [ "$mode" = peer ]; then
    store_url="none"
    (cd "$peers/node" && exec timeout -s TERM "$limit" taskset -c "$SERVER_CPU" "$NODE" \
      mllp_server.js --lib simple-hl7 --port "$PORT" --max-seconds "$limit") >"$log" 2>&1 &
    spid=$!
    wait_started "$spid" grep -qs '"listening":' "$log" && return 0
  else
    local kind="$mode"
    [ "$mode" = pass ] && kind="$PASS_STORE"
    if [ "$kind" = postgres ]; then store="$(pg_db_url "$2")"; else store="sqlite:$tmp/hims.db"; fi
    store_url="$kind"
    if [ "$mode" = pass ]; then
      rm -f "$tmp/sink.ready"
      timeout -s TERM "$limit" taskset -c "$CLIENT_CPU" "$sink" --port "$SINK_PORT" \
        --max-seconds "$limit" --ready-file "$tmp/sink.ready" >"$tmp/sink.out" 2>&1 &
      kpid=$!
      wait_started "$kpid" test -s "$tmp/sink.ready" || true
      engine_config "$PORT" "$store" "$HTTP_PORT" "$SINK_PORT" >"$tmp/engine.yaml"
    else
      engine_config "$PORT" "$store" "$HTTP_PORT" >"$tmp/engine.yaml"
    fi
    timeout -s TERM "$limit" taskset -c "$SERVER_CPU" "$ENGINE" run --config "$tmp/engine.yaml" \
      --log-level warn --ready-file "$tmp/ready.json" >"$log" 2>&1 &
    spid=$!
    wait_started "$spid" test -s "$tmp/ready.json" && return 0
  fi
  echo "server $mode did not start:" >&2
  cat "$log" >&2
  stop_pid "$spid"
  stop_pid "$kpid"
  spid="" kpid=""
  return 1
}

# "some avg10" of /proc/pressure/$1 (cpu or io), percent; null where the kernel has no PSI.
pressure() { awk '/^some/ { sub("avg10=", "", $2); print $2; found = 1 } END { if (!found) print "null" }' "/proc/pressure/$1" 2>/dev/null || echo null; }

server_pid() { pgrep -P "$spid" 2>/dev/null | head -1 || true; }
# "tid utime+stime" per thread of pid $1, in clock ticks.
thread_ticks() { for f in /proc/"$1"/task/*/stat; do awk '{ print $1, $14 + $15 }' "$f" 2>/dev/null; done; }
sink_count() { # asks the sink for its count; prints "received"
  local child
  child="$(pgrep -P "$kpid" 2>/dev/null | head -1 || true)" # kpid is its `timeout` wrapper
  if [ -z "$child" ] || ! kill -USR1 "$child" 2>/dev/null; then
    echo 0
    return
  fi
  sleep 0.05
  tail -1 "$tmp/sink.out" | sed -n 's/.*"received":\([0-9]*\).*/\1/p'
}

# Before each point, what the points before it left dirty is written out (PostgreSQL's buffers
# by a CHECKPOINT, then the page cache by sync), so a point does not pay for their writes: the
# kernel's write-back of a 64-connection run's table pages held the next (paced) run's commits
# for 100-340 ms.
settle() {
  if [ -n "$pg_url" ]; then psql -q -X "$pg_url" -c CHECKPOINT >/dev/null || true; fi
  sync
}

# One point: mode $1, connections $2, rep $3, rate $4 (0: closed loop).
point() {
  local mode="$1" c="$2" r="$3" rate="$4" name label line pid
  name="r${r}_${mode}_c${c}_$( [ "$rate" = 0 ] && echo max || echo half)"
  label="$mode"
  [ "$rate" != 0 ] && label="$mode@half"
  echo "== rep $r/$reps $label C=$c rate=$rate (load $(cut -d' ' -f1-3 /proc/loadavg))" >&2
  settle
  if ! start_server "$mode" "$name"; then
    echo "{\"rep\":$r,\"mode\":\"$label\",\"conns\":$c,\"failed\":\"start\"}" | tee -a "$out"
    return 0
  fi
  local loadavg psi=""
  loadavg="$(cut -d' ' -f1 /proc/loadavg)"
  timeout $((dur + WARMUP_S + 20)) taskset -c "$CLIENT_CPU" "$load" --port "$PORT" \
    --connections "$c" --duration "${dur}s" --warmup "${WARMUP_S}s" --file "$corpus" \
    --messages 2000 --unique-ids --rate "$rate" --label "$label" --json >"$tmp/load.json" 2>"$tmp/load.err" &
  local lpid=$!
  pid=""
  [ "$mode" != peer ] && pid="$(server_pid)"
  # Samples at the start and the end of the measured window (mllp_load connects in a few ms).
  sleep "$WARMUP_S"
  local k0=0 k1=0 ppid=""
  rm -f "$tmp/probe.json"
  if [ "$rate" != 0 ] && [ "$PROBE" != 0 ]; then
    timeout $((dur + 20)) "$probe" --dir "$tmp" --seconds "$dur" --interval-ms 20 --stall-ms 10 \
      >"$tmp/probe.json" 2>"$tmp/probe.err" &
    ppid=$!
  fi
  if [ -n "$pid" ]; then
    thread_ticks "$pid" >"$tmp/t0"
    scrape "$tmp/m0"
    [ "$mode" = pass ] && k0="$(sink_count)"
  fi
  sleep "$dur"
  # Pressure stall over the last 10 s, the measured window: the share of time some task waited
  # for a CPU or for I/O, this benchmark's own included (the machine is shared: between runs of
  # the same point, others' load shows as more).
  psi="\"psi_cpu\":$(pressure cpu),\"psi_io\":$(pressure io),"
  if [ -n "$pid" ]; then
    thread_ticks "$pid" >"$tmp/t1"
    scrape "$tmp/m1"
    [ "$mode" = pass ] && k1="$(sink_count)"
  fi
  wait "$lpid" || true
  if [ -n "$ppid" ]; then wait "$ppid" || true; fi
  line="$(cat "$tmp/load.json")"
  local rss=0 extra=""
  if [ -s "$tmp/probe.json" ]; then
    # The probe's p99, max, and its syncs over 10 ms (count, summed length) in the window.
    extra="$("$PY" -c 'import json, sys; p = json.load(open(sys.argv[1])); print("\"disk_p99_ms\":%s,\"disk_max_ms\":%s,\"disk_stalls\":%d,\"disk_stalled_ms\":%s," % (p["p99_ms"], p["max_ms"], p["stalls"], p["stalled_ms"]))' "$tmp/probe.json")"
  fi
  if [ -n "$pid" ]; then
    rss="$(ps -o rss= -p "$pid" | tr -d ' ' || echo 0)"
    # CPU over the window: all threads, and the five busiest (tid:percent of one CPU).
    local cpu
    cpu="$(join "$tmp/t0" "$tmp/t1" 2>/dev/null | awk -v hz="$hz" -v d="$dur" \
      '{ p = ($3 - $2) * 100 / hz / d; all += p; if (p >= 0.5) printf "%s:%.0f ", $1, p > "/dev/stderr" }
       END { printf "%.0f", all }' 2>"$tmp/threads")"
    local threads
    threads="$(tr ' ' '\n' <"$tmp/threads" | sort -t: -k2 -nr | head -6 | paste -sd' ' | sed 's/ *$//')"
    local j0 j1 d0 d1 q1
    j0="$(metric hims_journal_appended_total "$tmp/m0")"
    j1="$(metric hims_journal_appended_total "$tmp/m1")"
    d0="$(metric hims_destination_sent_total "$tmp/m0")"
    d1="$(metric hims_destination_sent_total "$tmp/m1")"
    q1="$(metric hims_destination_queue_depth "$tmp/m1")"
    # Group commits over 10 ms in the window, and SQLite's inline checkpoints (count, mean ms):
    # what a half-rate p99 is made of (docs/benchmarks.md).
    window() { awk -v a="$(metric "$1" "$tmp/m0" "${2:-}")" -v b="$(metric "$1" "$tmp/m1" "${2:-}")" 'BEGIN { print b - a }'; }
    local slow inline n
    slow="$(($(window hims_commit_latency_seconds_count) - $(window hims_commit_latency_seconds_bucket 'le="0.01"')))"
    n="$(window hims_sqlite_checkpoint_seconds_count 'kind="inline"')"
    inline="$(METRIC_FORMAT=%.6f window hims_sqlite_checkpoint_seconds_sum 'kind="inline"' |
      awk -v n="$n" '{ printf "\"inline_checkpoints\":%d,\"inline_checkpoint_ms\":%s,", n, (n > 0 ? sprintf("%.3f", $1 * 1000 / n) : "null") }')"
    extra="$extra\"server_cpu_pct\":$cpu,\"threads_cpu\":\"$threads\",\"journaled_per_s\":$(((j1 - j0) / dur)),\"commits_over_10ms\":$slow,$inline"
    if [ "$mode" = pass ]; then
      extra="$extra\"delivered_per_s\":$(((d1 - d0) / dur)),\"sink_per_s\":$(((${k1:-0} - ${k0:-0}) / dur)),\"queue_depth_end\":$q1,"
    fi
  fi
  stop_pid "$spid"
  stop_pid "$kpid"
  spid="" kpid=""
  if [ -z "$line" ]; then
    echo "{\"rep\":$r,\"mode\":\"$label\",\"conns\":$c,\"failed\":\"load: $(head -c 200 "$tmp/load.err" | tr -d '"\n')\"}" | tee -a "$out"
    return 0
  fi
  echo "$line" | sed "s/^{/{\"rep\":$r,\"mode\":\"$label\",\"store\":\"${store_url}\",\"loadavg\":$loadavg,$psi\"server_rss_kb\":${rss:-0},$extra/" |
    tee -a "$out"
}

# The median of this run's closed-loop 64-connection figures for mode $1 so far.
max_rate() {
  "$PY" - "$out" "$1" <<'EOF'
import json, statistics, sys
v = [r["msgs_per_s"] for r in map(json.loads, open(sys.argv[1]))
     if r.get("mode") == sys.argv[2] and r.get("conns") == 64 and "msgs_per_s" in r]
print(round(statistics.median(v)) if v else 0)
EOF
}

rev="$(git -C "$repo" log -1 --format=%h 2>/dev/null || echo '?')"
dirty="$(git -C "$repo" status --short 2>/dev/null | wc -l)"
echo "# $(date -Is)  $(uname -n)  nproc=$(nproc)  commit $rev, $dirty changed files in the tree  load: $(cut -d' ' -f1-3 /proc/loadavg)" |
  tee "$out.txt"
echo "# engine $ENGINE ($(stat -c %y "$ENGINE" | cut -d. -f1)); server CPU $SERVER_CPU, client CPU $CLIENT_CPU, PostgreSQL CPU $PG_CPU, PostgreSQL settings: $pg_note" |
  tee -a "$out.txt"
for r in $(seq 1 "$reps"); do
  for c in $CONNS; do
    for m in $MODES; do
      [ "$m" = pass ] && continue
      point "$m" "$c" "$r" 0
    done
  done
  case " $MODES " in *" pass "*)
    for c in $PASS_CONNS; do point pass "$c" "$r" 0; done ;;
  esac
  for m in $HALF; do
    rate="$(max_rate "$m")"
    [ "${rate:-0}" -gt 0 ] && point "$m" 64 "$r" $((rate / 2))
  done
done
echo "# end $(date -Is)  load: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out.txt"
"$PY" "$here/compare.py" durable "$out" | tee -a "$out.txt"
echo "raw: $out" >&2
