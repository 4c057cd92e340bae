#!/usr/bin/env bash
# Installs a test tool made of npm packages into the cache, once per change of its files, and
# prints the cache directory. Usage: hack/lib/npm-tool.sh SOURCE_DIR CACHE_NAME
# SOURCE_DIR holds package.json, package-lock.json (npm ci installs exactly its versions, checked
# against its integrity hashes) and the tool's .mjs files, copied next to node_modules.
# Needs node and npm (Debian's nodejs/npm).
set -euo pipefail
src="$(cd "$1" && pwd)"
name="$2"
dir="${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/$name"
for tool in node npm; do
  command -v "$tool" >/dev/null || { echo "$name: $tool not found (apt-get install nodejs npm)" >&2; exit 2; }
done
stamp="$(cat "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)"
mkdir -p "$dir"
exec 9>"$dir/.lock"
flock 9
if [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$stamp" ] || [ ! -d "$dir/node_modules" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  rm -rf "$dir/node_modules"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  echo "$stamp" > "$dir/.stamp"
fi
cp "$src"/*.mjs "$dir/"
echo "$dir"
