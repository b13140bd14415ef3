#!/usr/bin/env bash
# PostgreSQL for the local stack: Debian's package, project-local cluster, own port.
# usage: postgres.sh install|start|stop|status|reset|psql
set -euo pipefail
source "$(dirname "$0")/env.sh"

PGDIR="$SERVER_VAR/postgres"
DATA="$PGDIR/data"

pg_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$dir" ] && echo "$dir"
}

# PostgreSQL refuses to run as root: as root, run it as `postgres`.
# From /: the checkout may be a folder `postgres` cannot enter (env.sh).
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

install() { [ -n "$(pg_bin)" ] || apt_install postgresql; }

running() { [ -f "$DATA/postmaster.pid" ] && as_pg "$(pg_bin)/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

init_cluster() {
  server_folder postgres "$PGDIR"
  mkdir -p "$PGDIR" "$LOGS"
  local pwfile="$PGDIR/.pw"
  printf '%s\n' "$PG_PASSWORD" >"$pwfile"
  if [ "$(id -u)" = 0 ]; then chown -R postgres:postgres "$PGDIR"; fi
  chmod 700 "$PGDIR"
  say "creating a cluster in $DATA"
  as_pg "$(pg_bin)/initdb" -D "$DATA" -U "$PG_USER" --pwfile="$pwfile" \
    --auth-local=scram-sha-256 --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
  rm -f "$pwfile"
}

start() {
  install
  if running; then say "PostgreSQL already running on $PG_PORT"; return 0; fi
  if port_open "$PG_PORT"; then die "port $PG_PORT is taken by something else"; fi
  [ -f "$DATA/PG_VERSION" ] || init_cluster
  rm -f "$DATA/postmaster.pid"   # stale: the server is not running (checked above)
  # Written by the server user: next to its data (under var/ as a rule).
  mkdir -p "$SERVER_LOGS"; touch "$SERVER_LOGS/postgres.log"
  if [ "$(id -u)" = 0 ]; then chown postgres "$SERVER_LOGS/postgres.log"; fi
  say "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  as_pg "$(pg_bin)/pg_ctl" -D "$DATA" -l "$SERVER_LOGS/postgres.log" -w -t 60 start \
    -o "-p $PG_PORT -c listen_addresses=127.0.0.1 -k $PGDIR -c fsync=${PG_FSYNC:-on} -c max_connections=200" \
    >/dev/null || { tail -n 20 "$SERVER_LOGS/postgres.log" >&2; die "PostgreSQL did not start; read $SERVER_LOGS/postgres.log"; }
  PGPASSWORD="$PG_PASSWORD" "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d postgres -Atqc \
    "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1 \
    || PGPASSWORD="$PG_PASSWORD" "$(pg_bin)/createdb" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB"
  say "PostgreSQL ready"
}

stop() {
  if running; then
    say "stopping PostgreSQL"
    as_pg "$(pg_bin)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null || true
  fi
}

status() {
  if running; then echo "postgres: up ($DATABASE_URL)"; else echo "postgres: down"; return 1; fi
}

reset() { stop; rm -rf "$PGDIR"; }

case "${1:-}" in
  install|start|stop|status|reset) "$1" ;;
  psql) shift; PGPASSWORD="$PG_PASSWORD" exec "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" "$PG_DB" "$@" ;;
  *) echo "usage: $0 install|start|stop|status|reset|psql" >&2; exit 2 ;;
esac
