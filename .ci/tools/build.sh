#!/usr/bin/env bash
# Build the test bed's tools from pinned Go modules into a per-version cache.
# Usage: build.sh [tool...]   (default: all). Prints the bin dir of each tool.
# A tool already in the cache is not rebuilt, so a warm run costs seconds.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
export CGO_ENABLED=0 GOFLAGS="-trimpath" GOTOOLCHAIN=local
mkdir -p "$CACHE/bin"

log() { printf '[tools] %s\n' "$*" >&2; }

# [EXTRA_LDFLAGS=...] go_install NAME VERSION MODULE [BIN=]PKG... : build inside a generated module
# that requires MODULE@VERSION. Unlike `go install pkg@version` this honours the
# tool's own `replace` and `exclude` directives (skaffold pins docker with them),
# copied from its go.mod except those pointing at local paths (etcd has such).
go_install() {
  local name="$1" version="$2" module="$3"; shift 3
  local dest="$CACHE/bin/$name-$version"
  if [[ -f "$dest/.complete" ]]; then echo "$dest"; return; fi
  log "building $name $version"
  local start=$SECONDS work="$CACHE/src/$name-$version"
  rm -rf "$dest" "$work"; mkdir -p "$dest" "$work"
  printf 'module openshell.dev/tools/%s\n\ngo 1.24\n' "$name" > "$work/go.mod"
  local gomod
  gomod="$(cd "$work" && go mod download -json "$module@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  [[ -f "$gomod" ]] || { log "cannot download $module@$version"; return 1; }
  directives "$gomod" >> "$work/go.mod"
  local spec pkgs=()
  for spec in "$@"; do pkgs+=("${spec#*=}@$version"); done
  (cd "$work" && go get "${pkgs[@]}" >&2)
  for spec in "$@"; do
    local bin="${spec%%=*}" pkg="${spec#*=}"
    [[ "$spec" == *=* ]] || bin="${pkg##*/}"
    (cd "$work" && go build -ldflags="-s -w ${EXTRA_LDFLAGS:-}" -o "$dest/$bin" "$pkg" >&2)
  done
  touch "$dest/.complete"
  log "built $name $version in $((SECONDS - start))s"
  echo "$dest"
}

# directives GOMOD: the replace and exclude directives of a go.mod, one per
# line, without those whose target is a local directory.
directives() {
  awk '
    function emit(kind, body) {
      if (kind == "replace" && body ~ /=>[ \t]*(\.|\/)/) return
      print kind " " body
    }
    /^[ \t]*(replace|exclude)[ \t]*\([ \t]*$/ { block = $1; next }
    block != "" && /^[ \t]*\)/ { block = ""; next }
    block != "" { sub(/\/\/.*/, ""); if ($0 ~ /[^ \t]/) { sub(/^[ \t]+/, ""); emit(block, $0) }; next }
    /^[ \t]*(replace|exclude)[ \t]/ { kind = $1; sub(/\/\/.*/, ""); sub(/^[ \t]*(replace|exclude)[ \t]+/, ""); emit(kind, $0) }
  ' "$1"
}

# kube VERSION: the control plane and kubectl. k8s.io/kubernetes needs `replace`
# lines for its staging modules, so it is built inside a generated module.
kube() {
  local version="$1" dest="$CACHE/bin/kube-$1"
  if [[ -f "$dest/.complete" ]]; then echo "$dest"; return; fi
  log "building kubernetes $version (kube-apiserver, kube-controller-manager, kube-scheduler, kubectl)"
  local start=$SECONDS work="$CACHE/src/kube-$version"
  rm -rf "$dest" "$work"; mkdir -p "$dest" "$work"
  local minor="v0.${version#v1.}"
  {
    echo "module openshell.dev/tools/kube"
    echo "go 1.24"
    echo "require k8s.io/kubernetes $version"
    echo "replace ("
    local m
    for m in api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider \
      cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api \
      cri-client csi-translation-lib dynamic-resource-allocation endpointslice externaljwt kms \
      kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl kubelet \
      metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin sample-controller \
      legacy-cloud-providers sample-apiserver; do
      echo "  k8s.io/$m => k8s.io/$m $minor"
    done
    echo ")"
  } > "$work/go.mod"
  cat > "$work/tools.go" <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
  # Drop replace lines for staging modules this release does not have.
  (cd "$work" && GOFLAGS=-mod=mod go mod download k8s.io/kubernetes >&2)
  local gomod; gomod="$(cd "$work" && go mod download -json "k8s.io/kubernetes@$version" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')"
  local keep
  keep="$(grep -oE '^\s*k8s.io/[a-z0-9-]+ => ./staging' "$gomod" | awk '{print $1}' | sort -u)"
  awk -v keep="$keep" 'BEGIN{n=split(keep,k,"\n"); for(i=1;i<=n;i++) ok[k[i]]=1}
    /=>/ { if (!($1 in ok)) next } { print }' "$work/go.mod" > "$work/go.mod.new" && mv "$work/go.mod.new" "$work/go.mod"
  (cd "$work" && go mod tidy -e >&2 2>&1 | tail -5 >&2 || true)
  # Stamp /version as a release build does: gitVersion, and major/minor, which
  # clients parse (an unstamped build reports minor "" and breaks them).
  local major="${version#v}"; major="${major%%.*}"
  local minor="${version#v*.}"; minor="${minor%%.*}"
  local pkg ldflags="-s -w -checklinkname=0"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean"
  done
  local cmd
  for cmd in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
    (cd "$work" && go build -ldflags="$ldflags" -o "$dest/$cmd" "k8s.io/kubernetes/cmd/$cmd" >&2)
    log "  $cmd done ($((SECONDS - start))s)"
  done
  touch "$dest/.complete"
  log "built kubernetes $version in $((SECONDS - start))s"
  echo "$dest"
}

build_one() {
  case "$1" in
    kube-new) kube "$KUBE_NEW_VERSION" ;;
    kube-old) kube "$KUBE_OLD_VERSION" ;;
    etcd) go_install etcd "$ETCD_VERSION" go.etcd.io/etcd/server/v3 etcd=go.etcd.io/etcd/server/v3 ;;
    kwok) go_install kwok "$KWOK_VERSION" sigs.k8s.io/kwok sigs.k8s.io/kwok/cmd/kwok sigs.k8s.io/kwok/cmd/kwokctl ;;
    helm) EXTRA_LDFLAGS="-X helm.sh/helm/v4/internal/version.version=$HELM_VERSION" go_install helm "$HELM_VERSION" helm.sh/helm/v4 helm.sh/helm/v4/cmd/helm ;;
    skaffold) EXTRA_LDFLAGS="-X github.com/GoogleContainerTools/skaffold/v2/pkg/skaffold/version.version=$SKAFFOLD_VERSION" go_install skaffold "$SKAFFOLD_VERSION" github.com/GoogleContainerTools/skaffold/v2 github.com/GoogleContainerTools/skaffold/v2/cmd/skaffold ;;
    k3d) EXTRA_LDFLAGS="-X github.com/k3d-io/k3d/v5/version.Version=$K3D_VERSION -X github.com/k3d-io/k3d/v5/version.K3sVersion=v1.35.1-k3s1" go_install k3d "$K3D_VERSION" github.com/k3d-io/k3d/v5 k3d=github.com/k3d-io/k3d/v5 ;;
    *) log "unknown tool: $1 (known: kube-new kube-old etcd kwok helm skaffold k3d)"; return 2 ;;
  esac
}

tools=("$@")
[[ ${#tools[@]} -gt 0 ]] || tools=(helm etcd kwok kube-new kube-old skaffold)
# One build per tool at a time: a concurrent run waits, then finds it cached.
mkdir -p "$CACHE/locks"
for t in "${tools[@]}"; do
  (flock 9; build_one "$t") 9>"$CACHE/locks/$t.lock"
done
