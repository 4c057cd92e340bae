#!/usr/bin/env bash
# The local demo in one command: a real kube-apiserver (hack/kube-apiserver, built once, ~10 min,
# cached), an embedded PostgreSQL, the packaged operator and three agents running the agent
# library; six leases of topic "orders"; one agent stopped gracefully, another crashed; the
# leases' holders and epochs before and after, and how long each move took.
# Usage: hack/demo.sh    (everything it starts is stopped at the end)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
command -v kubectl >/dev/null || { echo "demo: kubectl is required on PATH" >&2; exit 1; }

echo "demo: building (mvn package)..." >&2
mvn -B -q package -DskipTests
hack/kube-apiserver/build.sh >&2
STATE=$(mktemp -d /tmp/streamhouse-demo-kube.XXXXXX)
trap 'hack/kube-apiserver/stop.sh "${STATE}" >/dev/null 2>&1 || true; rm -rf "${STATE}"' EXIT
export KUBECONFIG=$(hack/kube-apiserver/start.sh "${STATE}")
# Servers older than 1.25 do not know CEL rules; the operator enforces immutability itself.
kubectl apply --validate=false -f crds/partitionleases.streamhouse.io-v1.yml -f crds/streamagents.streamhouse.io-v1.yml >/dev/null
mvn -B -q -Pbench test-compile exec:exec -Dbench.main=io.streamhouse.lease.demo.Demo
