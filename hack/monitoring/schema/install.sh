#!/usr/bin/env bash
# Installs the prometheus-operator schema check (validate.mjs and its npm packages, pinned by
# package-lock.json) into the cache, once, and prints the directory that holds validate.mjs. The
# prometheus-operator's CRDs cannot be installed here; these are models generated from them.
# Used by MonitoringManifestsTest; by hand:
#   node "$(hack/monitoring/schema/install.sh)/validate.mjs" deploy/monitoring/prometheusrule.yaml deploy/monitoring/podmonitor.yaml
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../../lib/npm-tool.sh" "$here" prometheus-operator-schema
