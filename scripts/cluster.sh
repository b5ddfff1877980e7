#!/usr/bin/env bash
# A loopback Redis Cluster in a folder of its own: N masters with R replicas each, every node on
# spare ports (client and cluster-bus ports picked together, so clusters of several worktrees or
# test files never collide). Used by scripts/services.sh (`npm test`, `npm run bench`) and by
# the failover tests' private clusters (packages/bus/test/fixtures/PrivateCluster.ts).
#
#   scripts/cluster.sh start DIR [MASTERS=3] [REPLICAS=1] [NODE_TIMEOUT_MS=2000]
#       starts the nodes, creates the cluster, waits until every node reports cluster_state:ok
#       and every replica is in sync; prints the seed list `127.0.0.1:P1,127.0.0.1:P2,…` (masters
#       first). DIR/ports lists the client ports, DIR/redis-P.pid the process of each node.
#   scripts/cluster.sh restart DIR PORT
#       starts a killed node again with its own settings; it rejoins the cluster.
#   scripts/cluster.sh stop DIR
#       stops every node started in DIR (SHUTDOWN NOSAVE, then SIGKILL) and removes DIR.
set -uo pipefail

log() { printf '[hyvve cluster] %s\n' "$*" >&2; }

# N distinct free ports, held open together while they are picked so none is returned twice.
spare_ports() {
  node -e '
    const net = require("net"); const n = Number(process.argv[1]); const servers = [];
    const next = () => { if (servers.length === n) { console.log(servers.map((s) => s.address().port).join(" ")); servers.forEach((s) => s.close()); return; }
      const s = net.createServer(); s.listen(0, "127.0.0.1", () => { servers.push(s); next() }) };
    next()' "$1"
}

cli() { redis-cli -h 127.0.0.1 -p "$1" "${@:2}"; }

start() {
  local dir="$1" masters="${2:-3}" replicas="${3:-1}" timeout="${4:-2000}"
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || { log "redis-server and redis-cli (>= 7) are needed"; return 1; }
  mkdir -p "$dir"
  local total=$((masters * (1 + replicas)))
  local -a ports buses
  read -r -a all <<<"$(spare_ports $((2 * total)))"
  ports=("${all[@]:0:$total}"); buses=("${all[@]:$total:$total}")
  printf '%s\n' "${ports[@]}" >"$dir/ports"
  local i p
  for i in "${!ports[@]}"; do
    p="${ports[$i]}"
    mkdir -p "$dir/$p"
    # Kept so that `restart` brings the node back as it was (it rejoins from its nodes.conf).
    printf '%s\n' --port "$p" --cluster-port "${buses[$i]}" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$dir/$p/nodes.conf" --cluster-node-timeout "$timeout" \
      --save "" --appendonly no --daemonize yes --dir "$dir/$p" \
      --pidfile "$dir/redis-$p.pid" --logfile "$dir/redis-$p.log" >"$dir/$p/args"
    launch "$dir" "$p" || return 1
  done
  for p in "${ports[@]}"; do
    for _ in $(seq 100); do [ "$(cli "$p" ping 2>/dev/null)" = PONG ] && break; sleep 0.05; done
    [ "$(cli "$p" ping 2>/dev/null)" = PONG ] || { log "node $p does not answer (see $dir/redis-$p.log)"; return 1; }
  done
  local -a seeds=()
  for p in "${ports[@]}"; do seeds+=("127.0.0.1:$p"); done
  # redis-cli makes the first MASTERS nodes the masters and the others their replicas.
  redis-cli --cluster create "${seeds[@]}" --cluster-replicas "$replicas" --cluster-yes </dev/null >"$dir/create.log" 2>&1 \
    || { log "redis-cli --cluster create failed (see $dir/create.log)"; return 1; }
  local ok
  for _ in $(seq 200); do
    ok=1
    for p in "${ports[@]}"; do
      cli "$p" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || { ok=0; break; }
      # Every node must know every other one before clients ask it for the slot map.
      [ "$(cli "$p" cluster nodes 2>/dev/null | grep -cv 'handshake\|noaddr')" = "$total" ] || { ok=0; break; }
    done
    if [ "$ok" = 1 ]; then
      for p in "${ports[@]:$masters}"; do
        cli "$p" info replication 2>/dev/null | grep -q '^master_link_status:up' || { ok=0; break; }
      done
    fi
    [ "$ok" = 1 ] && break
    sleep 0.1
  done
  [ "$ok" = 1 ] || { log "the cluster in $dir did not reach cluster_state:ok with replicas in sync"; return 1; }
  (IFS=,; printf '%s\n' "${seeds[*]}")
}

launch() { # dir port
  local -a args
  mapfile -t args <"$1/$2/args"
  redis-server "${args[@]}" >/dev/null || { log "redis-server on port $2 did not start"; return 1; }
}

# Starts a node of DIR again (after a kill): it rejoins the cluster, as a replica when its slots
# were taken over meanwhile. Returns once it answers.
restart() {
  local dir="$1" p="$2"
  launch "$dir" "$p" || return 1
  for _ in $(seq 100); do [ "$(cli "$p" ping 2>/dev/null)" = PONG ] && return 0; sleep 0.05; done
  log "node $p does not answer after a restart"; return 1
}

stop() {
  local dir="$1" p pid
  [ -f "$dir/ports" ] || { rm -rf "$dir"; return 0; }
  while read -r p; do
    cli "$p" shutdown nosave >/dev/null 2>&1
    pid="$(cat "$dir/redis-$p.pid" 2>/dev/null)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
  done <"$dir/ports"
  rm -rf "$dir"
}

case "${1:-}" in
  start) shift; start "$@" ;;
  restart) shift; restart "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: scripts/cluster.sh start DIR [MASTERS] [REPLICAS] [NODE_TIMEOUT_MS] | restart DIR PORT | stop DIR" >&2; exit 2 ;;
esac
