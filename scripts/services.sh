# shellcheck shell=bash
# Sourced by scripts/run.sh: makes Redis >= 7 and PostgreSQL >= 14 reachable and exports
# REDIS_URL and DATABASE_URL (plus TEST_DATABASE_URL, a database of its own for the tests).
# Order: the env vars when set; else the local servers on 6379/5432; else private instances
# from installed binaries on spare ports in a temp folder (stopped when the caller exits);
# else, as root, install Debian's packages and start private instances; else explain.
# `hyvve_ensure_cluster` (for `npm test` and `npm run bench`) exports REDIS_CLUSTER_NODES: the
# variable when set, else a private 3-master, 1-replica-each loopback cluster (scripts/cluster.sh).

hyvve_tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

hyvve_redis_ping() { # host port
  local reply
  reply="$( (exec 3<>"/dev/tcp/$1/$2" && printf 'PING\r\n' >&3 && timeout 2 head -c 7 <&3) 2>/dev/null)"
  [[ "$reply" == "+PONG"* ]]
}

hyvve_spare_port() { node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }

hyvve_private_dir() {
  if [ -z "${HYVVE_SERVICES_DIR:-}" ]; then
    HYVVE_SERVICES_DIR="$(mktemp -d -t hyvve-services.XXXXXX)"
    chmod 755 "$HYVVE_SERVICES_DIR"
    trap 'hyvve_stop_private' EXIT
  fi
}

hyvve_stop_private() {
  [ -n "${HYVVE_PRIVATE_REDIS_PORT:-}" ] && redis-cli -p "$HYVVE_PRIVATE_REDIS_PORT" shutdown nosave >/dev/null 2>&1
  if [ -n "${HYVVE_PRIVATE_PG_DIR:-}" ]; then
    hyvve_as_postgres "$(hyvve_pg_bin)/pg_ctl" -D "$HYVVE_PRIVATE_PG_DIR" -m fast stop >/dev/null 2>&1
  fi
  [ -n "${HYVVE_PRIVATE_CLUSTER_DIR:-}" ] && bash "$HYVVE_ROOT/scripts/cluster.sh" stop "$HYVVE_PRIVATE_CLUSTER_DIR"
  [ -n "${HYVVE_SERVICES_DIR:-}" ] && rm -rf "$HYVVE_SERVICES_DIR"
}

hyvve_apt_install() { # packages...
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then return 1; fi
  hyvve_log "installing $* from Debian's packages"
  apt-get update -qq >/dev/null 2>&1; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

hyvve_ensure_redis() {
  if [ -n "${REDIS_URL:-}" ]; then hyvve_log "Redis: REDIS_URL from the environment"; return 0; fi
  if hyvve_redis_ping 127.0.0.1 6379; then export REDIS_URL="redis://127.0.0.1:6379"; hyvve_log "Redis: local server at $REDIS_URL"; return 0; fi
  command -v redis-server >/dev/null || hyvve_apt_install redis-server || {
    hyvve_log "Redis is missing: set REDIS_URL, start redis-server on 127.0.0.1:6379, or install redis-server (>= 7)"; return 1; }
  hyvve_private_dir
  local port; port="$(hyvve_spare_port)"
  redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize yes \
    --dir "$HYVVE_SERVICES_DIR" --logfile "$HYVVE_SERVICES_DIR/redis.log" >/dev/null
  HYVVE_PRIVATE_REDIS_PORT="$port"
  for _ in $(seq 50); do hyvve_redis_ping 127.0.0.1 "$port" && break; sleep 0.1; done
  hyvve_redis_ping 127.0.0.1 "$port" || {
    hyvve_log "could not start a private redis-server (see $HYVVE_SERVICES_DIR/redis.log); set REDIS_URL to a server of yours"; return 1; }
  export REDIS_URL="redis://127.0.0.1:$port"; hyvve_log "Redis: private instance at $REDIS_URL (stopped at exit)"
}

# A loopback Redis Cluster for the cluster backend's tests: 3 masters with a replica each, on
# spare ports in the services folder (several worktrees can run the suite at once), stopped at exit.
hyvve_ensure_cluster() {
  if [ -n "${REDIS_CLUSTER_NODES:-}" ]; then hyvve_log "Redis Cluster: REDIS_CLUSTER_NODES from the environment"; return 0; fi
  command -v redis-server >/dev/null || hyvve_apt_install redis-server || {
    hyvve_log "Redis Cluster: redis-server is missing (the cluster tests need it, or REDIS_CLUSTER_NODES)"; return 1; }
  hyvve_private_dir
  HYVVE_PRIVATE_CLUSTER_DIR="$HYVVE_SERVICES_DIR/cluster"
  local nodes
  nodes="$(bash "$HYVVE_ROOT/scripts/cluster.sh" start "$HYVVE_PRIVATE_CLUSTER_DIR" 3 1)" || {
    hyvve_log "could not start a private Redis Cluster (see $HYVVE_PRIVATE_CLUSTER_DIR); set REDIS_CLUSTER_NODES to one of yours"; return 1; }
  export REDIS_CLUSTER_NODES="$nodes"; hyvve_log "Redis Cluster: private 3 masters + 3 replicas at $REDIS_CLUSTER_NODES (stopped at exit)"
}

hyvve_pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

hyvve_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

hyvve_ensure_postgres() {
  if [ -n "${DATABASE_URL:-}" ]; then hyvve_log "Postgres: DATABASE_URL from the environment"
  elif hyvve_tcp_open 127.0.0.1 5432; then export DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres"; hyvve_log "Postgres: local server at $DATABASE_URL"
  else
    [ -n "$(hyvve_pg_bin)" ] || hyvve_apt_install postgresql || {
      hyvve_log "PostgreSQL is missing: set DATABASE_URL, start it on 127.0.0.1:5432, or install postgresql (>= 14)"; return 1; }
    hyvve_private_dir
    local port bin run; port="$(hyvve_spare_port)"; bin="$(hyvve_pg_bin)"
    # Everything the server writes (data, log, socket) lives in a folder its user owns: as root,
    # the server runs as `postgres`, which initdb requires.
    run="$HYVVE_SERVICES_DIR/pg"
    HYVVE_PRIVATE_PG_DIR="$run/data"
    mkdir -p "$run"; [ "$(id -u)" = 0 ] && chown postgres "$run"
    if ! hyvve_as_postgres "$bin/initdb" -D "$HYVVE_PRIVATE_PG_DIR" -A trust -U postgres >/dev/null \
      || ! hyvve_as_postgres "$bin/pg_ctl" -D "$HYVVE_PRIVATE_PG_DIR" -o "-p $port -k $run -c listen_addresses=127.0.0.1" \
        -l "$run/server.log" -w start >/dev/null; then
      hyvve_log "could not start a private PostgreSQL (see $run/server.log); set DATABASE_URL to a server of yours"
      return 1
    fi
    export DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres"; hyvve_log "Postgres: private instance at $DATABASE_URL (stopped at exit)"
  fi
  # The tests' own database, so they never touch the developer's data.
  local base="${DATABASE_URL%/*}"
  export TEST_DATABASE_URL="${TEST_DATABASE_URL:-$base/hyvve_test}"
  if command -v psql >/dev/null; then
    psql "$DATABASE_URL" -tAc "SELECT 1 FROM pg_database WHERE datname = 'hyvve_test'" 2>/dev/null | grep -q 1 \
      || psql "$DATABASE_URL" -qc "CREATE DATABASE hyvve_test" >/dev/null 2>&1 || true
  fi
}

# Debian's chromium for the monitoring page's browser test (packages/admin/test/Page.browser.test.ts).
# Installed as root when missing; otherwise the test fails and says how to get it.
HYVVE_CHROMIUM="${HYVVE_CHROMIUM:-/usr/bin/chromium}"
hyvve_ensure_chromium() {
  [ -x "$HYVVE_CHROMIUM" ] && return 0
  hyvve_apt_install chromium && [ -x "$HYVVE_CHROMIUM" ] || {
    hyvve_log "chromium is missing and could not be installed (needs root and apt-get): the browser test will fail"; return 1; }
}

hyvve_ensure_services() {
  hyvve_ensure_redis && hyvve_ensure_postgres || return 1
  echo "REDIS_URL=$REDIS_URL"
  echo "DATABASE_URL=$DATABASE_URL"
  echo "TEST_DATABASE_URL=$TEST_DATABASE_URL"
}
