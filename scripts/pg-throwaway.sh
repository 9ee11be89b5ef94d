#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for the store tests: initdb into DIR, a free 127.0.0.1 port,
# the unix socket inside DIR, fsync on for the server (durability is what the tests are about;
# initdb itself skips its final sync: a throwaway cluster need not survive a crash of initdb).
# Usage: scripts/pg-throwaway.sh start DIR   -> prints postgresql://postgres@127.0.0.1:PORT/postgres
#        scripts/pg-throwaway.sh stop DIR    -> stops the server (DIR is left for the caller)
# HIMS_PG_SETTINGS: more server settings for `start` ("-c name=value ..."; bench/run_durable.sh
# passes the checkpoint spacing docs/storage.md recommends for a busy journal).
# As root, the server runs as the `postgres` user (PostgreSQL refuses to run as root).
set -euo pipefail

cmd="${1:-}"
dir="${2:-}"
if [[ -z "$cmd" || -z "$dir" ]]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
bin="${HIMS_PG_BIN:-/usr/lib/postgresql/15/bin}"
if [[ ! -x "$bin/initdb" ]]; then
  echo "pg-throwaway: $bin/initdb not found (apt-get install postgresql-15)" >&2
  exit 1
fi

as_pg=()
if [[ $(id -u) == 0 ]]; then as_pg=(runuser -u postgres --); fi

case "$cmd" in
  start)
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [[ $(id -u) == 0 ]]; then chown postgres: "$dir"; fi
    "${as_pg[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
      >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    # A free port: bind port 0 and take what the kernel gave (released just before pg binds it).
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=on -c synchronous_commit=on -c max_connections=200 ${HIMS_PG_SETTINGS:-}" \
      start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" >"$dir/port"
    echo "postgresql://postgres@127.0.0.1:$port/postgres"
    ;;
  stop)
    if [[ -f "$dir/data/postmaster.pid" ]]; then
      "${as_pg[@]}" "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
