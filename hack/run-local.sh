#!/usr/bin/env bash
# Builds the operator and runs it on embedded defaults:
#  - Kubernetes: the cluster KUBECONFIG points at when it answers; otherwise a local
#    kube-apiserver + etcd from hack/kube-apiserver (built once, ~10 min, cached), its state in
#    <data>/kube (kubeconfig: <data>/kube/kubeconfig), stopped again when this script ends;
#  - PostgreSQL: STREAMHOUSE_DB_URL when set; otherwise an embedded one in <data>/postgres.
# <data> is STREAMHOUSE_DATA_DIR, by default streamhouse-data/ in the project; both keep their
# state across runs. The CRDs are applied (and awaited) before the operator starts.
#
# Usage: hack/run-local.sh [--no-build]
#   --no-build  run target/quarkus-app as it is (the tests use this: no Maven build inside Maven)
# Ctrl-C (or TERM, or HUP) stops the operator first, which releases its embedded PostgreSQL,
# then the local API server; the script exits 0 after a stop it was asked for, and with the
# operator's own status if the operator ended by itself.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

BUILD=1
for arg in "$@"; do
  case "${arg}" in
    --no-build) BUILD=0 ;;
    -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "run-local: unknown argument '${arg}' (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "run-local: $*" >&2; }
for tool in kubectl java setsid flock; do
  command -v "${tool}" >/dev/null || { log "${tool} is required on PATH"; exit 1; }
done

DATA=${STREAMHOUSE_DATA_DIR:-${ROOT}/streamhouse-data}
mkdir -p "${DATA}"
DATA=$(cd "${DATA}" && pwd -P)
# One run per data directory: a second one would stop the first one's API server below. Only
# this script holds the lock (its children get 8>&-), so after a killed run the next one can
# take over and clean up what the killed one left.
exec 8>"${DATA}/.run-local.lock"
flock -n 8 || { log "another run-local.sh is using ${DATA}; stop it first (or set STREAMHOUSE_DATA_DIR)"; exit 1; }

if (( BUILD )); then
  mvn -B -q package -DskipTests
fi
JAR=target/quarkus-app/quarkus-run.jar
[[ -f "${JAR}" ]] || { log "${JAR} is missing: run without --no-build (or mvn -B package -DskipTests)"; exit 1; }

STARTED_KUBE=""
OPERATOR=""
EMBEDDED_PG=""
KILLER=""
STOP_ASKED=0
# The operator stops its embedded PostgreSQL when it shuts down; if the operator was killed, the
# postmaster named in postmaster.pid is asked to shut down fast (only if it serves our data dir).
stop_leftover_postgres() {
  [[ -n "${EMBEDDED_PG}" && -f "${EMBEDDED_PG}/postmaster.pid" ]] || return 0
  local pid
  pid=$(head -n 1 "${EMBEDDED_PG}/postmaster.pid" 2>/dev/null || true)
  [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null || return 0
  tr '\0' ' ' < "/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "${EMBEDDED_PG}" || return 0
  log "stopping the embedded PostgreSQL left by the operator (pid ${pid})"
  kill -INT "${pid}" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "${pid}" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "${pid}" 2>/dev/null || true
}
# An operator left running by a killed earlier run of this data dir (pid file, checked against
# the process's command line and working directory) is stopped before a new one starts.
stop_leftover_operator() {
  local pid
  pid=$(cat "${DATA}/operator.pid" 2>/dev/null || true)
  [[ "${pid}" =~ ^[0-9]+$ ]] && kill -0 "${pid}" 2>/dev/null || return 0
  tr '\0' ' ' < "/proc/${pid}/cmdline" 2>/dev/null | grep -qF -- "quarkus-run.jar" || return 0
  [[ "$(readlink "/proc/${pid}/cwd" 2>/dev/null)" == "${ROOT}" ]] || return 0
  log "stopping the operator left by an earlier run (pid ${pid})"
  kill -TERM "${pid}" 2>/dev/null || true
  for _ in $(seq 1 300); do kill -0 "${pid}" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL "${pid}" 2>/dev/null || true
}
cleanup() {
  local status=$?
  if [[ -n "${OPERATOR}" ]] && kill -0 "${OPERATOR}" 2>/dev/null; then
    kill -KILL "${OPERATOR}" 2>/dev/null || true   # only when the script itself failed mid-way
  fi
  if [[ -n "${KILLER}" ]]; then kill "${KILLER}" 2>/dev/null || true; wait "${KILLER}" 2>/dev/null || true; fi
  stop_leftover_postgres
  if [[ -n "${STARTED_KUBE}" ]]; then
    hack/kube-apiserver/stop.sh "${STARTED_KUBE}" >/dev/null 2>&1 || true
  fi
  exit "${status}"
}
trap cleanup EXIT
# Until the operator runs, a stop request simply ends the script (the EXIT trap cleans up).
trap 'STOP_ASKED=1; exit 0' INT TERM HUP

stop_leftover_operator

if [[ -n "${KUBECONFIG:-}" ]] && kubectl version --request-timeout=5s >/dev/null 2>&1; then
  log "using the cluster in KUBECONFIG=${KUBECONFIG}"
else
  log "no reachable cluster configured; starting a local kube-apiserver (first time: builds it, ~10 min)"
  hack/kube-apiserver/build.sh >&2 8>&-
  STATE="${DATA}/kube"
  hack/kube-apiserver/stop.sh "${STATE}" >/dev/null 2>&1 || true   # left over by a killed run
  STARTED_KUBE="${STATE}"
  KUBECONFIG=$(hack/kube-apiserver/start.sh "${STATE}" 8>&-)
  export KUBECONFIG
  log "export KUBECONFIG=${KUBECONFIG}   # to use kubectl against it"
fi

# crds/ holds only the CRDs. Servers older than 1.25 do not know CEL rules (kubectl's client-side
# validation would refuse them): the operator enforces what those rules say itself.
kubectl apply --validate=false -f crds/ >&2
kubectl wait --for condition=established --timeout=60s -f crds/ >&2

export STREAMHOUSE_DB_EMBEDDED_DATA_DIR=${STREAMHOUSE_DB_EMBEDDED_DATA_DIR:-${DATA}/postgres}
if [[ -z "${STREAMHOUSE_DB_URL:-}" ]]; then
  EMBEDDED_PG=${STREAMHOUSE_DB_EMBEDDED_DATA_DIR}
  stop_leftover_postgres   # a killed earlier run's server would keep this one from starting
fi
# A session of its own: Ctrl-C reaches this script only, which then stops the operator in order
# (releasing leases while PostgreSQL is still up) instead of every process at once.
setsid java ${JAVA_OPTS:-} -jar "${JAR}" 8>&- &
OPERATOR=$!
echo "${OPERATOR}" > "${DATA}/operator.pid"

stop_operator() {
  STOP_ASKED=1
  kill -TERM "${OPERATOR}" 2>/dev/null || true
  if [[ -z "${KILLER}" ]]; then
    # A graceful stop takes a few seconds; past 60 s the operator is killed. The watchdog takes
    # its sleep down with it when it is itself stopped, so nothing outlives the script.
    bash -c 'sleep 60 & s=$!; trap "kill \$s; exit 0" TERM; wait "$s"; kill -KILL '"${OPERATOR}"' 2>/dev/null' 8>&- &
    KILLER=$!
  fi
}
trap stop_operator INT TERM HUP

status=0
while kill -0 "${OPERATOR}" 2>/dev/null; do
  if wait "${OPERATOR}"; then status=0; else status=$?; fi   # returns early when a signal is trapped
done
OPERATOR=""
if (( STOP_ASKED )); then
  log "operator stopped (exit ${status})"
  exit 0
fi
log "operator exited by itself with status ${status}"
exit "${status}"
