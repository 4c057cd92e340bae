#!/usr/bin/env bash
# Stops the processes that start.sh recorded in <state-dir>/*.pid, and only those.
# A PID is signalled only if that process still mentions the state dir on its command
# line (guards against a recycled PID). SIGTERM first, SIGKILL after 10 s.
#
# Usage: stop.sh <state-dir>
set -euo pipefail

log() { printf '[%s] stop.sh: %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }

[[ $# -eq 1 ]] || { echo "usage: $0 <state-dir>" >&2; exit 2; }
[[ -d "$1" ]] || { log "no state dir $1; nothing to stop"; exit 0; }
S=$(cd "$1" && pwd -P)

ours() { # pid -> true if alive and started for this state dir
  local pid=$1
  kill -0 "${pid}" 2>/dev/null || return 1
  [[ -r "/proc/${pid}/cmdline" ]] || return 0   # no /proc: trust the pid file
  tr '\0' ' ' < "/proc/${pid}/cmdline" | grep -qF -- "${S}/"
}

# Controller manager first, etcd last.
for name in kube-controller-manager kube-apiserver etcd; do
  f="${S}/${name}.pid"
  [[ -f "$f" ]] || continue
  pid=$(cat "$f")
  if [[ "${pid}" =~ ^[0-9]+$ ]] && ours "${pid}"; then
    log "stopping ${name} (pid ${pid})"
    kill -TERM "${pid}" 2>/dev/null || true
    for _ in $(seq 1 100); do
      kill -0 "${pid}" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "${pid}" 2>/dev/null; then
      log "${name} (pid ${pid}) ignored SIGTERM; sending SIGKILL"
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  else
    log "${name} (pid ${pid}) is not running (or no longer a process of this state dir)"
  fi
  rm -f "$f"
done
