#!/usr/bin/env bash
# CoreDNS for the stand-in k3s node: the real server and the plugins k3s's
# Corefile uses (coredns/main.go), built from github.com/coredns/coredns at
# COREDNS_VERSION into ~/.cache/openshell-ci/bin/coredns-<version>/coredns.
# Prints that directory. Cached like .ci/tools/build.sh's tools.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=../../tools/versions.env
source "$here/../../tools/versions.env"
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
export CGO_ENABLED=0 GOFLAGS="-trimpath" GOTOOLCHAIN=local
dest="$CACHE/bin/coredns-$COREDNS_VERSION"
log() { printf '[coredns] %s\n' "$*" >&2; }
mkdir -p "$CACHE/locks"
exec 9>"$CACHE/locks/coredns.lock"
flock 9
if [[ -f "$dest/.complete" ]]; then echo "$dest"; exit 0; fi
start=$SECONDS
work="$CACHE/src/coredns-$COREDNS_VERSION"
rm -rf "$dest" "$work"; mkdir -p "$dest" "$work"
cp "$here/coredns/main.go" "$work/"
printf 'module openshell.dev/tools/coredns\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$COREDNS_VERSION" >"$work/go.mod"
log "building coredns $COREDNS_VERSION"
(cd "$work" && go mod tidy >&2 && go build -ldflags="-s -w -X github.com/coredns/coredns/coremain.GitCommit=openshell-ci" -o "$dest/coredns" . >&2)
touch "$dest/.complete"
log "built coredns $COREDNS_VERSION in $((SECONDS - start))s"
echo "$dest"
