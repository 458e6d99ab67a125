#!/usr/bin/env bash
# A Quiver cluster on this machine, for trying cluster mode (docs/CLUSTER.md): three NATS
# JetStream servers and three `quiver serve --cluster` nodes on 127.0.0.1, everything under
# DIR (default ./local-cluster). Needs `npm run build` first and nats-server on the PATH
# (Debian/Ubuntu: sudo apt-get install nats-server).
#
#   scripts/local-cluster.sh start [DIR]    NATS on 4222-4224, Quiver nodes on 6333-6335
#   scripts/local-cluster.sh kill N [DIR]   SIGKILL Quiver node N (1-3)
#   scripts/local-cluster.sh restart N [DIR]
#   scripts/local-cluster.sh status [DIR]
#   scripts/local-cluster.sh stop [DIR]     stops everything (data stays in DIR)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cmd=${1:-start}
if [[ $cmd == kill || $cmd == restart ]]; then node_no=${2:?which node, 1-3}; dir=${3:-./local-cluster}; else dir=${2:-./local-cluster}; fi
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
servers=nats://127.0.0.1:4222,nats://127.0.0.1:4223,nats://127.0.0.1:4224

# A process is alive when its pid answers and it is not a zombie waiting to be reaped.
alive() {
  [[ -f $1 ]] || return 1
  local state
  state=$(ps -o stat= -p "$(cat "$1")" 2>/dev/null) || return 1
  [[ $state != Z* ]]
}

wait_http() { # url, what
  for _ in $(seq 1 150); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "$2 did not come up: see $dir/*.log" >&2; exit 1
}

start_nats() {
  local i=$1 conf="$dir/nats-$1.conf"
  cat > "$conf" <<CONF
server_name: nats-$i
listen: 127.0.0.1:$((4221 + i))
http: 127.0.0.1:$((8221 + i))
jetstream { store_dir: "$dir/nats-$i" }
cluster {
  name: quiver-local
  listen: 127.0.0.1:$((6221 + i))
  routes: [ nats-route://127.0.0.1:6222, nats-route://127.0.0.1:6223, nats-route://127.0.0.1:6224 ]
}
CONF
  alive "$dir/nats-$i.pid" && return 0
  nats-server -c "$conf" > "$dir/nats-$i.log" 2>&1 &
  echo $! > "$dir/nats-$i.pid"
}

start_quiver() {
  local i=$1
  alive "$dir/quiver-$i.pid" && return 0
  node "$root/dist/cli/main.js" serve --data "$dir/node-$i" --port $((6332 + i)) \
    --cluster "$servers" --cluster-node-id "node-$i" > "$dir/quiver-$i.log" 2>&1 &
  echo $! > "$dir/quiver-$i.pid"
}

case $cmd in
start)
  command -v nats-server >/dev/null || { echo "nats-server is not installed (Debian/Ubuntu: sudo apt-get install nats-server)" >&2; exit 1; }
  [[ -f $root/dist/cli/main.js ]] || { echo "run npm run build first" >&2; exit 1; }
  for i in 1 2 3; do start_nats "$i"; done
  # JetStream answers once the servers have elected a meta leader.
  for i in 1 2 3; do wait_http "http://127.0.0.1:$((8221 + i))/healthz?js-enabled-only=true" "nats-$i"; done
  for i in 1 2 3; do start_quiver "$i"; done
  for i in 1 2 3; do wait_http "http://127.0.0.1:$((6332 + i))/readyz" "quiver node-$i"; done
  echo "NATS:   $servers"
  echo "Quiver: http://127.0.0.1:6333 http://127.0.0.1:6334 http://127.0.0.1:6335 (node-1..3)"
  echo "logs and data: $dir"
  ;;
kill)
  alive "$dir/quiver-$node_no.pid" || { echo "node-$node_no is not running" >&2; exit 1; }
  kill -9 "$(cat "$dir/quiver-$node_no.pid")"
  rm -f "$dir/quiver-$node_no.pid"
  echo "node-$node_no killed (SIGKILL)"
  ;;
restart)
  start_quiver "$node_no"
  wait_http "http://127.0.0.1:$((6332 + node_no))/readyz" "quiver node-$node_no"
  echo "node-$node_no is back"
  ;;
status)
  for i in 1 2 3; do
    printf 'nats-%s %s   quiver node-%s %s\n' "$i" "$(alive "$dir/nats-$i.pid" && echo up || echo down)" \
      "$i" "$(alive "$dir/quiver-$i.pid" && echo up || echo down)"
  done
  ;;
stop)
  for f in "$dir"/quiver-*.pid "$dir"/nats-*.pid; do
    [[ -f $f ]] || continue
    kill "$(cat "$f")" 2>/dev/null || true
    rm -f "$f"
  done
  echo "stopped (data kept in $dir)"
  ;;
*)
  sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
