#!/usr/bin/env bash
# shellcheck source-path=SCRIPTDIR
# Where `hims-engine run` spends its time under durable ingest: one engine (pinned to
# $SERVER_CPU) driven by mllp_load (closed loop, $CONNS connections, from $CLIENT_CPU) while four
# windows of $WINDOW_S seconds each look at it, in this order:
#   1. nothing attached: CPU per thread (/proc/PID/task/*/stat), the PostgreSQL backends' CPU,
#      and from /metrics the group commits (count, mean latency, mean batch) and ACK latency;
#   2. perf record -e cpu-clock -g (if perf works here): top functions (self), CPU per thread;
#   3. strace -c -f: syscall counts and time (fsync/fdatasync, futex, sendmsg...); strace slows
#      the engine down, so the counts are read per message journaled in that window;
#   4. gdb, one `thread apply all bt` snapshot: which thread is which (I/O, journal writer,
#      processor, delivery), to name the tids of windows 1 and 2.
#
#   bench/profile_engine.sh [sqlite|postgres|pass]
#   env: BUILD=build/bench  CONNS=64  WINDOW_S=5  SERVER_CPU=0  CLIENT_CPU=1  PORT=25821
#        PG_SETTINGS (the throwaway PostgreSQL's, as in run_durable.sh; default: peers_env.sh)
# Output: $BUILD/bench/results/profile-<mode>-<time>/ (summary.txt and the raw files).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
mode="${1:-sqlite}"
export BUILD="${BUILD:-$here/../build/bench}"
CONNS="${CONNS:-64}"
WINDOW_S="${WINDOW_S:-5}"
SERVER_CPU="${SERVER_CPU:-0}"
CLIENT_CPU="${CLIENT_CPU:-1}"
PORT="${PORT:-25821}"
HTTP_PORT=$((PORT + 1))
SINK_PORT=$((PORT + 2))
# shellcheck source=peers_env.sh
. "$here/peers_env.sh"
ENGINE="${ENGINE:-$build/engine/hims-engine}"
load="$bench_dir/mllp_load"
sink="$bench_dir/mllp_sink"
hz="$(getconf CLK_TCK)"
stamp="$(date +%Y%m%dT%H%M%S)"
dir="$results/profile-$mode-$stamp"
mkdir -p "$dir"
tmp="$(mktemp -d)"
pgdir="/tmp/bench-pg-prof-$stamp-$$"
pg_started="" spid="" kpid="" lpid=""
cleanup() {
  stop_pid "$lpid"
  stop_pid "$spid"
  stop_pid "$kpid"
  if [ -n "$pg_started" ]; then "$repo/scripts/pg-throwaway.sh" stop "$pgdir" || true; fi
  rm -rf "$tmp" "$pgdir"
}
trap cleanup EXIT

store="sqlite:$tmp/hims.db"
if [ "$mode" = postgres ]; then
  store="$(HIMS_PG_SETTINGS="$PG_SETTINGS" taskset -c "$SERVER_CPU" "$repo/scripts/pg-throwaway.sh" start "$pgdir")"
  pg_started=1
fi
sink_port=""
if [ "$mode" = pass ]; then sink_port="$SINK_PORT"; fi
engine_config "$PORT" "$store" "$HTTP_PORT" "$sink_port" >"$tmp/engine.yaml"

total=$((2 + 4 * WINDOW_S + 15))
if [ "$mode" = pass ]; then
  timeout -s TERM $((total + 30)) taskset -c "$CLIENT_CPU" "$sink" --port "$SINK_PORT" \
    --max-seconds $((total + 30)) >"$dir/sink.out" 2>&1 &
  kpid=$!
fi
timeout -s TERM $((total + 30)) taskset -c "$SERVER_CPU" "$ENGINE" run --config "$tmp/engine.yaml" \
  --log-level warn --ready-file "$tmp/ready.json" >"$dir/engine.log" 2>&1 &
spid=$!
wait_started "$spid" test -s "$tmp/ready.json" || { cat "$dir/engine.log" >&2; exit 1; }
pid="$(pgrep -P "$spid" | head -1)"
timeout $((total + 20)) taskset -c "$CLIENT_CPU" "$load" --port "$PORT" --connections "$CONNS" \
  --duration "$((total - 2))s" --warmup 2s --file "$corpus" --messages 2000 --unique-ids --json >"$dir/load.json" &
lpid=$!
sleep 2

METRIC_FORMAT=%.6f  # metric (peers_env.sh): sums of seconds keep their fraction
thread_ticks() { for f in /proc/"$1"/task/*/stat; do awk '{ print $1, $14 + $15 }' "$f" 2>/dev/null; done; }
# "tid ns-on-cpu ns-runnable-but-waiting-for-a-cpu" per thread (/proc/PID/task/TID/schedstat).
thread_sched() {
  local f
  for f in /proc/"$1"/task/*; do echo "${f##*/} $(cut -d' ' -f1-2 "$f/schedstat" 2>/dev/null)"; done
}
pg_ticks() { # summed utime+stime of every postgres process
  local s=0 p
  for p in $(pgrep -x postgres || true); do
    s=$((s + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$s"
}

# 1. Nothing attached.
thread_ticks "$pid" >"$tmp/t0"
thread_sched "$pid" >"$tmp/q0"
p0="$(pg_ticks)"
scrape "$dir/metrics0.txt"
sleep "$WINDOW_S"
thread_ticks "$pid" >"$tmp/t1"
thread_sched "$pid" >"$tmp/q1"
p1="$(pg_ticks)"
scrape "$dir/metrics1.txt"
join "$tmp/t0" "$tmp/t1" | awk -v hz="$hz" -v d="$WINDOW_S" '{ printf "%s %.1f\n", $1, ($3 - $2) * 100 / hz / d }' |
  sort -k2 -nr >"$dir/threads_cpu.txt"
# tid, % of the window on a CPU, % runnable but waiting for one (the CPU is taken by others).
join "$tmp/q0" "$tmp/q1" | awk -v d="$WINDOW_S" \
  '{ printf "%s %.1f %.1f\n", $1, ($4 - $2) / d / 1e7, ($5 - $3) / d / 1e7 }' | sort >"$dir/threads_sched.txt"

# 2. perf (software clock: this VM has no hardware counters).
perf_ok=""
if command -v perf >/dev/null &&
  timeout $((WINDOW_S + 10)) perf record -q -e cpu-clock -F 499 -g -p "$pid" -o "$dir/perf.data" \
    -- sleep "$WINDOW_S" >"$dir/perf-record.log" 2>&1; then
  perf_ok=1
  perf report -i "$dir/perf.data" --no-children --sort sym --stdio -g none --percent-limit 0.7 \
    2>/dev/null | grep -v '^#' | grep -v '^$' >"$dir/perf_symbols.txt" || true
  perf report -i "$dir/perf.data" --no-children --sort pid --stdio -g none 2>/dev/null |
    grep -v '^#' | grep -v '^$' >"$dir/perf_threads.txt" || true
  perf report -i "$dir/perf.data" --no-children --sort pid,sym --stdio -g none --percent-limit 1 \
    2>/dev/null | grep -v '^#' | grep -v '^$' >"$dir/perf_thread_symbols.txt" || true
  perf report -i "$dir/perf.data" --children --sort sym --stdio -g none --percent-limit 3 \
    2>/dev/null | grep -v '^#' | grep -v '^$' >"$dir/perf_inclusive.txt" || true
fi

# 3. strace -c.
scrape "$tmp/s0"
timeout -s INT "$WINDOW_S" strace -c -f -p "$pid" -o "$dir/strace.txt" >/dev/null 2>&1 || true
scrape "$tmp/s1"
strace_msgs="$(awk -v a="$(metric hims_journal_appended_total "$tmp/s0")" \
  -v b="$(metric hims_journal_appended_total "$tmp/s1")" 'BEGIN { printf "%.0f", b - a }')"

# 3b. Which thread waits where: fsync/fdatasync, sleeps (SQLite's busy handler sleeps while another
# connection holds the write lock), temporary files (openat+unlink), per tid, for 2 s.
timeout -s INT 2 strace -f -T -e trace=fsync,fdatasync,clock_nanosleep,nanosleep,openat,unlink \
  -p "$pid" -o "$tmp/strace_tids.txt" >/dev/null 2>&1 || true
awk '{ tid = $1; call = $2; sub(/\(.*/, "", call); t = $NF; gsub(/[<>]/, "", t)
       if (call ~ /^(fsync|fdatasync|clock_nanosleep|nanosleep|openat|unlink)$/) { n[tid " " call]++; s[tid " " call] += t } }
     END { for (k in n) printf "%s %d calls %.3f s\n", k, n[k], s[k] }' "$tmp/strace_tids.txt" |
  sort >"$dir/strace_tids.txt"

# 4. Which thread is which.
timeout 20 gdb -p "$pid" -batch -ex "set pagination off" -ex "thread apply all bt 25" \
  >"$dir/gdb_threads.txt" 2>/dev/null || true
wait "$lpid" || true
lpid=""

# Thread roles: a class of ours anywhere in the stack wins (the delivery worker runs an Asio
# client inside, so an innermost Asio frame does not make it an I/O thread).
awk '
  /^Thread [0-9]+ \(Thread .*LWP [0-9]+/ { match($0, /LWP [0-9]+/); lwp = substr($0, RSTART + 4, RLENGTH - 4); ours[lwp] = ""; asio[lwp] = 0; main_[lwp] = 0; next }
  lwp != "" {
    if (ours[lwp] == "") {
      if ($0 ~ /JournalWriter/) ours[lwp] = "journal writer"
      else if ($0 ~ /Processor/) ours[lwp] = "processor"
      else if ($0 ~ /DeliveryService|Delivery/) ours[lwp] = "delivery worker"
      else if ($0 ~ /HttpServer/) ours[lwp] = "http"
    }
    if ($0 ~ /io_context|IoRuntime|scheduler::run|epoll/) asio[lwp] = 1
    if ($0 ~ / main \(/) main_[lwp] = 1
  }
  END { for (l in ours) print l, (ours[l] != "" ? ours[l] : main_[l] ? "main" : asio[l] ? "I/O (asio)" : "?") }' "$dir/gdb_threads.txt" |
  sort >"$dir/thread_roles.txt"

m0="$dir/metrics0.txt" m1="$dir/metrics1.txt"
{
  echo "# profile_engine.sh $mode, C=$CONNS, windows of ${WINDOW_S}s; $(date -Is)"
  echo "# commit $(git -C "$repo" log -1 --format=%h), $(git -C "$repo" status --short | wc -l) changed files; load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "# engine on CPU $SERVER_CPU, mllp_load on CPU $CLIENT_CPU"
  [ "$mode" = postgres ] && echo "# PostgreSQL settings: ${PG_SETTINGS:-defaults}"
  echo
  echo "## window 1 (nothing attached)"
  awk -v w="$WINDOW_S" \
    -v j0="$(metric hims_journal_appended_total "$m0")" -v j1="$(metric hims_journal_appended_total "$m1")" \
    -v c0="$(metric hims_commit_latency_seconds_count "$m0")" -v c1="$(metric hims_commit_latency_seconds_count "$m1")" \
    -v l0="$(metric hims_commit_latency_seconds_sum "$m0")" -v l1="$(metric hims_commit_latency_seconds_sum "$m1")" \
    -v b0="$(metric hims_commit_batch_messages_sum "$m0")" -v b1="$(metric hims_commit_batch_messages_sum "$m1")" \
    -v pc0="$(metric hims_processing_commit_latency_seconds_count "$m0")" -v pc1="$(metric hims_processing_commit_latency_seconds_count "$m1")" \
    -v pl0="$(metric hims_processing_commit_latency_seconds_sum "$m0")" -v pl1="$(metric hims_processing_commit_latency_seconds_sum "$m1")" \
    -v a0="$(metric hims_ack_latency_seconds_count "$m0")" -v a1="$(metric hims_ack_latency_seconds_count "$m1")" \
    -v as0="$(metric hims_ack_latency_seconds_sum "$m0")" -v as1="$(metric hims_ack_latency_seconds_sum "$m1")" \
    -v d0="$(metric hims_destination_sent_total "$m0")" -v d1="$(metric hims_destination_sent_total "$m1")" \
    -v dl0="$(metric hims_delivery_latency_seconds_sum "$m0")" -v dl1="$(metric hims_delivery_latency_seconds_sum "$m1")" \
    -v dc0="$(metric hims_delivery_latency_seconds_count "$m0")" -v dc1="$(metric hims_delivery_latency_seconds_count "$m1")" \
    'BEGIN {
      n = j1 - j0; c = c1 - c0; pc = pc1 - pc0
      printf "journaled: %.0f msgs/s\n", n / w
      if (c > 0) printf "journal commits: %.0f/s, mean %.3f ms each (busy %.0f%% of the window), mean batch %.1f messages\n", c / w, (l1 - l0) / c * 1000, (l1 - l0) / w * 100, (b1 - b0) / c
      if (pc > 0) printf "processing commits: %.0f/s, mean %.3f ms each (busy %.0f%% of the window)\n", pc / w, (pl1 - pl0) / pc * 1000, (pl1 - pl0) / w * 100
      if (a1 > a0) printf "ACK latency (engine side, mean): %.3f ms\n", (as1 - as0) / (a1 - a0) * 1000
      if (d1 > d0) printf "delivered: %.0f msgs/s\n", (d1 - d0) / w
      if (dc1 > dc0) printf "delivery attempts: mean %.3f ms send to ACK (busy %.0f%% of the window)\n", (dl1 - dl0) / (dc1 - dc0) * 1000, (dl1 - dl0) / w * 100
    }'
  echo "postgres processes: $(awk -v a="$p0" -v b="$p1" -v hz="$hz" -v w="$WINDOW_S" 'BEGIN { printf "%.0f", (b - a) * 100 / hz / w }')% of one CPU"
  echo
  echo "### CPU per engine thread (% of the window: on a CPU / runnable, waiting for a CPU; role from gdb)"
  join "$dir/threads_sched.txt" "$dir/thread_roles.txt" -a1 | sort -k2 -nr |
    awk '{ r = $4; for (i = 5; i <= NF; ++i) r = r " " $i; printf "%-8s %6.1f%% / %5.1f%%  %s\n", $1, $2, $3, (r == "" ? "?" : r) }'
  echo "total: $(awk '{ s += $2 } END { printf "%.0f", s }' "$dir/threads_cpu.txt")%"
  if [ -n "$perf_ok" ]; then
    echo
    echo "## window 2: perf (cpu-clock, self time)"
    head -40 "$dir/perf_symbols.txt"
    echo
    echo "### per thread (perf)"
    head -12 "$dir/perf_threads.txt"
  fi
  echo
  echo "## window 3: strace -c -f ($strace_msgs messages journaled in the window, slowed by strace)"
  head -25 "$dir/strace.txt"
  echo
  echo "## window 3b: strace -f -T, 2 s: waits per thread (tid call count time)"
  while read -r tid rest; do
    echo "$tid ($(awk -v t="$tid" '$1 == t { $1 = ""; print substr($0, 2) }' "$dir/thread_roles.txt")) $rest"
  done <"$dir/strace_tids.txt"
} >"$dir/summary.txt"
cat "$dir/summary.txt"
echo "load: $(cat "$dir/load.json")"
echo "raw: $dir" >&2
