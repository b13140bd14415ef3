#!/usr/bin/env bash
# RabbitMQ for the local stack: Debian's package, project-local data, own ports.
# usage: rabbitmq.sh install|start|stop|status|reset
set -euo pipefail
source "$(dirname "$0")/env.sh"

RDIR="$SERVER_VAR/rabbitmq"
NODE="passaparola-$STACK@localhost"
RMQ_BIN=/usr/lib/rabbitmq/bin

# The Debian package's scripts expect to run as the `rabbitmq` user, whose
# folders these must then be; a developer without root runs it as themselves.
as_rmq() {
  local envs=(
    HOME="$RDIR" ERL_EPMD_PORT="$EPMD_PORT"
    # epmd and the distribution port listen on loopback only, like the rest.
    ERL_EPMD_ADDRESS=127.0.0.1
    RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
    RABBITMQ_NODENAME="$NODE"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
    RABBITMQ_NODE_PORT="$AMQP_PORT"
    RABBITMQ_DIST_PORT="$RMQ_DIST_PORT"
    RABBITMQ_MNESIA_BASE="$RDIR/mnesia"
    RABBITMQ_LOG_BASE="$RDIR/log"
    RABBITMQ_CONFIG_FILE="$RDIR/rabbitmq.conf"
    RABBITMQ_ADVANCED_CONFIG_FILE="$RDIR/advanced.config"
    RABBITMQ_ENABLED_PLUGINS_FILE="$RDIR/enabled_plugins"
    RABBITMQ_CONF_ENV_FILE="$RDIR/rabbitmq-env.conf"
    RABBITMQ_PID_FILE="$RDIR/rabbitmq.pid"
  )
  if [ "$(id -u)" = 0 ]; then
    runuser -u rabbitmq -- env "${envs[@]}" "$@"
  else
    env "${envs[@]}" "$@"
  fi
}

install() {
  [ -x "$RMQ_BIN/rabbitmq-server" ] || apt_install rabbitmq-server
  # The package starts its own system node where an init system exists; it is
  # not ours and does not use our ports, so it is left alone.
}

# Every call to the node is bounded: a wedged node must not hang make.
running() { as_rmq timeout 20 "$RMQ_BIN/rabbitmq-diagnostics" -q ping >/dev/null 2>&1; }

configure() {
  server_folder rabbitmq "$RDIR"
  mkdir -p "$RDIR/mnesia" "$RDIR/log" "$LOGS"
  cat >"$RDIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$AMQP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $RMQ_MGMT_PORT
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $RMQ_PROM_PORT
# Per-queue figures on /metrics (dead letters, consumers): the alert rules need them.
prometheus.return_per_object_metrics = true
# Applied once, when the node's database is created.
default_vhost = $RMQ_VHOST
default_user = $RMQ_USER
default_pass = $RMQ_PASSWORD
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users = none
log.console = false
log.file.level = info
# Statistics for the management UI and the console, every 2 s.
collect_statistics_interval = 2000
CONF
  echo '[rabbitmq_management,rabbitmq_prometheus].' >"$RDIR/enabled_plugins"
  : >"$RDIR/rabbitmq-env.conf"
  echo '[].' >"$RDIR/advanced.config"
  if [ "$(id -u)" = 0 ]; then chown -R rabbitmq:rabbitmq "$RDIR"; fi
}

start() {
  install
  if running; then say "RabbitMQ ($NODE) already running on $AMQP_PORT"; return 0; fi
  if port_open "$AMQP_PORT"; then die "port $AMQP_PORT is taken by something else"; fi
  configure
  say "starting RabbitMQ $NODE on 127.0.0.1:$AMQP_PORT (management :$RMQ_MGMT_PORT)"
  # setsid: the node must outlive the make recipe that started it.
  # RabbitMQ sizes its file handle cache from the open-files limit; at the
  # usual soft limit of 1024, a few hundred quorum queues take every handle
  # and new connections wait forever in the handshake. The node raises its
  # soft limit to the hard one (runuser's PAM session resets it first).
  setsid bash -c "$(declare -f as_rmq); RDIR='$RDIR' NODE='$NODE' EPMD_PORT='$EPMD_PORT' RMQ_DIST_PORT='$RMQ_DIST_PORT' \
    AMQP_PORT='$AMQP_PORT' as_rmq sh -c 'ulimit -n \"\$(ulimit -Hn)\"; exec \"\$0\"' \
    '$RMQ_BIN/rabbitmq-server'" \
    >"$LOGS/rabbitmq.console.log" 2>&1 </dev/null &
  local deadline=$((SECONDS + 90))
  until running && port_open "$AMQP_PORT" && port_open "$RMQ_MGMT_PORT"; do
    if (( SECONDS > deadline )); then
      tail -n 30 "$LOGS/rabbitmq.console.log" >&2 || true
      die "RabbitMQ did not start in 90 s; read $LOGS/rabbitmq.console.log and $RDIR/log/"
    fi
    sleep 0.5
  done
  say "RabbitMQ ready"
}

stop() {
  if [ -d "$RDIR" ] && running; then
    say "stopping RabbitMQ $NODE"
    as_rmq timeout 60 "$RMQ_BIN/rabbitmqctl" -q stop "$RDIR/rabbitmq.pid" >/dev/null 2>&1 || true
  fi
  # Whatever is left of this node (a hung VM, its epmd) goes too.
  # (HOME is this node's folder: that names its VM, and nothing else's.)
  if [ -s "$RDIR/rabbitmq.pid" ]; then kill -9 "$(cat "$RDIR/rabbitmq.pid")" 2>/dev/null || true; fi
  pkill -9 -f -- "-home $RDIR " 2>/dev/null || true
  # epmd refuses -kill while a node is registered; by now none is.
  ERL_EPMD_PORT="$EPMD_PORT" epmd -kill >/dev/null 2>&1 || true
  rm -f "$RDIR/rabbitmq.pid"
}

status() {
  if running; then echo "rabbitmq: up ($AMQP_URL, management $RMQ_MGMT_URL)"; else echo "rabbitmq: down"; return 1; fi
}

reset() { stop; rm -rf "$RDIR"; }

case "${1:-}" in
  install|start|stop|status|reset) "$1" ;;
  ctl) shift; as_rmq "$RMQ_BIN/rabbitmqctl" "$@" ;;
  *) echo "usage: $0 install|start|stop|status|reset|ctl ARGS" >&2; exit 2 ;;
esac
