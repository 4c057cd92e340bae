#!/usr/bin/env bash
# Builds the operator and runs it on embedded defaults:
#  - Kubernetes: the cluster KUBECONFIG points at when it answers; otherwise a local
#    kube-apiserver + etcd from hack/kube-apiserver (built once, ~10 min, cached), state kept in
#    streamhouse-data/kube and stopped again when the operator exits;
#  - PostgreSQL: STREAMHOUSE_DB_URL when set; otherwise an embedded one (streamhouse-data/postgres).
# Usage: hack/run-local.sh        (Ctrl-C stops everything it started)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

command -v kubectl >/dev/null || { echo "run-local: kubectl is required on PATH" >&2; exit 1; }
mvn -B -q package -DskipTests

STARTED_KUBE=""
cleanup() {
  if [[ -n "${STARTED_KUBE}" ]]; then
    hack/kube-apiserver/stop.sh "${STARTED_KUBE}" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if [[ -n "${KUBECONFIG:-}" ]] && kubectl version --request-timeout=5s >/dev/null 2>&1; then
  echo "run-local: using the cluster in KUBECONFIG=${KUBECONFIG}" >&2
else
  echo "run-local: no reachable cluster configured; starting a local kube-apiserver (first time: builds it, ~10 min)" >&2
  hack/kube-apiserver/build.sh >&2
  STATE="${ROOT}/streamhouse-data/kube"
  hack/kube-apiserver/stop.sh "${STATE}" >/dev/null 2>&1 || true
  STARTED_KUBE="${STATE}"
  export KUBECONFIG=$(hack/kube-apiserver/start.sh "${STATE}")
  echo "run-local: export KUBECONFIG=${KUBECONFIG}   # to use kubectl against it" >&2
fi
# Servers older than 1.25 do not know CEL rules; the operator enforces immutability itself.
kubectl apply --validate=false -f crds/ >&2
java -jar target/quarkus-app/quarkus-run.jar &
OPERATOR=$!
# Ctrl-C or a TERM stops the operator first; the EXIT trap then stops the local API server.
trap 'kill -TERM "${OPERATOR}" 2>/dev/null || true' INT TERM
wait "${OPERATOR}" || true
