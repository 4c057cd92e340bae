#!/usr/bin/env bash
# The group plan's own cost (Assigner): cold, warm and after a departure, and its memory per lease,
# at L leases x N agents (see README "Benchmarks"). No Kubernetes, no database.
# Usage: bench/plan-bench.sh [sizes=10000x10,10000x100,100000x10,100000x100] [rounds=7]
set -euo pipefail
cd "$(dirname "$0")/.."
exec mvn -q -B -Pbench test-compile exec:exec \
  -Dbench.main=io.streamhouse.lease.bench.PlanBench \
  -Dbench.args="${1:-10000x10,10000x100,100000x10,100000x100}${2:+,$2}"
