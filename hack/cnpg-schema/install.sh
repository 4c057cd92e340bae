#!/usr/bin/env bash
# Installs the CloudNativePG schema check (validate.mjs and its npm packages, pinned by
# package-lock.json) into the cache, once, and prints the directory that holds validate.mjs.
# Needs node and npm (Debian's nodejs/npm). Used by CnpgClusterExampleTest; by hand:
#   node "$(hack/cnpg-schema/install.sh)/validate.mjs" deploy/examples/postgres-ha-cloudnativepg.yaml
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/cnpg-schema"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "cnpg-schema: $tool not found (apt-get install nodejs npm)" >&2; exit 2; }
done
stamp="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -d "$dir/node_modules" ]; then
  cp "$here/package.json" "$here/package-lock.json" "$dir/"
  rm -rf "$dir/node_modules"
  # npm ci installs exactly the lock file's versions, checked against its integrity hashes.
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" > "$dir/.stamp"
fi
cp "$here/validate.mjs" "$dir/"
echo "$dir"
