#!/usr/bin/env bash
# Build the test bed's stand-ins for the images k3d needs and this machine
# cannot pull, cached by the content hash of their inputs:
#
#   node      OPENSHELL_DEV_K3S_IMAGE   the stand-in k3s node: the real Kubernetes
#                                       v$KUBE_NEW_VERSION components, etcd, containerd,
#                                       runc, CNI plugins, CoreDNS, a pause image,
#                                       started by node/k3s (a script, not k3s)
#   tools     K3D_IMAGE_TOOLS           tools/main.go (k3d-tools' noop and save-image)
#   proxy     K3D_IMAGE_LOADBALANCER    Debian's nginx, configured from k3d's values.yaml
#   registry  OPENSHELL_DEV_REGISTRY_IMAGE  Debian's docker-registry as registry:2
#
# All FROM the test bed's Debian base (.ci/testbed/debian-base.sh); the Go
# tools come from .ci/tools/build.sh (kube-new, etcd, containerd, runc, cni)
# and build-coredns.sh; pause from pause.c in the k8s.io/kubernetes module,
# with gcc -static; nginx from Debian's repositories (apt-get download).
#
# Usage: build.sh     prints the four images as shell assignments:
#   OPENSHELL_TEST_K3S_STANDIN_IMAGE=… K3D_IMAGE_TOOLS=… K3D_IMAGE_LOADBALANCER=… OPENSHELL_TEST_K3D_REGISTRY_IMAGE=…
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ci="$(cd "$here/../.." && pwd)"
# shellcheck source=../../tools/versions.env
source "$ci/tools/versions.env"
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
export OPENSHELL_TOOLS_CACHE="$CACHE" GOTOOLCHAIN=local GOFLAGS=-trimpath
REPO=localhost/openshell-testbed
NGINX_DEBS=(nginx nginx-common libnginx-mod-stream)
PAUSE_TAG=localhost/k3s-standin/pause:3.10
COREDNS_TAG="localhost/k3s-standin/coredns:$COREDNS_VERSION"
log() { printf '[k3d-standin] %s\n' "$*" >&2; }
start=$SECONDS

mkdir -p "$CACHE/locks"
exec 8>"$CACHE/locks/k3d-standin.lock"
flock 8

# --- inputs ------------------------------------------------------------------------
base="$(bash "$ci/testbed/debian-base.sh")"
declare -A dir
for t in kube-new etcd containerd runc cni; do
  dir[$t]="$(bash "$ci/tools/build.sh" "$t")" || { log "building $t failed"; exit 1; }
done
dir[coredns]="$(bash "$here/build-coredns.sh")"

# pause: the k8s.io/kubernetes module's own pause.c, static.
pause_dir="$CACHE/bin/pause-$KUBE_NEW_VERSION"
if [[ ! -f "$pause_dir/.complete" ]]; then
  k8s="$(cd "$(mktemp -d)" && go mod download -json "k8s.io/kubernetes@$KUBE_NEW_VERSION" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [[ -f "$k8s/build/pause/linux/pause.c" ]] || { log "no build/pause/linux/pause.c in k8s.io/kubernetes@$KUBE_NEW_VERSION"; exit 1; }
  mkdir -p "$pause_dir"
  gcc -Os -static -DVERSION="$KUBE_NEW_VERSION-openshell-ci" -o "$pause_dir/pause" "$k8s/build/pause/linux/pause.c"
  strip "$pause_dir/pause"
  touch "$pause_dir/.complete"
fi

# nginx and its stream module, from Debian's repositories.
debs="$CACHE/debs/nginx"
if ! ls "$debs"/nginx_*.deb >/dev/null 2>&1; then
  log "downloading ${NGINX_DEBS[*]} from Debian"
  rm -rf "$debs.tmp" && mkdir -p "$debs.tmp" && chmod 777 "$debs.tmp"
  fetch() { (cd "$debs.tmp" && apt-get download -q "${NGINX_DEBS[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" >&2; ls nginx_*.deb >/dev/null 2>&1); }
  fetch || { apt-get update -qq >&2 && fetch; } || { log "apt-get download ${NGINX_DEBS[*]} failed"; exit 1; }
  rm -rf "$debs" && mv "$debs.tmp" "$debs"
fi

# k3d-tools stand-in.
tools_src_hash="$(cat "$here/tools/main.go" | sha256sum | cut -c1-12)"
tools_bin="$CACHE/bin/k3d-tools-standin-$tools_src_hash/k3d-tools"
if [[ ! -x "$tools_bin" ]]; then
  work="$(mktemp -d)"
  cp "$here/tools/main.go" "$work/" && printf 'module openshell.dev/k3d-tools\n\ngo 1.24\n' >"$work/go.mod"
  mkdir -p "$(dirname "$tools_bin")"
  (cd "$work" && CGO_ENABLED=0 go build -ldflags='-s -w' -o "$tools_bin" .)
  rm -rf "$work"
fi

NODE_BINS=("${dir[kube-new]}"/{kube-apiserver,kube-controller-manager,kube-scheduler,kubectl,kubelet,kube-proxy}
  "${dir[etcd]}/etcd" "${dir[containerd]}"/{containerd,containerd-shim-runc-v2,ctr} "${dir[runc]}/runc")
CNI_BINS=("${dir[cni]}"/{bridge,host-local,loopback,portmap,firewall})

# --- the content hash -------------------------------------------------------------------
# Binaries by name, size and modification time (a rebuilt tool changes them);
# everything else by content.
hash="$( {
  docker image inspect -f '{{.Id}}' "$base"
  stat -c '%n %s %Y' "${NODE_BINS[@]}" "${CNI_BINS[@]}" "${dir[coredns]}/coredns" "$pause_dir/pause" "$tools_bin" "$debs"/*.deb
  cd "$here" && find . -type f ! -name '*.md' -print0 | sort -z | xargs -0 sha256sum
} | sha256sum | cut -c1-12)"
node_img="$REPO/k3s:$KUBE_NEW_VERSION-standin-$hash"
tools_img="$REPO/k3d-tools:standin-$hash"
proxy_img="$REPO/k3d-proxy:standin-$hash"
registry_img="$REPO/registry:2-debian-$hash"

emit() {
  echo "OPENSHELL_TEST_K3S_STANDIN_IMAGE=$node_img K3D_IMAGE_TOOLS=$tools_img K3D_IMAGE_LOADBALANCER=$proxy_img OPENSHELL_TEST_K3D_REGISTRY_IMAGE=$registry_img"
}
if docker image inspect "$node_img" "$tools_img" "$proxy_img" "$registry_img" >/dev/null 2>&1; then
  emit
  exit 0
fi

# --- build -----------------------------------------------------------------------------
ctx="$(mktemp -d "${TMPDIR:-/tmp}/k3d-standin.XXXXXX")"
trap 'rm -rf "$ctx"' EXIT
build() { # build TAG DIR [ARGS...]
  local tag="$1" d="$2"; shift 2
  DOCKER_BUILDKIT=0 docker build --build-arg BASE="$base" "$@" -t "$tag" "$d" >"$ctx/build.log" 2>&1 || { tail -20 "$ctx/build.log" >&2; log "docker build $tag failed"; exit 1; }
  log "built $tag"
}
small() { # small TAG BINARY ENTRYPOINT [USER]: a FROM scratch image holding one static binary
  local d="$ctx/$(basename "$3")"
  mkdir -p "$d" && cp "$2" "$d/"
  { echo 'FROM scratch'; echo "COPY $(basename "$2") $3"; [[ -n "${4:-}" ]] && echo "USER $4"; echo "ENTRYPOINT [\"$3\"]"; } >"$d/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -t "$1" "$d" >"$ctx/build.log" 2>&1 || { tail -20 "$ctx/build.log" >&2; log "docker build $1 failed"; exit 1; }
}

# The node: its images (pause, CoreDNS) saved as tarballs, as k3s's airgap bundle.
mkdir -p "$ctx/node/bin" "$ctx/node/cni" "$ctx/node/images"
cp "$here"/node/{Dockerfile,k3s,coredns.yaml} "$ctx/node/"
cp "${NODE_BINS[@]}" "$ctx/node/bin/"
cp "${CNI_BINS[@]}" "$ctx/node/cni/"
small "$PAUSE_TAG" "$pause_dir/pause" /pause 65535:65535
small "$COREDNS_TAG" "${dir[coredns]}/coredns" /coredns
docker save -o "$ctx/node/images/pause.tar" "$PAUSE_TAG"
docker save -o "$ctx/node/images/coredns.tar" "$COREDNS_TAG"
docker image rm "$PAUSE_TAG" "$COREDNS_TAG" >/dev/null
build "$node_img" "$ctx/node" --build-arg COREDNS_IMAGE="$COREDNS_TAG" --build-arg PAUSE_IMAGE="$PAUSE_TAG"

mkdir -p "$ctx/tools" && cp "$here/tools/Dockerfile" "$tools_bin" "$ctx/tools/"
build "$tools_img" "$ctx/tools"
mkdir -p "$ctx/proxy/debs" && cp "$here"/proxy/{Dockerfile,nginx-proxy} "$ctx/proxy/" && cp "$debs"/*.deb "$ctx/proxy/debs/"
build "$proxy_img" "$ctx/proxy"
build "$registry_img" "$here/registry"

# Earlier builds of these images (other hashes) are only cache weight.
for repo in k3s k3d-tools k3d-proxy registry; do
  for old in $(docker image ls "$REPO/$repo" --format '{{.Repository}}:{{.Tag}}'); do
    [[ "$old" =~ -[0-9a-f]{12}$ && "$old" != *"-$hash" ]] && { docker image rm "$old" >/dev/null 2>&1 || true; }
  done
done
log "built the stand-in images in $((SECONDS - start))s"
emit

