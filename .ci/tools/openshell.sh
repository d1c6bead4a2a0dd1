#!/usr/bin/env bash
# Build the real OpenShell binaries the tests run, from the upstream source in
# ../shared/openshell, into a cache keyed by the source's content hash.
#
#   openshell-gateway   package openshell-server (host target, dynamic: glibc, libz3)
#   openshell           package openshell-cli (creates sandboxes through the gateway)
#   openshell-sandbox   package openshell-sandbox, static (+crt-static on the gnu
#                       target: the musl standard library cannot be had here), as
#                       upstream's staging script requires of a supervisor. Only the
#                       final link gets +crt-static (`cargo rustc -- ...`): the crates
#                       it shares with the gateway are compiled once, for both (a
#                       RUSTFLAGS build recompiled all of them: 517 s more, cold)
#
# Profile: dev without debug info (the tests need working binaries, not fast or
# debuggable ones; debug info doubles link time and size). The source is copied
# to a work tree first (cargo writes target/; shared/ is never written), and the
# work tree keeps target/ across source changes, so a new snapshot rebuilds only
# what changed.
#
# Usage: openshell.sh            prints the directory holding the three binaries
# Env:   OPENSHELL_SRC           the source (default: ../shared/openshell beside the repo)
#        OPENSHELL_TOOLS_CACHE   the cache (default: ~/.cache/openshell-ci)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
SRC="${OPENSHELL_SRC:-$(cd "$here/../../.." && pwd)/shared/openshell}"
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
RECIPE=4 # bump when the build commands below change

log() { printf '[openshell] %s\n' "$*" >&2; }
[[ -f "$SRC/Cargo.toml" ]] || { log "no OpenShell source at $SRC"; exit 1; }

hash="$( (echo "recipe $RECIPE"; cd "$SRC" && find . -type f -not -path './.git/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
dest="$CACHE/openshell/$hash"
if [[ -f "$dest/.complete" ]]; then echo "$dest"; exit 0; fi

mkdir -p "$CACHE/locks"
exec 9>"$CACHE/locks/openshell.lock"
flock 9
if [[ -f "$dest/.complete" ]]; then echo "$dest"; exit 0; fi

work="$CACHE/src/openshell"
start=$SECONDS
log "building OpenShell $hash from $SRC in $work"
mkdir -p "$work"
# Mirror the source, keeping cargo's target/ from the last build.
find "$work" -mindepth 1 -maxdepth 1 ! -name target -exec rm -rf {} +
cp -a "$SRC/." "$work/"

export CARGO_PROFILE_DEV_DEBUG=0 CARGO_INCREMENTAL=0 OPENSHELL_TELEMETRY_ENABLED=false
cd "$work"
cargo fetch --locked >&2
log "fetched crates ($((SECONDS - start))s)"
cargo build --locked -p openshell-server -p openshell-cli >&2
log "gateway and CLI built ($((SECONDS - start))s)"
cargo rustc --locked -p openshell-sandbox --bin openshell-sandbox -- -C target-feature=+crt-static >&2
log "static supervisor built ($((SECONDS - start))s)"

sup="target/debug/openshell-sandbox"
file -L "$sup" | grep -qE 'statically linked|static-pie linked' || { log "the supervisor is not static: $(file -L "$sup")"; exit 1; }

rm -rf "$dest.tmp" && mkdir -p "$dest.tmp"
cp target/debug/openshell-gateway target/debug/openshell "$sup" "$dest.tmp/"
echo "$hash" > "$dest.tmp/SOURCE_HASH"
rm -rf "$dest" && mv "$dest.tmp" "$dest"
touch "$dest/.complete"
log "built OpenShell in $((SECONDS - start))s: $dest"
echo "$dest"
