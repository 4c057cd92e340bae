#!/usr/bin/env bash
# Lease store throughput versus raw JDBC, side by side in one run (see README "Benchmarks").
# Usage: bench/store-bench.sh [threads=4] [seconds-per-round=1] [rounds=15]
set -euo pipefail
cd "$(dirname "$0")/.."
exec mvn -q -B -Pbench test-compile exec:exec \
  -Dbench.main=io.streamhouse.lease.bench.StoreBench \
  -Dbench.args="${1:-4},${2:-1},${3:-15}"
