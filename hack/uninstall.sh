#!/usr/bin/env bash
# Removes StreamHouse from the cluster KUBECONFIG points at, in the order that leaves nothing
# stuck (README "Uninstall"). PartitionLeases, StreamTopics and StreamAgents carry finalizers that
# only the operator removes, after giving their partitions back in PostgreSQL; so they go first,
# while the operator still runs, and the operator, its RBAC and the CRDs after them.
#
# Usage: hack/uninstall.sh <release-manifest.yaml> [wait, default 120s]
# If the operator is already gone, step 1 waits in vain: after <wait> the finalizers are removed
# by hand. Those partitions are then not released in the database: each stays with its holder
# until that agent's session ends or expires, and the rows (with their epochs) stay either way.
set -euo pipefail
release="${1:?usage: $0 <release-manifest.yaml> [wait]}"
wait="${2:-120s}"
[[ -f "$release" ]] || { echo "uninstall: no such file: $release" >&2; exit 2; }

say() { printf 'uninstall: %s\n' "$*" >&2; }

# Removes the finalizers of every remaining object of these kinds, in every namespace.
unblock() {
  local kind ns name
  for kind in "$@"; do
    kubectl get "$kind" --all-namespaces --ignore-not-found \
        -o jsonpath='{range .items[*]}{.metadata.namespace}{" "}{.metadata.name}{"\n"}{end}' |
      while read -r ns name; do
        [[ -n "$name" ]] || continue
        kubectl -n "$ns" patch "$kind" "$name" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null
        say "removed the finalizer of $kind $ns/$name"
      done
  done
}

# 1. Leases first, while the operator runs: each is released in PostgreSQL (history records it).
say "1/4 deleting StreamTopics and PartitionLeases (the operator releases their partitions)"
if ! kubectl delete streamtopics,partitionleases --all --all-namespaces --wait --timeout="$wait"; then
  say "not gone after $wait: is the operator running? Removing their finalizers; their partitions are not released in the database"
  unblock streamtopics partitionleases
fi

# 2. The operator: from here nothing recreates StreamAgents for agent pods.
say "2/4 stopping the operator"
kubectl -n streamhouse delete deployment streamhouse-lease-operator --ignore-not-found --wait --timeout="$wait"

# 3. StreamAgents: their finalizer ends the agent's session, which only the operator does; it is
#    gone, so the finalizers go by hand (sessions kept by the operator expire on their own).
say "3/4 deleting StreamAgents"
unblock streamagents
kubectl delete streamagents --all --all-namespaces --ignore-not-found --wait --timeout="$wait"

# 4. Everything the release installed, the CRDs included (nothing of them is left to block it).
say "4/4 deleting the release: RBAC, namespace streamhouse, CRDs"
kubectl delete -f "$release" --ignore-not-found --wait --timeout="$wait"
say "done. The database keeps its tables (rows, epochs, history): drop them as their owner if you no longer need them"
