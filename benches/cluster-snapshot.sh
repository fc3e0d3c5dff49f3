#!/usr/bin/env bash
# Snapshots of a large network (issue 21, docs/cluster.md "Snapshots"): how
# big a snapshot is, how long a node takes to encode and write it, and how
# long a node joining the network takes to fetch it, restore it and replay
# the rest of the log, for CLIENTS users in channels of CHANNEL_SIZE members
# spread over two nodes (banter-bench soak: every user connected to node A or
# B in turn, one sender per channel at RATE messages/s). Once the soak has
# connected everyone and a snapshot of the whole network was written, node C
# joins; its "joined the network" log line gives the join figures. The soak's
# own latency figures show what the snapshots cost the running nodes.
#
#   benches/cluster-snapshot.sh                    # CLIENTS=10000
#   CLIENTS=16000 CHANNEL_SIZE=200 benches/cluster-snapshot.sh
# Knobs: CLIENTS [10000], CHANNEL_SIZE [50], RATE [5] (msg/s per sender, so that snapshots come during the soak),
# DURATION [40] s of soak, SNAPSHOT_EVERY [10000] events, OUT [mktemp -d],
# BANTERD and BENCH (prebuilt binaries instead of building both). Only
# 127.0.0.1 is used; everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

CLIENTS=${CLIENTS:-10000}
CHANNEL_SIZE=${CHANNEL_SIZE:-50}
RATE=${RATE:-5}
DURATION=${DURATION:-40}
SNAPSHOT_EVERY=${SNAPSHOT_EVERY:-10000}
OUT=${OUT:-$(mktemp -d /tmp/banter-snapshot.XXXXXX)}
mkdir -p "$OUT"
rm -rf "$OUT/a" "$OUT/b" "$OUT/c" "$OUT/redis"

. benches/cluster-lib.sh
binaries

PIDS=()
finish() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap finish EXIT

REDIS_PORT=$(free_port)
mkdir -p "$OUT/redis"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$OUT/redis" --save '' \
    --appendonly yes --appendfsync everysec --daemonize no >"$OUT/redis/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$REDIS_PORT" "$!"

declare -A PORT
# start_node NAME: a cluster node on a free port, logging at info for the cluster.
start_node() {
    local dir=$OUT/$1
    mkdir -p "$dir/data"
    {
        sed 's/^log = .*/log = "warn,banter::server=info,banter::cluster=info"/' benches/bench.toml
        # Each node on its own SQLite file (separate_stores): the snapshot
        # and the log are what is measured, not a shared store.
        printf '\n[cluster]\nredis_url = "redis://127.0.0.1:%s/0"\nnode_name = "%s"\nsnapshot_every = %s\nseparate_stores = true\n' \
            "$REDIS_PORT" "$1" "$SNAPSHOT_EVERY"
    } >"$dir/banterd.toml"
    PORT[$1]=$(free_port)
    "$BANTERD" --config "$dir/banterd.toml" --listen "127.0.0.1:${PORT[$1]}" --data-dir "$dir/data" \
        2>>"$dir/banterd.log" &
    PIDS+=($!)
    wait_port "${PORT[$1]}" "$!" || { tail -5 "$dir/banterd.log" >&2; exit 1; }
}

start_node a
start_node b
APID=${PIDS[1]} BPID=${PIDS[2]}
"$BENCH" soak --server "127.0.0.1:${PORT[a]}" --server "127.0.0.1:${PORT[b]}" \
    --pid "$APID" --pid "$BPID" --pid "${PIDS[0]}" --clients "$CLIENTS" --channel-size "$CHANNEL_SIZE" \
    --rate "$RATE" --duration "$DURATION" --label snapshot >"$OUT/soak.json" 2>"$OUT/soak.err" &
SOAK=$!
PIDS+=($SOAK)

# Wait until every user is connected (established sockets on a and b),
# then for the next snapshot written: it holds them all.
connected() {
    ss -Htn state established "( sport = :${PORT[a]} or sport = :${PORT[b]} )" | wc -l
}
snapshots() { cat "$OUT"/a/banterd.log "$OUT"/b/banterd.log | grep -c "snapshot written" || true; }
for _ in $(seq 1 1200); do
    [ "$(connected)" -ge "$CLIENTS" ] && break
    kill -0 "$SOAK" 2>/dev/null || { cat "$OUT/soak.err" >&2; exit 1; }
    sleep 0.5
done
before=$(snapshots)
for _ in $(seq 1 600); do
    [ "$(snapshots)" -gt "$before" ] && break
    sleep 0.5
done
start_node c
wait "$SOAK" || true

echo "== $CLIENTS users, channels of $CHANNEL_SIZE, over nodes a and b; c joined during the soak"
echo "-- snapshots written (a, b):"
grep -h "snapshot written" "$OUT"/a/banterd.log "$OUT"/b/banterd.log | sed 's/^.*INFO //' | tail -4
echo "-- node c joining:"
grep -h "joined the network" "$OUT/c/banterd.log" | sed 's/^.*INFO //'
echo "-- soak (messages through the two nodes meanwhile):"
tail -3 "$OUT/soak.err"
echo "(raw: $OUT)"
