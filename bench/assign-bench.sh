#!/usr/bin/env bash
# Assignment and failover figures (see README "Benchmarks"): the packaged operator against the
# mock API server and an embedded PostgreSQL, for each size leases x agents.
# Usage: bench/assign-bench.sh [sizes=1000x10,1000x100,10000x10,10000x100]
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -B package -DskipTests
exec mvn -q -B -Pbench test-compile exec:exec \
  -Dbench.main=io.streamhouse.lease.bench.AssignBench \
  -Dbench.args="${1:-1000x10,1000x100,10000x10,10000x100}"
