#!/usr/bin/env bash
# The sandbox image upstream's e2e tests run in, built locally (no container
# registry is reachable here; upstream's default sandbox image is a community
# image from one): the test bed's one Debian base (.ci/testbed/debian-base.sh,
# which already carries iproute2, util-linux and nftables: the supervisor's
# network setup runs ip, nsenter and nft in the sandbox pod) plus
#
#   python3                        tests run python3 in sandboxes (port_forward,
#                                  no_proxy, bypass_detection: echo servers and
#                                  probes)
#   a `sandbox` user (1000:1000)   the identity upstream's policy defaults name
#                                  (run_as_user/run_as_group "sandbox"; the
#                                  Kubernetes driver's default UID is 1000), home
#                                  /sandbox, the workspace the driver mounts
#
# tagged localhost/openshell-testbed/sandbox:<hash of the base and this recipe>.
#
# Usage: sandbox-image.sh    prints the image reference
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '[sandbox-image] %s\n' "$*" >&2; }

base="$(bash "$here/debian-base.sh")"
dockerfile="FROM $base
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends python3 && rm -rf /var/lib/apt/lists/*
RUN groupadd --gid 1000 sandbox && useradd --uid 1000 --gid 1000 --home-dir /sandbox --create-home --shell /bin/bash sandbox
WORKDIR /sandbox
CMD [\"/bin/bash\"]"
hash="$(printf '%s\n' "$dockerfile" | sha256sum | cut -c1-12)"
image="localhost/openshell-testbed/sandbox:bookworm-$hash"

if docker image inspect "$image" >/dev/null 2>&1; then echo "$image"; exit 0; fi
start=$SECONDS
printf '%s\n' "$dockerfile" | docker build -q -t "$image" - >/dev/null
log "built $image from $base in $((SECONDS - start))s"
echo "$image"
