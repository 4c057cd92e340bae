#!/usr/bin/env bash
# The agent library's cache path, with JMH (see README "Benchmarks"): LeaseClient.epoch() for a
# held and an unheld partition, and side by side the database round trip it saves.
# Usage: bench/epoch-bench.sh [JMH arguments, default: EpochCacheBench]
set -euo pipefail
cd "$(dirname "$0")/.."
exec mvn -q -B -Pbench test-compile exec:exec \
  -Dbench.main=org.openjdk.jmh.Main \
  -Dbench.args="${1:-EpochCacheBench}"
