#!/usr/bin/env bash
# Builds (once) and caches a real kube-apiserver, kube-controller-manager and etcd
# from Debian bookworm's `kubernetes` source package (upstream v1.20.2) and Debian's
# `etcd-server` binary package. No Docker needed. Idempotent: if the binaries are
# already cached it prints "cached" and exits 0.
#
# Cache: ${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/k8s/v1.20.2/
#   kube-apiserver, kube-controller-manager, etcd   <- the cached binaries
#   work/                                           <- sources, private Debian prefix, GOPATH
#   gocache/                                        <- Go build cache (makes a rebuild fast)
#
# Needs root (enables deb-src and runs apt-get update), network access to the Debian
# archive configured in apt, ~4 GB disk and ~15 min of CPU on 2 cores for a cold build.
set -euo pipefail

K8S_VERSION=v1.20.2
K8S_MAJOR=1
K8S_MINOR=20
DEB_SRC_VERSION=1.20.5+really1.20.2-1.1+deb12u1
DEB_PKGS=(golang-1.19-go golang-1.19-src etcd-server golang-github-modern-go-reflect2-dev)
BINARIES=(kube-apiserver kube-controller-manager etcd)

CACHE_DIR="${STREAMHOUSE_CACHE:-$HOME/.cache/streamhouse}/k8s/${K8S_VERSION}"
WORK="${CACHE_DIR}/work"
PREFIX="${WORK}/prefix"          # private dpkg -x root (Go toolchain, etcd, reflect2)
DEBS="${WORK}/debs"
SRCPKG="${WORK}/srcpkg"
GOPATH_DIR="${WORK}/gopath"
GOCACHE_DIR="${CACHE_DIR}/gocache"
SOURCES_FILE=/etc/apt/sources.list.d/debian.sources

log() { printf '[%s] build.sh: %s\n' "$(date '+%Y-%m-%d %H:%M:%S')" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Bump when the recipe changes what the binaries do: a cache built by another recipe is rebuilt
# (quickly: the sources, the toolchain and Go's build cache are kept).
#   2: the upstream fix for empty strings in custom resources (see step 5b)
RECIPE=2

all_cached() {
  local b
  for b in "${BINARIES[@]}"; do
    [[ -x "${CACHE_DIR}/${b}" ]] || return 1
  done
  [[ "$(cat "${CACHE_DIR}/recipe" 2>/dev/null)" == "${RECIPE}" ]]
}

if all_cached; then
  echo "cached: ${CACHE_DIR}"
  exit 0
fi

mkdir -p "${CACHE_DIR}"
# One builder at a time; a second caller waits, then finds the binaries cached.
exec 9>"${CACHE_DIR}/.build.lock"
if ! flock -n 9; then
  log "another build holds ${CACHE_DIR}/.build.lock; waiting for it"
  flock 9
fi
if all_cached; then
  echo "cached: ${CACHE_DIR}"
  exit 0
fi

START_TS=$(date +%s)
log "build of Kubernetes ${K8S_VERSION} (recipe ${RECIPE}) into ${CACHE_DIR}"
mkdir -p "${WORK}" "${DEBS}" "${SRCPKG}" "${GOCACHE_DIR}"

SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "must run as root (or have sudo) to enable deb-src and run apt-get update"
  SUDO=(sudo)
fi

# --- 1. deb-src + apt-get update ----------------------------------------------------
if [[ -f "${SOURCES_FILE}" ]] && ! grep -qE '^Types:.*deb-src' "${SOURCES_FILE}"; then
  log "enabling deb-src in ${SOURCES_FILE}"
  "${SUDO[@]}" sed -i -E 's/^Types: deb$/Types: deb deb-src/' "${SOURCES_FILE}"
fi
log "apt-get update"
"${SUDO[@]}" apt-get update -qq

# --- 2. source package ---------------------------------------------------------------
ORIG_TGZ=$(ls "${SRCPKG}"/kubernetes_*.orig.tar.* 2>/dev/null | head -n1 || true)
if [[ -z "${ORIG_TGZ}" ]]; then
  log "apt-get source --download-only kubernetes=${DEB_SRC_VERSION}"
  (cd "${SRCPKG}" && apt-get source -qq --download-only "kubernetes=${DEB_SRC_VERSION}")
  ORIG_TGZ=$(ls "${SRCPKG}"/kubernetes_*.orig.tar.* | head -n1)
fi
SRC="${WORK}/kubernetes-1.20.2"
if [[ ! -f "${SRC}/.streamhouse-unpacked" ]]; then
  log "unpacking $(basename "${ORIG_TGZ}")"
  rm -rf "${SRC}" "${WORK}/unpack.tmp"
  mkdir -p "${WORK}/unpack.tmp"
  tar -xf "${ORIG_TGZ}" -C "${WORK}/unpack.tmp"
  top=$(find "${WORK}/unpack.tmp" -mindepth 1 -maxdepth 1 -type d | head -n1)
  [[ -f "${top}/cmd/kube-apiserver/apiserver.go" ]] || die "unexpected tarball layout: ${top}"
  mv "${top}" "${SRC}"
  rm -rf "${WORK}/unpack.tmp"
  touch "${SRC}/.streamhouse-unpacked"
fi

# --- 3. binary packages into a private prefix ----------------------------------------
if [[ ! -f "${PREFIX}/.streamhouse-extracted" ]]; then
  log "apt-get download ${DEB_PKGS[*]}"
  rm -f "${DEBS}"/*.deb
  (cd "${DEBS}" && apt-get download -qq "${DEB_PKGS[@]}")
  rm -rf "${PREFIX}"
  mkdir -p "${PREFIX}"
  for deb in "${DEBS}"/*.deb; do
    log "dpkg -x $(basename "${deb}")"
    dpkg -x "${deb}" "${PREFIX}"
  done
  touch "${PREFIX}/.streamhouse-extracted"
fi
export GOROOT="${PREFIX}/usr/lib/go-1.19"
GO="${GOROOT}/bin/go"
[[ -x "${GO}" ]] || die "no Go toolchain at ${GO}"
[[ -x "${PREFIX}/usr/bin/etcd" ]] || die "no etcd at ${PREFIX}/usr/bin/etcd"

# --- 4. GOPATH-mode environment -------------------------------------------------------
mkdir -p "${GOPATH_DIR}/src/k8s.io"
ln -sfn "${SRC}" "${GOPATH_DIR}/src/k8s.io/kubernetes"
export GOPATH="${GOPATH_DIR}" GOCACHE="${GOCACHE_DIR}" GO111MODULE=off GOPROXY=off \
       CGO_ENABLED=0 GOFLAGS= GOENV=off PATH="${GOROOT}/bin:${PATH}"
unset GOTOOLCHAIN GOBIN || true
log "using $("${GO}" version)"
cd "${GOPATH_DIR}/src/k8s.io/kubernetes"

# --- 5. vendored reflect2 1.0.1 -> Debian's 1.0.2 (1.0.1 crashes under Go 1.19) -------
R2_SRC="${PREFIX}/usr/share/gocode/src/github.com/modern-go/reflect2"
[[ -d "${R2_SRC}" ]] || die "no reflect2 sources at ${R2_SRC}"
if [[ ! -f vendor/github.com/modern-go/reflect2/.streamhouse-1.0.2 ]]; then
  log "replacing vendor/github.com/modern-go/reflect2 with Debian's 1.0.2"
  rm -rf vendor/github.com/modern-go/reflect2
  cp -rL "${R2_SRC}" vendor/github.com/modern-go/reflect2
  touch vendor/github.com/modern-go/reflect2/.streamhouse-1.0.2
fi

# --- 5b. empty strings in custom resources ---------------------------------------------
# The schema validator's type check asks whether a value equals its type's zero value by
# comparing two reflect.Value structs; that was never true before Go 1.16, and since Go 1.16 it is
# true for "" (reflect.Zero shares one zero buffer), so an empty string in a custom resource is
# refused as "must be of type string: null". Kubernetes 1.20 was built with Go 1.15 and accepted
# it; 1.21 took the upstream fix (kubernetes/kube-openapi#230, kubernetes/kubernetes#99804),
# which keeps only the nil check. Without it this server refuses what every real cluster accepts.
ZERO_CHECK='data == nil || reflect.DeepEqual(reflect.Zero(reflect.TypeOf(data)), reflect.ValueOf(data))'
for f in vendor/github.com/go-openapi/validate/type.go vendor/k8s.io/kube-openapi/pkg/validation/validate/type.go; do
  [[ -f "${f}" ]] || continue
  if grep -qF -- "${ZERO_CHECK}" "${f}"; then
    log "applying the upstream empty-string fix to ${f}"
    ZERO_CHECK="${ZERO_CHECK}" perl -pi -e 's/\Q$ENV{ZERO_CHECK}\E/data == nil/' "${f}"
    grep -qF -- "${ZERO_CHECK}" "${f}" && die "could not patch ${f}"
  fi
done

# --- 6. generate pkg/generated/openapi/zz_generated.openapi.go --------------------------
OPENAPI_OUT=pkg/generated/openapi/zz_generated.openapi.go
if [[ ! -s "${OPENAPI_OUT}" ]]; then
  log "building vendored openapi-gen"
  "${GO}" build -p 2 -o "${WORK}/openapi-gen" k8s.io/kubernetes/vendor/k8s.io/kube-openapi/cmd/openapi-gen
  log "collecting packages tagged +k8s:openapi-gen="
  mapfile -t dirs < <(
    find -L . \( -path ./staging -o -path ./_output -o -path ./.git \
                 -o -path ./vendor/k8s.io/code-generator -o -path ./vendor/k8s.io/sample-apiserver \) -prune \
         -o -type f -name '*.go' -print0 \
      | xargs -0 grep -l -- '+k8s:openapi-gen=' \
      | xargs -n1 dirname | sed 's#^\./##' | sort -u)
  (( ${#dirs[@]} > 20 )) || die "found only ${#dirs[@]} openapi-gen packages"
  log "found ${#dirs[@]} packages"
  pkgs=$(printf 'k8s.io/kubernetes/%s\n' "${dirs[@]}" | paste -sd, -)
  log "running openapi-gen"
  "${WORK}/openapi-gen" \
    -i "${pkgs}" \
    -p k8s.io/kubernetes/pkg/generated/openapi \
    -O zz_generated.openapi \
    -o "${GOPATH_DIR}/src" \
    -h vendor/k8s.io/code-generator/hack/boilerplate.go.txt \
    -r "${WORK}/openapi-violations.report"
  [[ -s "${OPENAPI_OUT}" ]] || die "openapi-gen did not write ${OPENAPI_OUT}"
fi

# --- 7. build --------------------------------------------------------------------------
LDFLAGS=""
for p in k8s.io/kubernetes/vendor/k8s.io/component-base/version \
         k8s.io/kubernetes/vendor/k8s.io/client-go/pkg/version; do
  LDFLAGS+=" -X ${p}.gitVersion=${K8S_VERSION} -X ${p}.gitMajor=${K8S_MAJOR} -X ${p}.gitMinor=${K8S_MINOR}"
done
OUT_TMP="${CACHE_DIR}/.out.tmp.$$"
rm -rf "${CACHE_DIR}"/.out.tmp.*
mkdir -p "${OUT_TMP}"
trap 'rm -rf "${OUT_TMP}"' EXIT
for cmd in kube-apiserver kube-controller-manager; do
  log "go build -p 2 k8s.io/kubernetes/cmd/${cmd} (slow on a cold cache)"
  t0=$(date +%s)
  "${GO}" build -p 2 -ldflags "${LDFLAGS}" -o "${OUT_TMP}/${cmd}" "k8s.io/kubernetes/cmd/${cmd}"
  log "built ${cmd} in $(( $(date +%s) - t0 )) s"
done
cp "${PREFIX}/usr/bin/etcd" "${OUT_TMP}/etcd"
chmod 0755 "${OUT_TMP}"/*

"${OUT_TMP}/kube-apiserver" --version | grep -q "${K8S_VERSION}" || die "kube-apiserver --version is not ${K8S_VERSION}"
"${OUT_TMP}/etcd" --version >/dev/null || die "etcd does not run"

# --- 8. move into place (each rename is atomic; kube-apiserver last) --------------------
for b in etcd kube-controller-manager kube-apiserver; do
  mv -f "${OUT_TMP}/${b}" "${CACHE_DIR}/${b}"
done

echo "${RECIPE}" > "${CACHE_DIR}/recipe"

log "done in $(( $(date +%s) - START_TS )) s"
log "disk usage:"
# separate du calls: one du call counts a nested directory only once
for d in "${CACHE_DIR}" "${WORK}" "${GOCACHE_DIR}" "${CACHE_DIR}"/kube-apiserver \
         "${CACHE_DIR}"/kube-controller-manager "${CACHE_DIR}"/etcd; do
  du -sh "${d}" >&2
done
echo "built: ${CACHE_DIR}"
