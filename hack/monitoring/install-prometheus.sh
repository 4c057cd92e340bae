#!/usr/bin/env bash
# Installs Debian's prometheus package, which brings `prometheus` and `promtool` (the rules checks
# and their unit tests, and the Prometheus the monitoring tests run). Does nothing when both are
# there. The package's own service is not started (policy-rc.d), so nothing keeps running.
# Exit status: 0 ready; 3 not possible here (not root, or no apt-get), with one line saying why.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-prometheus: promtool is missing and cannot be installed here (needs root and apt-get)" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
policy=/usr/sbin/policy-rc.d
created=
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod +x "$policy" && created=1
fi
trap '[[ -n $created ]] && rm -f "$policy"' EXIT
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends prometheus >/dev/null
echo "install-prometheus: installed prometheus and promtool" >&2
