#!/usr/bin/env bash
# API throughput benchmark: release build, fresh data dir, 100,000 seeded speakers
# in one domain, then a fixed-duration closed-loop load (SigV4-signed per request)
# of DescribeSpeaker (random speakers) and ListSpeakers (MaxResults 100, random
# pages). Prints requests/s and p50/p99 latency per operation.
#
# Knobs (env): SPEAKERS (100000), CONCURRENCY (64), DURATION seconds (15),
# OPS (loadgen --op values, "describe list"; `mix` adds EvaluateSession; the server's
# memory (RssAnon, VmRSS) is sampled during each run, so OPS=mix DURATION=60 is the soak),
# VOICEPRINT_BIN (default: the release voiceprint-server binary), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

SPEAKERS=${SPEAKERS:-100000}
CONCURRENCY=${CONCURRENCY:-64}
DURATION=${DURATION:-15}
target=${CARGO_TARGET_DIR:-target}

cargo build --release --locked -p voiceprint-server --bin voiceprint-server --example loadgen
bin=${VOICEPRINT_BIN:-$target/release/voiceprint-server}
loadgen=$target/release/examples/loadgen

data=$(mktemp -d)
log=$(mktemp)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$data" "$log"
}
trap cleanup EXIT

echo "seeding $SPEAKERS speakers …" >&2
SECONDS=0
seed_out=$("$bin" admin seed-speakers --data-dir "$data" --count "$SPEAKERS" --batch 5000)
domain=$(echo "$seed_out" | grep -o 'into domain [A-Za-z0-9]\{22\}' | awk '{print $3}')
echo "$seed_out (${SECONDS} s)" >&2

RUST_LOG=${RUST_LOG:-warn} "$bin" serve --data-dir "$data" --listen 127.0.0.1:0 >"$log" 2>&1 &
server_pid=$!
endpoint=
for _ in $(seq 100); do
  endpoint=$(grep -o 'listening on http://[0-9.:]*' "$log" | awk '{print $3}' || true)
  [ -n "$endpoint" ] && break
  sleep 0.1
done
[ -n "$endpoint" ] || { cat "$log" >&2; echo "server did not start" >&2; exit 1; }
echo "server at $endpoint (pid $server_pid), $(nproc) cores" >&2

for op in ${OPS:-describe list}; do
  "$loadgen" --endpoint "$endpoint" --credentials "$data/credentials" --domain "$domain" \
    --speakers "$SPEAKERS" --op "$op" --concurrency "$CONCURRENCY" --duration "$DURATION" \
    --server-pid "$server_pid"
done
