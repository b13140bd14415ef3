#!/usr/bin/env bash
# The whole local stack: servers (PostgreSQL, RabbitMQ, SMTP sink), the
# three services and, for `up`, the operator console and Prometheus; in the
# background, with logs and pid files under var/.
# usage: stack.sh servers|up|down|status|env
# Every command is idempotent: it works from any state (up, half up, stale pids).
set -euo pipefail
source "$(dirname "$0")/env.sh"

HERE="$(cd "$(dirname "$0")" && pwd)"
RUN="$VAR/run"
PY="$ROOT/.venv/bin/python"
SERVICES=(ingest matcher notifier)
ENV_FILE="$VAR/passaparola.env"

write_env() {
  mkdir -p "$VAR" "$LOGS" "$RUN"
  local key_file="$VAR/secret_key"
  [ -s "$key_file" ] || (umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(48))' >"$key_file")
  local console_pw="$VAR/console_password"
  [ -s "$console_pw" ] || (umask 077; "$PY" -c 'import secrets; print(secrets.token_urlsafe(12))' >"$console_pw")
  cat >"$ENV_FILE" <<ENV
PASSAPAROLA_DATABASE_URL=$DATABASE_URL
PASSAPAROLA_AMQP_URL=$AMQP_URL
PASSAPAROLA_SECRET_KEY=$(cat "$key_file")
PASSAPAROLA_RABBITMQ_MANAGEMENT_URL=$RMQ_MGMT_URL
PASSAPAROLA_LOG_FORMAT=json
PASSAPAROLA_INGEST_PORT=$INGEST_PORT
PASSAPAROLA_MATCHER_PORT=$MATCHER_PORT
PASSAPAROLA_NOTIFIER_PORT=$NOTIFIER_PORT
PASSAPAROLA_CONSOLE_PORT=$CONSOLE_PORT
PASSAPAROLA_CONSOLE_PUBLIC_URL=http://127.0.0.1:$CONSOLE_PORT
PASSAPAROLA_INGEST_OPERATOR_PORT=$INGEST_OPERATOR_PORT
PASSAPAROLA_MATCHER_OPERATOR_PORT=$MATCHER_OPERATOR_PORT
PASSAPAROLA_NOTIFIER_OPERATOR_PORT=$NOTIFIER_OPERATOR_PORT
PASSAPAROLA_CONSOLE_PASSWORD=$(cat "$console_pw")
PASSAPAROLA_PROMETHEUS_URL=http://127.0.0.1:$PROMETHEUS_PORT
PASSAPAROLA_PUBLIC_URL=http://127.0.0.1:$NOTIFIER_PORT
PASSAPAROLA_SMTP_HOST=127.0.0.1
PASSAPAROLA_SMTP_PORT=$SMTP_PORT
PASSAPAROLA_LOOPBACK_HTTP_CALLBACKS=true
ENV
}

load_env() { set -a; source "$ENV_FILE"; set +a; }

alive() {  # alive NAME: its pid file names a live process of ours
  local pidfile="$RUN/$1.pid" pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null && grep -q "$2" "/proc/$pid/cmdline" 2>/dev/null; then return 0; fi
  rm -f "$pidfile"   # stale
  return 1
}

spawn() {  # spawn NAME PATTERN COMMAND...
  local name=$1 pattern=$2; shift 2
  if alive "$name" "$pattern"; then say "$name already running"; return 0; fi
  say "starting $name (log: $LOGS/$name.log)"
  setsid "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
}

wait_http() {  # wait_http NAME URL
  local deadline=$((SECONDS + 60))
  until curl -fsS -o /dev/null "$2" 2>/dev/null; do
    if ! alive "$1" "${3:-passaparola}"; then
      tail -n 20 "$LOGS/$1.log" >&2 || true
      die "$1 exited during start-up; read $LOGS/$1.log"
    fi
    if (( SECONDS > deadline )); then
      tail -n 20 "$LOGS/$1.log" >&2 || true
      die "$1 not ready after 60 s at $2; read $LOGS/$1.log"
    fi
    sleep 0.3
  done
}

ensure_venv() {
  [ -x "$ROOT/.venv/bin/passaparola" ] || die "no virtual environment; run 'make venv' first"
}

smtp_sink() {
  spawn smtp-sink smtp_sink "$PY" "$HERE/smtp_sink.py" --host 127.0.0.1 --port "$SMTP_PORT" \
    --web-port "$SMTP_WEB_PORT" --maildir "$VAR/mail"
  wait_http smtp-sink "http://127.0.0.1:$SMTP_WEB_PORT/healthz" smtp_sink
}

servers() {
  ensure_venv
  command -v curl >/dev/null || apt_install curl
  "$HERE/postgres.sh" start
  "$HERE/rabbitmq.sh" start
  write_env
  smtp_sink
}

up() {
  servers
  load_env
  "$ROOT/.venv/bin/passaparola" migrate >/dev/null
  local svc port
  for svc in "${SERVICES[@]}"; do
    spawn "$svc" "passaparola" "$ROOT/.venv/bin/passaparola" "$svc"
  done
  for svc in "${SERVICES[@]}"; do
    port="${svc^^}_PORT"
    operator="${svc^^}_OPERATOR_PORT"
    wait_http "$svc" "http://127.0.0.1:${!operator}/readyz"
    say "$svc ready on 127.0.0.1:${!port} (operator port ${!operator})"
  done
  spawn console "passaparola" "$ROOT/.venv/bin/passaparola" console
  wait_http console "http://127.0.0.1:$CONSOLE_PORT/readyz"
  say "console ready on 127.0.0.1:$CONSOLE_PORT"
  # Monitoring is not the product: without it (say, the port is taken) the stack still works.
  "$HERE/prometheus.sh" start || say "warning: Prometheus did not start; the rest of the stack is up"
}

stop_process() {  # stop_process NAME PATTERN: SIGTERM, then SIGKILL after 30 s
  local pid
  alive "$1" "$2" || return 0
  pid=$(cat "$RUN/$1.pid")
  say "stopping $1"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$RUN/$1.pid"
}

down() {
  local svc
  "$HERE/prometheus.sh" stop
  stop_process console passaparola
  for svc in "${SERVICES[@]}"; do stop_process "$svc" passaparola; done
  stop_process smtp-sink smtp_sink
  "$HERE/rabbitmq.sh" stop
  "$HERE/postgres.sh" stop
}

status() {
  "$HERE/postgres.sh" status || true
  "$HERE/rabbitmq.sh" status || true
  local svc
  "$HERE/prometheus.sh" status || true
  for svc in smtp-sink "${SERVICES[@]}" console; do
    if alive "$svc" "$([ "$svc" = smtp-sink ] && echo smtp_sink || echo passaparola)"; then
      echo "$svc: up (pid $(cat "$RUN/$svc.pid"), log $LOGS/$svc.log)"
    else
      echo "$svc: down"
    fi
  done
}

case "${1:-}" in
  servers|up|down|status) "$1" ;;
  env) write_env; sed 's/^/export /' "$ENV_FILE" ;;
  *) echo "usage: $0 servers|up|down|status|env" >&2; exit 2 ;;
esac
