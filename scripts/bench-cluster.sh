#!/usr/bin/env bash
# Scale-out benchmark (docs/CLUSTER.md): N voiceprint nodes over one PostgreSQL
# database on this machine. Seeds SPEAKERS speakers into PostgreSQL (timed: the
# bulk-enrollment number), then for each N in NODE_COUNTS starts N `serve` processes
# (one data dir for keyring and credentials, one port each) and runs one loadgen per
# node at the same time (CONCURRENCY split between them) for each of OPS. Prints
# every node's numbers and the sum.
#
# Knobs (env): SPEAKERS (100000), CONCURRENCY (64), DURATION seconds (15), OPS
# ("describe mix"), NODE_COUNTS ("1 2 3"), VOICEPRINT_TEST_DATABASE_URL (key=value
# form, a user that may create databases; default: scripts/pg-test-server.sh starts one).
set -euo pipefail
cd "$(dirname "$0")/.."

SPEAKERS=${SPEAKERS:-100000}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-15}
target=${CARGO_TARGET_DIR:-target}

cargo build --release --locked -p voiceprint-server --bin voiceprint-server --example loadgen
bin=$target/release/voiceprint-server
loadgen=$target/release/examples/loadgen

stop_pg=
if [ -z "${VOICEPRINT_TEST_DATABASE_URL:-}" ]; then
  VOICEPRINT_TEST_DATABASE_URL=$(scripts/pg-test-server.sh start)
  stop_pg=1
fi
admin="$VOICEPRINT_TEST_DATABASE_URL dbname=postgres"
db=vp_bench_cluster_$$
url="$VOICEPRINT_TEST_DATABASE_URL dbname=$db"
data=$(mktemp -d)
logs=$(mktemp -d)
pids=()
stop_nodes() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
cleanup() {
  stop_nodes
  psql -q "$admin" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$data" "$logs"
  if [ -n "$stop_pg" ]; then scripts/pg-test-server.sh stop || true; fi
}
trap cleanup EXIT
psql -q "$admin" -c "CREATE DATABASE $db"

echo "seeding $SPEAKERS speakers into PostgreSQL …" >&2
SECONDS=0
seed_out=$(VOICEPRINT__STORE__DATABASE_URL="$url" "$bin" admin seed-speakers \
  --data-dir "$data" --count "$SPEAKERS" --batch 5000)
domain=$(echo "$seed_out" | grep -o 'into domain [A-Za-z0-9]\{22\}' | awk '{print $3}')
echo "$seed_out in ${SECONDS} s ($((SPEAKERS / (SECONDS > 0 ? SECONDS : 1))) speakers/s)"

for nodes in ${NODE_COUNTS:-1 2 3}; do
  endpoints=()
  for n in $(seq "$nodes"); do
    log="$logs/node$n.log"
    RUST_LOG=${RUST_LOG:-warn} VOICEPRINT__JOBS__NODE_ID="node$n" \
      "$bin" serve --data-dir "$data" --database-url "$url" --listen 127.0.0.1:0 >"$log" 2>&1 &
    pids+=($!)
    endpoint=
    for _ in $(seq 200); do
      endpoint=$(grep -o 'listening on http://[0-9.:]*' "$log" | awk '{print $3}' || true)
      [ -n "$endpoint" ] && break
      sleep 0.1
    done
    [ -n "$endpoint" ] || { cat "$log" >&2; echo "node $n did not start" >&2; exit 1; }
    endpoints+=("$endpoint")
  done
  for op in ${OPS:-describe mix}; do
    echo "== $nodes node(s), op $op, concurrency $CONCURRENCY in all, $(nproc) cores"
    outs=()
    loaders=()
    for i in "${!endpoints[@]}"; do
      out="$logs/load-$nodes-$op-$i.txt"
      outs+=("$out")
      "$loadgen" --endpoint "${endpoints[$i]}" --credentials "$data/credentials" \
        --domain "$domain" --speakers "$SPEAKERS" --op "$op" \
        --concurrency $((CONCURRENCY / nodes)) --duration "$DURATION" >"$out" 2>/dev/null &
      loaders+=($!)
    done
    for p in "${loaders[@]}"; do wait "$p" || true; done
    for i in "${!outs[@]}"; do sed "s/^/node$((i + 1)) /" "${outs[$i]}"; done
    # Sum of the per-node rates (the "all:" line for mixes, else the one operation).
    cat "${outs[@]}" | awk -v n="$nodes" '
      { if (match($0, /= [0-9]+ req\/s/)) { r = substr($0, RSTART + 2, RLENGTH - 8) + 0;
          if ($1 == "all:") all += r; else one += r } }
      END {printf "sum over %d node(s): %.0f req/s\n", n, (all > 0 ? all : one)}'
  done
  stop_nodes
done
