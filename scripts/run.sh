#!/usr/bin/env bash
# The one entry point behind `npm run <task>`: bootstraps Node 24 + pnpm, installs dependencies,
# makes Redis and Postgres reachable, then runs the task. Needs only the machine's node and npm.
#   demo      the approvals example end to end, then the page's URL (examples/01-approvals-flow);
#             demo -- --serve keeps it running with live traffic until Ctrl-C
#   test      typecheck, lint, every test project; last line "N passed, N failed"
#   check     typecheck + lint only
#   bench     the throughput/latency benchmark against the real Redis
#   build     the publishable packages into packages/*/dist (scripts/build.ts)
#   services  print the Redis/Postgres URLs that would be used
#   hyvve     the CLI (packages/cli) from the sources: npm run hyvve -- dlq list
set -uo pipefail
HYVVE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$HYVVE_ROOT"
# shellcheck source=toolchain.sh
source scripts/toolchain.sh || exit 1
# shellcheck source=services.sh
source scripts/services.sh
hyvve_ensure_deps || exit 1

task="${1:-}"; shift || true

check() {
  hyvve_log "typecheck (tsc)"; pnpm exec tsc -p tsconfig.json || return 1
  hyvve_log "lint (biome)"; pnpm exec biome check --diagnostic-level=error . || return 1
}

case "$task" in
  services) hyvve_ensure_services ;;
  hyvve) node packages/cli/bin/hyvve.js "$@" ;;
  check) check ;;
  build) node scripts/build.ts ;;
  demo)
    # The demo falls back to the in-memory backend by itself when no Redis answers.
    hyvve_ensure_services >/dev/null || hyvve_log "no Redis/Postgres: the demo will use the in-memory backend"
    node examples/01-approvals-flow/main.ts "$@" ;;
  bench)
    hyvve_ensure_services >/dev/null || exit 1
    hyvve_ensure_cluster || hyvve_log "no Redis Cluster: the cluster bench lines are skipped"
    node packages/bus/bench/run.ts "$@" ;;
  test)
    hyvve_ensure_services >/dev/null || exit 1
    hyvve_ensure_chromium || true
    # Without it the cluster tests fail in CI and are skipped (saying so) elsewhere.
    hyvve_ensure_cluster || true
    export HYVVE_TEST_RUN="run$(date +%s)$$"
    report="$HYVVE_ROOT/.cache/vitest-report.json"; rm -f "$report"; mkdir -p .cache
    status=0
    check || status=1
    if [ "$status" = 0 ]; then
      pnpm exec vitest run --config vitest.workspace.ts --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=1
    fi
    if [ -f "$report" ]; then
      node -e 'const r=require(process.argv[1]);console.log(`${r.numPassedTests} passed, ${r.numFailedTests} failed`+(r.numPendingTests?`, ${r.numPendingTests} skipped`:""))' "$report" > .cache/test-summary.txt
    else
      echo "0 passed, 1 failed" > .cache/test-summary.txt
    fi
    cat .cache/test-summary.txt
    exit "$status" ;;
  *) echo "usage: scripts/run.sh demo|test|check|build|bench|services|hyvve" >&2; exit 2 ;;
esac
