#!/usr/bin/env bash
# Builds the operator image where no image registry is reachable: the base (a JRE 17 on Debian)
# is made from Debian's own packages with mmdebstrap, from this machine's apt sources, and
# cached; then src/main/docker/Containerfile is built on it with buildah (chroot isolation: no
# daemon). Run `mvn -B package` first (the image copies target/quarkus-app).
#
# Usage: hack/build-image.sh [image, default streamhouse/lease-operator:<project version>]
# Prints the image name as the last line. Env: STREAMHOUSE_CACHE (default ~/.cache/streamhouse)
# holds the base's root file system; STORAGE_DRIVER is passed to buildah (default vfs, which
# works everywhere; overlay is faster where the kernel allows it).
set -euo pipefail
cd "$(dirname "$0")/.."
log() { printf '[%s] build-image: %s\n' "$(date '+%H:%M:%S')" "$*" >&2; }

version=$(sed -n 's:^  <version>\(.*\)</version>:\1:p' pom.xml | head -1)
image="${1:-streamhouse/lease-operator:$version}"
base="localhost/streamhouse-base-jre:17-bookworm"
cache="${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/image"
export STORAGE_DRIVER="${STORAGE_DRIVER:-vfs}"

[[ -f target/quarkus-app/quarkus-run.jar ]] || { log "target/quarkus-app is missing: run mvn -B package first"; exit 2; }
bash hack/image/install-tools.sh

if ! buildah inspect --type image "$base" >/dev/null 2>&1; then
  mkdir -p "$cache"
  rootfs="$cache/base-bookworm-jre17.tar"
  if [[ ! -s "$rootfs" ]]; then
    # The apt sources of this machine (Debian's own mirrors, whatever they are here).
    sources=/etc/apt/sources.list.d/debian.sources
    [[ -f "$sources" ]] || sources=/etc/apt/sources.list
    log "making the base from Debian packages (bookworm, openjdk-17-jre-headless; about a minute, once)"
    mmdebstrap --quiet --variant=minbase --include=openjdk-17-jre-headless,ca-certificates \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      bookworm "$rootfs.tmp" "$sources"
    mv "$rootfs.tmp" "$rootfs"
  fi
  log "importing the base as $base"
  ctr=$(buildah from scratch)
  buildah add "$ctr" "$rootfs" / >/dev/null
  buildah config --env JAVA_HOME=/usr/lib/jvm/java-17-openjdk-amd64 "$ctr"
  buildah commit --quiet "$ctr" "$base" >/dev/null
  buildah rm "$ctr" >/dev/null
fi

log "building $image on $base"
buildah build --quiet --isolation chroot --build-arg BASE_IMAGE="$base" \
  -f src/main/docker/Containerfile -t "$image" . >/dev/null
echo "$image"
