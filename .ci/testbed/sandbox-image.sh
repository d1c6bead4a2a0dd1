#!/usr/bin/env bash
# The sandbox image upstream's e2e tests run in, built locally (no container
# registry is reachable here; upstream's default sandbox image is a community
# image from one): Debian from Debian's repositories with debootstrap,
# imported into the Docker engine as
# localhost/openshell-testbed/sandbox:bookworm-<hash>, the root filesystem
# tarball cached for the next run.
#
#   iproute2 util-linux nftables   the supervisor's network setup runs ip,
#                                  nsenter and nft in the sandbox pod
#   python3                        tests run python3 in sandboxes (port_forward,
#                                  no_proxy, bypass_detection: echo servers and
#                                  probes)
#   ca-certificates procps         TLS trust for the supervisor's proxy, ps
#   a `sandbox` user (1000:1000)   the identity upstream's policy defaults name
#                                  (run_as_user/run_as_group "sandbox"; the
#                                  Kubernetes driver's default UID is 1000), home
#                                  /sandbox, the workspace the driver mounts
#
# Usage: sandbox-image.sh    prints the image reference
set -euo pipefail
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
SUITE=bookworm
MIRROR="${OPENSHELL_TEST_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PACKAGES=ca-certificates,iproute2,nftables,procps,python3,util-linux
RECIPE=1 # bump when the steps below change

log() { printf '[sandbox-image] %s\n' "$*" >&2; }
hash="$(printf '%s %s %s\n' "$SUITE" "$PACKAGES" "$RECIPE" | sha256sum | cut -c1-12)"
image="localhost/openshell-testbed/sandbox:$SUITE-$hash"
tarball="$CACHE/images/sandbox-$SUITE-$hash.tar"

if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
mkdir -p "$CACHE/images" "$CACHE/locks"
exec 9>"$CACHE/locks/sandbox-image.lock"
flock 9
if [[ ! -f "$tarball" ]]; then
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap >&2; }
  start=$SECONDS
  root="$(mktemp -d "${TMPDIR:-/tmp}/sandbox-image.XXXXXX")"
  trap 'rm -rf "$root"' EXIT
  log "debootstrap $SUITE ($PACKAGES)"
  debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$root" "$MIRROR" >&2
  chroot "$root" groupadd --gid 1000 sandbox
  chroot "$root" useradd --uid 1000 --gid 1000 --home-dir /sandbox --create-home --shell /bin/bash sandbox
  rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
  tar -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  log "root filesystem built in $((SECONDS - start))s"
fi
docker import --change 'WORKDIR /sandbox' --change 'CMD ["/bin/bash"]' - "$image" <"$tarball" >/dev/null
log "imported $image"
echo "$image"
