#!/usr/bin/env bash
# Starts etcd + kube-apiserver + kube-controller-manager (garbagecollector, namespace) on
# loopback with free ports, using the binaries cached by build.sh.
#
# Usage: start.sh <state-dir>
#   Writes <state-dir>/kubeconfig (token auth, system:masters), <state-dir>/*.pid and
#   <state-dir>/*.log and <state-dir>/ports (name port, a line each), waits until /readyz is ok (60 s timeout) and prints the kubeconfig
#   path as the only line on stdout (progress goes to stderr), so that
#   KUBECONFIG=$(hack/kube-apiserver/start.sh /tmp/x) works. Stop with stop.sh <state-dir>.
#
# Env: KUBE_BIN_DIR overrides the binary directory (default: build.sh's cache dir).
#      KUBE_READY_TIMEOUT overrides the 60 s readiness timeout.
#      KUBE_APISERVER_EXTRA_ARGS adds flags to kube-apiserver (e.g. --min-request-timeout=5,
#      which ends every watch after 5-10 s so that tests see informers re-watch).
set -euo pipefail

K8S_VERSION=v1.20.2
BIN_DIR="${KUBE_BIN_DIR:-${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/k8s/${K8S_VERSION}}"
READY_TIMEOUT="${KUBE_READY_TIMEOUT:-60}"

log() { printf '[%s] start.sh: %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $# -eq 1 ]] || { echo "usage: $0 <state-dir>" >&2; exit 2; }
for b in etcd kube-apiserver kube-controller-manager; do
  [[ -x "${BIN_DIR}/${b}" ]] || die "${BIN_DIR}/${b} missing; run hack/kube-apiserver/build.sh first"
done
for t in curl openssl; do command -v "$t" >/dev/null || die "$t is required"; done

mkdir -p "$1"
S=$(cd "$1" && pwd -P)

# Refuse to start twice into the same state dir.
for f in "${S}"/*.pid; do
  [[ -e "$f" ]] || continue
  pid=$(cat "$f" 2>/dev/null || true)
  if [[ -n "${pid}" ]] && kill -0 "${pid}" 2>/dev/null; then
    die "${f} names running process ${pid}; run stop.sh ${S} first"
  fi
  rm -f "$f"
done

# --- free loopback ports ------------------------------------------------------------
free_ports() { # prints N distinct free loopback ports
  if command -v python3 >/dev/null && python3 -c 'import socket' 2>/dev/null; then
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
for s in socks: s.close()
EOF
  else
    local ports=() p
    while (( ${#ports[@]} < $1 )); do
      p=$(( 20000 + RANDOM % 30000 ))
      [[ " ${ports[*]} " == *" ${p} "* ]] && continue
      # a port is free if nothing accepts a connection on it
      if ! (exec 3<>"/dev/tcp/127.0.0.1/${p}") 2>/dev/null; then ports+=("${p}"); fi
    done
    echo "${ports[*]}"
  fi
}
read -r ETCD_CLIENT_PORT ETCD_PEER_PORT API_PORT < <(free_ports 3)
printf 'etcd-client %s\netcd-peer %s\napiserver %s\n' "${ETCD_CLIENT_PORT}" "${ETCD_PEER_PORT}" "${API_PORT}" > "${S}/ports"

# --- credentials -----------------------------------------------------------------------
log "state dir ${S}; ports etcd=${ETCD_CLIENT_PORT}/${ETCD_PEER_PORT} apiserver=${API_PORT}"
mkdir -p "${S}/certs"
openssl genrsa -out "${S}/sa.key" 2048 2>/dev/null
openssl rsa -in "${S}/sa.key" -pubout -out "${S}/sa.pub" 2>/dev/null
TOKEN=$(openssl rand -hex 24)
umask_old=$(umask); umask 077
printf '%s,admin,admin,system:masters\n' "${TOKEN}" > "${S}/tokens.csv"
printf '%s\n' "${TOKEN}" > "${S}/token"
umask "${umask_old}"

SERVER="https://127.0.0.1:${API_PORT}"
cat > "${S}/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: streamhouse-local
  cluster:
    server: ${SERVER}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: ${TOKEN}
contexts:
- name: streamhouse-local
  context:
    cluster: streamhouse-local
    user: admin
    namespace: default
current-context: streamhouse-local
EOF
chmod 600 "${S}/kubeconfig"

STARTED=()
cleanup_on_error() {
  local rc=$?
  if (( rc != 0 )) && (( ${#STARTED[@]} > 0 )); then
    log "start failed; stopping what was started"
    "$(dirname "$0")/stop.sh" "${S}" >&2 || true
  fi
}
trap cleanup_on_error EXIT

launch() { # name, command...
  local name=$1; shift
  # A session of its own: a Ctrl-C meant for the caller (hack/run-local.sh, a terminal) does not
  # reach these servers; the caller stops them in order with stop.sh.
  nohup setsid "$@" </dev/null >"${S}/${name}.log" 2>&1 &
  echo $! > "${S}/${name}.pid"
  STARTED+=("${name}")
}

fail_with_log() { # name, message
  log "ERROR: $2"
  log "last lines of ${S}/$1.log:"
  tail -n 30 "${S}/$1.log" >&2 || true
  exit 1
}

wait_until() { # name, timeout-seconds, command... (retried until it succeeds)
  local name=$1 timeout=$2; shift 2
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    kill -0 "$(cat "${S}/${name}.pid")" 2>/dev/null || fail_with_log "${name}" "${name} exited"
    (( $(date +%s) < deadline )) || fail_with_log "${name}" "${name} not ready after ${timeout} s"
    sleep 0.5
  done
}

# --- etcd -------------------------------------------------------------------------------
log "starting etcd"
launch etcd "${BIN_DIR}/etcd" \
  --name default \
  --data-dir "${S}/etcd-data" \
  --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --listen-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER_PORT}" \
  --initial-cluster "default=http://127.0.0.1:${ETCD_PEER_PORT}" \
  --unsafe-no-fsync
etcd_healthy() { curl -sf "http://127.0.0.1:${ETCD_CLIENT_PORT}/health" | grep -q '"health":"true"'; }
wait_until etcd "${READY_TIMEOUT}" etcd_healthy

# --- kube-apiserver --------------------------------------------------------------------
log "starting kube-apiserver"
launch kube-apiserver "${BIN_DIR}/kube-apiserver" \
  --etcd-servers "http://127.0.0.1:${ETCD_CLIENT_PORT}" \
  --bind-address 127.0.0.1 \
  --advertise-address 127.0.0.1 \
  --secure-port "${API_PORT}" \
  --insecure-port 0 \
  --cert-dir "${S}/certs" \
  --token-auth-file "${S}/tokens.csv" \
  --authorization-mode RBAC \
  --service-account-issuer https://kubernetes.default.svc \
  --service-account-key-file "${S}/sa.pub" \
  --service-account-signing-key-file "${S}/sa.key" \
  --service-cluster-ip-range 10.0.0.0/24 \
  --disable-admission-plugins ServiceAccount \
  --endpoint-reconciler-type none \
  ${KUBE_APISERVER_EXTRA_ARGS:-}
api_ready() { [[ $(curl -ksf -H "Authorization: Bearer ${TOKEN}" "${SERVER}/readyz") == ok ]]; }
wait_until kube-apiserver "${READY_TIMEOUT}" api_ready

# --- kube-controller-manager -----------------------------------------------------------
log "starting kube-controller-manager (garbagecollector, namespace)"
launch kube-controller-manager "${BIN_DIR}/kube-controller-manager" \
  --kubeconfig "${S}/kubeconfig" \
  --controllers garbagecollector,namespace \
  --leader-elect=false \
  --port 0 \
  --secure-port 0
sleep 1
kill -0 "$(cat "${S}/kube-controller-manager.pid")" 2>/dev/null \
  || fail_with_log kube-controller-manager "kube-controller-manager exited"

log "ready: ${SERVER} (etcd $(cat "${S}/etcd.pid"), kube-apiserver $(cat "${S}/kube-apiserver.pid"), kube-controller-manager $(cat "${S}/kube-controller-manager.pid"))"
echo "${S}/kubeconfig"
