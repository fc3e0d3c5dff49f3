#!/usr/bin/env bash
# A/B of two banterd binaries as a two-node cluster (the `two` configuration of
# cluster.sh: members of every channel half on each node, one redis-server
# with appendonly), alternating OLD and NEW REPS times in one run, so a change
# to the relaying is measured against the binary before it on the same
# machine in the same minutes:
#
#   benches/cluster-ab.sh OLD_BANTERD NEW_BANTERD
#   REPS=4 SHAPE=50x20 DURATION=6 benches/cluster-ab.sh old new
#
# SHAPE is CHANNELSxMEMBERS (a `-paced` suffix offers PACED deliveries/s
# instead of the closed loop). Prints per run CPU-s per million deliveries
# (both nodes and Redis), Redis's own CPU-s and delivered/s, then the means;
# the raw JSON lines go to OUT/results.jsonl. BENCH is banter-bench
# [target/release/banter-bench, built with cargo build --release]. Only 127.0.0.1 is used;
# everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# = 2 ] || { sed -n '2,16p' "$0" >&2; exit 2; }
OLD=$1 NEW=$2
REPS=${REPS:-4}
SHAPE=${SHAPE:-50x20}
DURATION=${DURATION:-6}
PACED=${PACED:-200000}
OUT=${OUT:-$(mktemp -d /tmp/banter-cluster-ab.XXXXXX)}
BANTERD=$NEW
. benches/cluster-lib.sh
binaries
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl
: >"$RESULTS"

PIDS=()
stop_all() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    PIDS=()
}
trap stop_all EXIT

# run LABEL BIN: a fresh Redis and two nodes of BIN, one fan-out run.
run() {
    local label=$1 bin=$2 dir=$OUT/$1 rport redis_pid port pid args=() channels members senders
    rm -rf "$dir" && mkdir -p "$dir/redis"
    rport=$(free_port)
    redis-server --port "$rport" --bind 127.0.0.1 --dir "$dir/redis" --save '' --appendonly yes \
        --appendfsync everysec >"$dir/redis/log" 2>&1 &
    redis_pid=$!
    PIDS+=("$redis_pid")
    wait_port "$rport" "$redis_pid"
    for node in a b; do
        mkdir -p "$dir/$node/data"
        {
            cat benches/bench.toml
            printf '\n[cluster]\nredis_url = "redis://127.0.0.1:%s/0"\nnode_name = "%s"\nseparate_stores = true\n' \
                "$rport" "$node"
        } >"$dir/$node/banterd.toml"
        port=$(free_port)
        "$bin" --config "$dir/$node/banterd.toml" --listen "127.0.0.1:$port" --data-dir "$dir/$node/data" \
            2>"$dir/$node/log" &
        pid=$!
        PIDS+=("$pid")
        wait_port "$port" "$pid"
        args+=(--server "127.0.0.1:$port" --pid "$pid")
    done
    args+=(--pid "$redis_pid")
    channels=${SHAPE%x*} members=${SHAPE#*x} members=${members%-paced}
    [ "$SHAPE" = "${SHAPE%-paced}" ] || args+=(--target-rate "$PACED")
    if [ "$members" -ge 100 ]; then senders=8; else senders=2; fi
    sleep 0.5
    "$BENCH" fanout "${args[@]}" --channels "$channels" --members "$members" --senders "$senders" --window 32 \
        --warmup 2 --duration "$DURATION" --label "$label" --threads 2 2>/dev/null >>"$RESULTS"
    stop_all
    sleep 1
}

for rep in $(seq 1 "$REPS"); do
    run "old-$rep" "$OLD"
    run "new-$rep" "$NEW"
done

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
def redis(r):
    return next(p["cpu_s"] for p in r["processes"] if p["name"] == "redis-server")
means = {}
for r in rows:
    which = r["label"].split("-")[0]
    print(f'{r["label"]:6} CPU-s/M {r["server_cpu_s_per_million"]:.3f}  redis CPU-s {redis(r):.2f}  '
          f'delivered/s {r["delivered_per_s"]:,.0f}  loss/dup/reorder {r["loss"]}/{r["dups"]}/{r["reordered"]}')
    means.setdefault(which, []).append(r)
def mean(which, f):
    xs = [f(r) for r in means[which]]
    return sum(xs) / len(xs)
for name, f, spec in (("CPU-s/M", lambda r: r["server_cpu_s_per_million"], ".3f"), ("redis CPU-s", redis, ".2f"),
                      ("delivered/s", lambda r: r["delivered_per_s"], ",.0f")):
    old, new = mean("old", f), mean("new", f)
    print(f"{name}: old {old:{spec}}  new {new:{spec}}  new/old {new / old:.2f}x")
EOF
echo "results in $RESULTS" >&2
