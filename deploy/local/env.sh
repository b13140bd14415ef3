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

# Started as root, the servers run as their own users (PostgreSQL refuses
# root; Debian's RabbitMQ and Prometheus scripts expect theirs), and those
# users must be able to enter their data folder. A checkout under a private
# folder (/root, a home with mode 700) is not theirs to enter: initdb then
# fails with a bare "Permission denied". Their data goes instead to a folder
# of its own under /var/tmp, one per checkout and stack (the hash of the
# checkout's path tells two checkouts apart). PASSAPAROLA_SERVER_VAR chooses it.
#
# "Enter" is checked on the permissions for others (o+x) of every existing
# folder on the way: the server users are in no one's group, and they may
# not exist yet (the packages are installed later, by the same scripts).
others_can_enter() {
  local dir=$1 mode
  while [ ! -e "$dir" ]; do dir=$(dirname "$dir"); done
  while :; do
    mode=$(stat -c %a "$dir") || return 1
    (( (8#$mode & 1) == 1 )) || return 1
    [ "$dir" = / ] && return 0
    dir=$(dirname "$dir")
  done
}

# This checkout's folder under /var/tmp, whether used or not (make clean).
RELOCATED_ROOT="/var/tmp/passaparola-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)"
if [ -n "${PASSAPAROLA_SERVER_VAR:-}" ]; then
  SERVER_VAR="$PASSAPAROLA_SERVER_VAR"
elif [ "$(id -u)" = 0 ] && ! others_can_enter "$VAR"; then
  SERVER_VAR="$RELOCATED_ROOT/$STACK"
else
  SERVER_VAR="$VAR"
fi
SERVER_LOGS="$SERVER_VAR/logs"

# Every server port is below the kernel's ephemeral range (32768-60999 on
# Linux): a port in that range can already be taken, by chance, as the source
# port of some outgoing connection when the server starts, and the start then
# fails with "address in use". They also stay clear of RabbitMQ's own defaults
# (5672, 15672, 25672, epmd 4369), which a system node may hold, and of the
# range the tests draw their free ports from (20000-32000).
PG_PORT=$((13430 + BASE))
AMQP_PORT=$((13670 + BASE))
RMQ_DIST_PORT=$((13680 + BASE))   # Erlang distribution (node to CLI tools)
RMQ_MGMT_PORT=$((13690 + BASE))
RMQ_PROM_PORT=$((13700 + BASE))
EPMD_PORT=$((13360 + BASE))
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

# Called before a server's first start: say where its data goes when it is
# not under var/, and fail with the reason (not initdb's bare "Permission
# denied") when even that folder is out of the server user's reach.
server_folder() {
  local user=$1 dir=$2
  if [ "$SERVER_VAR" != "$VAR" ] && [ -z "${PASSAPAROLA_SERVER_VAR:-}" ]; then
    say "note: $VAR is inside a folder the server users cannot enter;" \
      "$user keeps its data in $dir instead (set PASSAPAROLA_SERVER_VAR to choose)"
  fi
  (umask 022; mkdir -p "$dir")  # the folders on the way: enterable by others
  if [ "$(id -u)" = 0 ]; then
    if ! others_can_enter "$(dirname "$dir")"; then
      die "the $user server user cannot enter $(dirname "$dir") (a parent folder lacks o+x);" \
        "make it reachable (chmod o+x on each parent) or set PASSAPAROLA_SERVER_VAR to a folder it can reach"
    fi
  fi
}

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
