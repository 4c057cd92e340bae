#!/usr/bin/env bash
# Installs the CloudNativePG schema check (validate.mjs and its npm packages, pinned by
# package-lock.json) into the cache, once, and prints the directory that holds validate.mjs.
# Needs node and npm (Debian's nodejs/npm). Used by CnpgClusterExampleTest; by hand:
#   node "$(hack/cnpg-schema/install.sh)/validate.mjs" deploy/examples/postgres-ha-cloudnativepg.yaml
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec "$here/../lib/npm-tool.sh" "$here" cnpg-schema
