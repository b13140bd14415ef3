#!/usr/bin/env bash
# make test: the real servers of the test stack, the whole suite, then the
# servers stopped again, whatever the outcome.
set -uo pipefail
export STACK="${TEST_STACK:-test}"
source "$(dirname "$0")/env.sh"
HERE="$(cd "$(dirname "$0")" && pwd)"

cleanup() { "$HERE/stack.sh" down >&2 || true; }
trap cleanup EXIT

# The broker starts from empty data: queues a killed run left behind must
# not slow (or starve) this one.
"$HERE/rabbitmq.sh" reset >/dev/null 2>&1 || true
"$HERE/stack.sh" servers || exit 1
# Databases a killed run left behind (each test makes its own).
for db in $("$HERE/postgres.sh" psql -Atc \
    "SELECT datname FROM pg_database WHERE datname ~ '^(t|tmpl|bench)_'"); do
  "$HERE/postgres.sh" psql -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null
done
export PASSAPAROLA_TEST_SERVERS=up
cd "$ROOT" || exit 1
"$ROOT/.venv/bin/python" -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "make test: pytest collected no tests; that is a failure" >&2
fi
exit "$status"
