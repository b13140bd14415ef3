#!/usr/bin/env bash
# make demo: a fresh demo stack, the demo played through it, and where to look.
# The demo stack's data starts empty every time, so the story (matches, emails)
# is the same on every run; `make up` alone keeps whatever is there.
set -euo pipefail
source "$(dirname "$0")/env.sh"
HERE="$(cd "$(dirname "$0")" && pwd)"

[ "$STACK" = demo ] || die "the demo only runs on the demo stack"
if [ -d "$VAR" ]; then
  say "starting from empty data: stopping the demo stack and clearing $VAR"
  "$HERE/stack.sh" down >/dev/null 2>&1 || true
  rm -rf "$VAR" "$SERVER_VAR"
fi
"$HERE/stack.sh" up
set -a; source "$VAR/passaparola.env"; set +a
BIN="$ROOT/.venv/bin/passaparola"

echo
echo "== 1. Three harmless events through the whole pipeline =="
echo "   (ingest's outbox -> relay -> RabbitMQ -> matcher and notifier)"
mapfile -t ids < <("$BIN" ping --count 3 --note demo)
for id in "${ids[@]}"; do
  for svc in matcher notifier; do
    for _ in $(seq 1 100); do
      grep -q "\"event_id\": \"$id\".*\"outcome\": \"ok\"\|\"outcome\": \"ok\".*\"event_id\": \"$id\"" \
        "$LOGS/$svc.log" 2>/dev/null && break
      sleep 0.1
    done
    grep -q "$id" "$LOGS/$svc.log" || die "$svc did not handle event $id; read $LOGS/$svc.log"
  done
  echo "   event $id: handled by matcher and notifier"
done

(cd "$ROOT" && DEMO_SMTP_WEB_PORT="$SMTP_WEB_PORT" "$ROOT/.venv/bin/python" -m deploy.demo.play)

echo
echo "== Where to look =="
cat <<TEXT
   Operator console         http://127.0.0.1:$CONSOLE_PORT/   (password $PASSAPAROLA_CONSOLE_PASSWORD)
   RabbitMQ management UI   $RMQ_MGMT_URL   (user $RMQ_USER, password $RMQ_PASSWORD)
   Prometheus (and alerts)  http://127.0.0.1:$PROMETHEUS_PORT/   (alerts: http://127.0.0.1:$PROMETHEUS_PORT/alerts)
   Queues in the terminal   .venv/bin/passaparola status   (after: source <(deploy/local/stack.sh env))
   Captured emails          http://127.0.0.1:$SMTP_WEB_PORT/   (files: $VAR/mail/)
   Service health           http://127.0.0.1:$INGEST_OPERATOR_PORT/readyz  :$MATCHER_OPERATOR_PORT/readyz  :$NOTIFIER_OPERATOR_PORT/readyz  (operator ports)
   Logs (JSON, one line per message handled)   $LOGS/
   Dead letters             .venv/bin/passaparola dlq list matcher   (after: source <(deploy/local/stack.sh env))
   Stop everything          make down
TEXT
