#!/usr/bin/env bash
# Installs what hack/build-image.sh needs, from Debian's own packages: buildah (builds and runs
# images with chroot isolation: no daemon, no registry) and mmdebstrap (makes the base image's
# root file system). Does nothing when both are there.
# Exit status: 0 ready; 3 not possible here (not root, or no apt-get), with one line saying why.
set -euo pipefail
if command -v buildah >/dev/null 2>&1 && command -v mmdebstrap >/dev/null 2>&1; then
  exit 0
fi
if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
  echo "install-tools: buildah and mmdebstrap are missing and cannot be installed here (needs root and apt-get)" >&2
  exit 3
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends buildah mmdebstrap >/dev/null
echo "install-tools: installed buildah and mmdebstrap" >&2
