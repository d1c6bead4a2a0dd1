#!/usr/bin/env bash
# The test bed's one Debian base image, built from Debian's repositories with
# debootstrap (no container registry is reachable here), imported into the
# Docker engine as localhost/openshell-testbed/debian:bookworm-<hash>, and the
# root filesystem tarball cached for the next run.
#
# One base for every test-bed image keeps the cache small and the build single:
#   iptables kmod mount procps      the stand-in k3s node (kubelet, kube-proxy)
#   iproute2 util-linux nftables    sandbox images (the supervisor's network
#                                   setup runs ip, nsenter and nft)
#   libz3-4 (libstdc++6, libgcc-s1) the dynamically linked openshell-gateway
#   ca-certificates openssl         TLS in the gateway and the node stand-in
#   docker-registry                 the stand-in registry image for k3d
#
# Usage: debian-base.sh      prints the image reference
set -euo pipefail
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
SUITE=bookworm
MIRROR="${OPENSHELL_TEST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=ca-certificates,docker-registry,iproute2,iptables,kmod,libz3-4,mount,nftables,openssl,procps,util-linux

log() { printf '[debian-base] %s\n' "$*" >&2; }
hash="$(printf '%s %s %s\n' "$SUITE" "$PACKAGES" 1 | sha256sum | cut -c1-12)"
image="localhost/openshell-testbed/debian:$SUITE-$hash"
tarball="$CACHE/images/debian-$SUITE-$hash.tar"

if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
mkdir -p "$CACHE/images" "$CACHE/locks"
exec 9>"$CACHE/locks/debian-base.lock"
flock 9
if [[ ! -f "$tarball" ]]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >&2; }
  start=$SECONDS
  root="$(mktemp -d "${TMPDIR:-/tmp}/debian-base.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  log "debootstrap $SUITE ($PACKAGES)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >&2
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  log "root filesystem built in $((SECONDS - start))s"
fi
docker import - "$image" <"$tarball" >/dev/null
log "imported $image"
echo "$image"
