# Sourced by the local stack scripts: where each part lives and listens.
# Stacks run side by side, each with its own ports and data folder: the demo
# stack (STACK=demo, the default), the test stack (STACK=test), and spare
# ones (STACK=dev1 .. dev4) for several people or test runs on one machine.
# shellcheck shell=bash

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STACK="${STACK:-demo}"
case "$STACK" in
  demo) BASE=0 ;;
  test) BASE=1 ;;
  dev[1-4]) BASE=$((1 + ${STACK#dev})) ;;
  *) echo "unknown STACK '$STACK' (demo, test or dev1..dev4)" >&2; exit 2 ;;
esac
VAR="${PASSAPAROLA_VAR:-$ROOT/var/$STACK}"
LOGS="$VAR/logs"

PG_PORT=$((55430 + BASE))
AMQP_PORT=$((35670 + BASE))        # Erlang distribution port = AMQP + 20000
RMQ_MGMT_PORT=$((45670 + BASE))
RMQ_PROM_PORT=$((45690 + BASE))
EPMD_PORT=$((44360 + BASE))
SMTP_PORT=$((2525 + BASE * 10))
SMTP_WEB_PORT=$((8025 + BASE * 10))
INGEST_PORT=$((8080 + BASE * 100))
MATCHER_PORT=$((8081 + BASE * 100))
NOTIFIER_PORT=$((8082 + BASE * 100))
CONSOLE_PORT=$((8090 + BASE * 100))
# Operator listeners (metrics, readiness details): never the public ports.
INGEST_OPERATOR_PORT=$((8070 + BASE * 100))
MATCHER_OPERATOR_PORT=$((8071 + BASE * 100))
NOTIFIER_OPERATOR_PORT=$((8072 + BASE * 100))
PROMETHEUS_PORT=$((9090 + BASE))

PG_USER=passaparola
PG_PASSWORD=passaparola-local
PG_DB=passaparola
RMQ_USER=passaparola
RMQ_PASSWORD=passaparola-local
RMQ_VHOST=passaparola

DATABASE_URL="postgresql://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
AMQP_URL="amqp://$RMQ_USER:$RMQ_PASSWORD@127.0.0.1:$AMQP_PORT/$RMQ_VHOST"
RMQ_MGMT_URL="http://127.0.0.1:$RMQ_MGMT_PORT"

say() { printf '[%s] %s\n' "$(basename "$0" .sh)" "$*" >&2; }
die() { say "error: $*"; exit 1; }

# apt-get update once per machine boot is enough; the marker keeps repeated
# `make` runs fast.
apt_install() {
  local marker=/tmp/.passaparola-apt-updated
  if [ "$(id -u)" != 0 ]; then
    die "missing packages: $*; install them (sudo apt-get install $*) and retry"
  fi
  if [ ! -e "$marker" ]; then
    say "apt-get update"
    apt-get update -qq >/dev/null || die "apt-get update failed"
    touch "$marker"
  fi
  say "installing $* from Debian's packages"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null \
    || die "apt-get install $* failed"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
