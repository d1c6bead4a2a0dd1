#!/usr/bin/env bash
# What the test bed's real node (test/bed/realnode.ts) needs besides binaries,
# built once and cached, pushed to the test bed's registry:
#   pause image            pause.c from the k8s.io/kubernetes module zip, gcc -static, FROM scratch, USER 65535
#   agent-sandbox image    the controller binary from `build.sh agent-sandbox`, FROM scratch
#   agent-sandbox manifest the module's k8s/ kustomization (CRDs + controller + extensions),
#                          rendered with kubectl kustomize, image pointed at the registry
# Prints the exports for .ci/run (KEY=VALUE, one a line):
#   OPENSHELL_TEST_PAUSE_IMAGE, OPENSHELL_TEST_AGENT_SANDBOX_IMAGE, OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST
#
# Usage: realnode.sh KUBE_BIN_DIR AGENT_SANDBOX_BIN_DIR   (registry: $OPENSHELL_TEST_REGISTRY, default localhost:5000)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../tools/versions.env
source "$here/../tools/versions.env"
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
REGISTRY="${OPENSHELL_TEST_REGISTRY:-localhost:5000}"
kube_bin="${1:?usage: realnode.sh KUBE_BIN_DIR AGENT_SANDBOX_BIN_DIR}"
as_bin="${2:?usage: realnode.sh KUBE_BIN_DIR AGENT_SANDBOX_BIN_DIR}"
export GOFLAGS="-mod=mod" GOTOOLCHAIN=local

log() { printf '[realnode] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

mkdir -p "$CACHE/locks" "$CACHE/testbed"
exec 9>"$CACHE/locks/realnode-images.lock"
flock 9

# in_registry REPO TAG: the registry already holds it.
in_registry() {
  curl -fs -o /dev/null --max-time 5 -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$REGISTRY/v2/$1/manifests/$2"
}

# module_dir MODULE@VERSION: its directory in the Go module cache (downloaded if absent).
module_dir() {
  local dir
  dir="$(cd "$CACHE" && go mod download -json "$1" | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')"
  [[ -d "$dir" ]] || die "cannot download the Go module $1"
  echo "$dir"
}

# build_push REPO TAG CONTEXT: docker build FROM-scratch context, push to the registry.
build_push() {
  local ref="$REGISTRY/$1:$2"
  local out
  out="$(docker build -q -t "$ref" "$3" 2>&1)" || die "docker build $ref failed: $out"
  out="$(docker push -q "$ref" 2>&1)" || die "docker push $ref failed (is the registry at $REGISTRY up?): $out"
  log "pushed $ref"
}

# --- the pause image -------------------------------------------------------------
kdir="$(module_dir "k8s.io/kubernetes@$KUBE_NEW_VERSION")"
pause_c="$kdir/build/pause/linux/pause.c"
[[ -f "$pause_c" ]] || die "$pause_c is missing from k8s.io/kubernetes@$KUBE_NEW_VERSION"
pause_tag="$KUBE_NEW_VERSION-$(sha256sum "$pause_c" | cut -c1-12)"
pause_repo=openshell-testbed/pause
if in_registry "$pause_repo" "$pause_tag"; then
  log "pause image cached: $REGISTRY/$pause_repo:$pause_tag"
else
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  # The version string pause prints with -v; kubernetes' Makefile passes it the same way.
  gcc -Os -Wall -Werror -static -DVERSION="\"$KUBE_NEW_VERSION-openshell-testbed\"" -o "$ctx/pause" "$pause_c" || die "gcc -static pause.c failed (needs gcc and libc6-dev)"
  strip "$ctx/pause"
  printf 'FROM scratch\nCOPY pause /pause\nUSER 65535:65535\nENTRYPOINT ["/pause"]\n' >"$ctx/Dockerfile"
  build_push "$pause_repo" "$pause_tag" "$ctx"
  rm -rf "$ctx"
  trap - EXIT
fi

# --- the agent-sandbox controller image ------------------------------------------
controller="$as_bin/agent-sandbox-controller"
[[ -x "$controller" ]] || die "$controller is missing: .ci/tools/build.sh agent-sandbox builds it"
file -L "$controller" | grep -q 'statically linked' || die "$controller is not static: it cannot run in a FROM scratch image"
# The controller writes its webhook serving certificates under /tmp, as its own user.
as_dockerfile='FROM scratch
COPY --chown=65532:65532 tmp /tmp
COPY agent-sandbox-controller /agent-sandbox-controller
USER 65532:65532
ENTRYPOINT ["/agent-sandbox-controller"]'
as_tag="$AGENT_SANDBOX_VERSION-$( (cat "$controller"; echo "$as_dockerfile") | sha256sum | cut -c1-12)"
as_repo=openshell-testbed/agent-sandbox-controller
if in_registry "$as_repo" "$as_tag"; then
  log "agent-sandbox controller image cached: $REGISTRY/$as_repo:$as_tag"
else
  ctx="$(mktemp -d)"
  trap 'rm -rf "$ctx"' EXIT
  cp "$controller" "$ctx/agent-sandbox-controller"
  mkdir -p "$ctx/tmp"
  echo "$as_dockerfile" >"$ctx/Dockerfile"
  build_push "$as_repo" "$as_tag" "$ctx"
  rm -rf "$ctx"
  trap - EXIT
fi

# --- the agent-sandbox manifest ----------------------------------------------------
# Pods pull from the registry under the kit's in-cluster name (openshell-registry:5000
# maps to it on the real node); the manifest names it as the host pushes it.
image="$REGISTRY/$as_repo:$as_tag"
manifest="$CACHE/testbed/agent-sandbox-$as_tag.yaml"
if [[ ! -s "$manifest" ]]; then
  asdir="$(module_dir "sigs.k8s.io/agent-sandbox@$AGENT_SANDBOX_VERSION")"
  [[ -f "$asdir/k8s/kustomization.yaml" ]] || die "$asdir/k8s/kustomization.yaml is missing"
  # The module cache is read-only: render from a copy (kustomize writes nothing, but be safe).
  work="$(mktemp -d)"
  cp -r "$asdir/k8s" "$work/k8s" && chmod -R u+w "$work/k8s"
  "$kube_bin/kubectl" kustomize "$work/k8s" >"$work/rendered.yaml" || die "kubectl kustomize $asdir/k8s failed"
  grep -q 'ko://sigs.k8s.io/agent-sandbox/cmd/agent-sandbox-controller' "$work/rendered.yaml" || die "the rendered manifest has no ko:// controller image to replace"
  {
    echo "# agent-sandbox $AGENT_SANDBOX_VERSION: sigs.k8s.io/agent-sandbox@$AGENT_SANDBOX_VERSION k8s/ (kustomization: CRDs, controller, extensions),"
    echo "# rendered by .ci/testbed/realnode.sh with the controller image built from the module: $image"
    sed "s#ko://sigs.k8s.io/agent-sandbox/cmd/agent-sandbox-controller#$image#" "$work/rendered.yaml"
  } >"$manifest.tmp"
  mv "$manifest.tmp" "$manifest"
  rm -rf "$work"
  log "wrote $manifest"
fi

echo "OPENSHELL_TEST_PAUSE_IMAGE=$REGISTRY/$pause_repo:$pause_tag"
echo "OPENSHELL_TEST_AGENT_SANDBOX_IMAGE=$image"
echo "OPENSHELL_TEST_AGENT_SANDBOX_MANIFEST=$manifest"
