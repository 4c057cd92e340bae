#!/usr/bin/env bash
# Renders the release manifest of one version: the CRDs the build generated, then the install
# (deploy/ through kustomize: namespace, RBAC, operator Deployment, PodDisruptionBudget). No
# examples, no Secret values. `mvn package` runs it; the README's install section applies its
# output:  kubectl apply --server-side -f target/release/streamhouse-lease-operator-<version>.yaml
# Usage: hack/render-release.sh <version> <crd-dir> <out-dir>
set -euo pipefail
cd "$(dirname "$0")/.."
version="$1"
crds="$2"
out="$3"
if ! command -v kubectl >/dev/null 2>&1; then
  echo "render-release: kubectl is not on PATH: the release manifest ($out) was not rendered" >&2
  exit 0
fi
mkdir -p "$out"
file="$out/streamhouse-lease-operator-$version.yaml"
# deploy/ as it is, with the image tagged with this version (deploy/kustomization.yaml names the
# last release, for `kubectl apply -k deploy/`).
overlay="$out/overlay"
mkdir -p "$overlay"
cat > "$overlay/kustomization.yaml" <<YAML
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - $(realpath --relative-to="$overlay" deploy)
images:
  - name: streamhouse/lease-operator   # as deploy/kustomization.yaml renames it
    newTag: "$version"
YAML
{
  echo "# StreamHouse lease operator $version: the CRDs, then namespace streamhouse, RBAC, the operator"
  echo "# Deployment (image streamhouse/lease-operator:$version) and its PodDisruptionBudget."
  echo "# Create the Secret streamhouse-db first (deploy/examples/database-secret.yaml), then:"
  echo "#   kubectl apply --server-side -f streamhouse-lease-operator-$version.yaml"
  for crd in "$crds"/*.yml; do
    echo "---"
    cat "$crd"
  done
  echo "---"
  kubectl kustomize "$overlay"
} > "$file.tmp"
mv "$file.tmp" "$file"
echo "render-release: $file"
