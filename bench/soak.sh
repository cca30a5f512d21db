#!/usr/bin/env bash
# Soak variant of the fault matrix (test/cluster/fault-matrix.test.ts): the same nine faults, each
# with 20,000 outbox notifications and 200 clients behind HAProxy (defaults; override below).
# Needs what `npm test` needs for the cluster tests: PostgreSQL server binaries, redis-server and
# haproxy (.ci/run installs them). Takes roughly 20–30 minutes on 2 cores.
#
#   npm run bench:soak                       # all cases
#   npm run bench:soak -- -t "g. black-hole"  # one case
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export NOTIFIER_MATRIX_COUNT="${NOTIFIER_MATRIX_COUNT:-20000}"
export NOTIFIER_MATRIX_CLIENTS="${NOTIFIER_MATRIX_CLIENTS:-200}"
export NOTIFIER_MATRIX_INTERVAL_MS="${NOTIFIER_MATRIX_INTERVAL_MS:-2}"
export NOTIFIER_CLUSTER_TEST_TIMEOUT_MS="${NOTIFIER_CLUSTER_TEST_TIMEOUT_MS:-1800000}"
npm run build
exec npx vitest run --project cluster test/cluster/fault-matrix.test.ts "$@"
