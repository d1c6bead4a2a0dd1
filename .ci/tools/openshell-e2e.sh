#!/usr/bin/env bash
# Build OpenShell's own Kubernetes e2e test executables (the standalone crate
# e2e/rust of ../shared/openshell, features e2e,e2e-kubernetes) into a cache
# keyed by the content hash of the files they are built from or read at run
# time (e2e/ and examples/: some tests open fixtures by CARGO_MANIFEST_DIR).
#
# Layout of the cache entry:
#   <dest>/src/{e2e,examples}   the copy the executables were built from; kept,
#                               because the tests read fixtures beside it
#   <dest>/bin/<test target>    one executable per [[test]] target that
#                               compiles under exactly these features
#   <dest>/TARGETS              their names, one a line
#
# cargo's target/ lives in a work dir of its own (not openshell.sh's tree), so
# dependencies built once stay built across source changes.
#
# Usage: openshell-e2e.sh        prints <dest>
# Env:   OPENSHELL_SRC           the source (default: ../shared/openshell beside the repo)
#        OPENSHELL_TOOLS_CACHE   the cache (default: ~/.cache/openshell-ci)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# The repository's main checkout (a git worktree sits elsewhere) has shared/ beside it.
repo="$(cd "$(git -C "$here" rev-parse --path-format=absolute --git-common-dir)/.." && pwd)"
SRC="${OPENSHELL_SRC:-$(dirname "$repo")/shared/openshell}"
CACHE="${OPENSHELL_TOOLS_CACHE:-$HOME/.cache/openshell-ci}"
FEATURES="e2e,e2e-kubernetes"
RECIPE=1 # bump when the build commands below change

log() { printf '[openshell-e2e] %s\n' "$*" >&2; }
[[ -f "$SRC/e2e/rust/Cargo.toml" ]] || { log "no OpenShell e2e crate at $SRC/e2e/rust"; exit 1; }
command -v cargo >/dev/null || PATH="$HOME/.cargo/bin:$PATH"
command -v cargo >/dev/null || { log "cargo not found (looked in PATH and ~/.cargo/bin)"; exit 1; }

hash="$( (echo "recipe $RECIPE features $FEATURES"; cd "$SRC" && find e2e examples -type f -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-16)"
dest="$CACHE/openshell-e2e/$hash"
if [[ -f "$dest/.complete" ]]; then echo "$dest"; exit 0; fi

mkdir -p "$CACHE/locks"
exec 9>"$CACHE/locks/openshell-e2e.lock"
flock 9
if [[ -f "$dest/.complete" ]]; then echo "$dest"; exit 0; fi

start=$SECONDS
log "building the e2e tests $hash from $SRC/e2e/rust"
rm -rf "$dest" && mkdir -p "$dest/src" "$dest/bin"
cp -a "$SRC/e2e" "$SRC/examples" "$dest/src/"
chmod -R u+w "$dest/src"

export CARGO_PROFILE_DEV_DEBUG=0 CARGO_INCREMENTAL=0
export CARGO_TARGET_DIR="$CACHE/src/openshell-e2e/target"
manifest="$dest/src/e2e/rust/Cargo.toml"
cargo fetch --locked --manifest-path "$manifest" >&2
log "fetched crates ($((SECONDS - start))s)"
# One JSON line per compiled artifact; test targets carry "test":true and the
# executable's path.
cargo test --no-run --locked --manifest-path "$manifest" --features "$FEATURES" \
  --message-format=json-render-diagnostics >"$dest/build.json"
log "tests built ($((SECONDS - start))s)"

node -e '
  const fs = require("fs");
  const [json, bin] = process.argv.slice(1);
  const names = [];
  for (const line of fs.readFileSync(json, "utf8").split("\n")) {
    if (!line.startsWith("{")) continue;
    const m = JSON.parse(line);
    if (m.reason !== "compiler-artifact" || !m.profile?.test || !m.executable) continue;
    if (!m.target.kind.includes("test")) continue; // the lib unit tests are not e2e
    fs.copyFileSync(m.executable, `${bin}/${m.target.name}`);
    fs.chmodSync(`${bin}/${m.target.name}`, 0o755);
    names.push(m.target.name);
  }
  fs.writeFileSync(`${bin}/../TARGETS`, names.sort().join("\n") + "\n");
' "$dest/build.json" "$dest/bin"
rm -f "$dest/build.json"
echo "$hash" > "$dest/SOURCE_HASH"
touch "$dest/.complete"
log "built $(wc -l < "$dest/TARGETS") test executables in $((SECONDS - start))s: $dest"
echo "$dest"
