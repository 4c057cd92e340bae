#!/usr/bin/env bash
# Assignment and failover figures (see README "Benchmarks"): the packaged operator against an API
# server and an embedded PostgreSQL, for each size leases x agents.
# Usage: bench/assign-bench.sh [--real-api] [--library] [--topics] [sizes=1000x10,1000x100,10000x10,10000x100]
#   default: the Fabric8 mock API server (in the bench's JVM, serves one request at a time);
#   --real-api: kube-apiserver v1.20.2 + etcd on loopback (hack/kube-apiserver; built once, ~15 min);
#   --library: the agents run the agent library in the bench's JVM (sessions, channels, fenced
#   writes: "writable" times), instead of being kept by the operator.
#   --topics: the leases are the partitions of StreamTopics of 1,000 (no object per partition)
#   instead of PartitionLeases.
#   BENCH_JAR=<path to another build's quarkus-run.jar>: bench that build instead (before/after comparisons).
#   BENCH_STATUS_BUDGET=<writes/s>: the operator's PartitionLease status budget and burst (default: its own,
#   100/s burst 20); the bench compares the statuses' pace with a plain write loop on the same server.
#   BENCH_OPERATOR_OPTS="-Dkey=value ...": more JVM options for the operator (space-separated).
set -euo pipefail
cd "$(dirname "$0")/.."
export BENCH_API=mock BENCH_AGENTS=operator BENCH_TOPICS=0
while [[ "${1:-}" == --* ]]; do
  case "$1" in
    --real-api) BENCH_API=real ;;
    --library) BENCH_AGENTS=library ;;
    --topics) BENCH_TOPICS=1 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
mvn -q -B package -DskipTests
exec mvn -q -B -Pbench test-compile exec:exec \
  -Dbench.main=io.streamhouse.lease.bench.AssignBench \
  -Dbench.args="${1:-1000x10,1000x100,10000x10,10000x100}"
