#!/usr/bin/env bash
# One node vs two nodes sharing one network through Redis (issue 21, "Speed"),
# measured in one run, alternating, REPS times:
#   alone  one banterd without a [cluster] section (no cluster code at work)
#   one    one banterd with [cluster] (events through Redis)
#   two    two banterd nodes with [cluster], members of every channel half on
#          each (banter-bench fanout with two --server, round robin)
#   two-independent  two separate banterd without [cluster], members spread
#          the same way (--network independent: not a cluster, a message
#          reaches its sender's server only): what splitting every channel in
#          two costs by itself, without any relaying
#   two-mirrored  two separate banterd without [cluster] (channels without
#          +n), members spread the same way, every sender also connected to
#          the other server outside the channel and sending each message
#          there too (--network mirrored): every member gets every message,
#          and each server does the same per-message and per-delivery work as
#          a node of `two`, but nothing is relayed: two nodes whose relaying
#          costs nothing, the floor of `two` on this machine
#   before (only with BEFORE_BIN=path) another banterd binary, e.g. one built
#          before the cluster code, without [cluster]: "today's" figures
# for the 1×500 and 50×20 fan-out shapes of compare.sh (closed loop: as fast
# as the servers go, so latency there is mostly queueing) and 1×500 paced at
# PACED deliveries/s in all (the same offered load for every configuration:
# the latency a message takes through one or two nodes). CPU per million
# deliveries is summed over every banterd and, with [cluster], redis-server.
# Prints the ratios of the issue per repetition and their medians: two-node
# CPU/M over one node's, added p50, loss/dup/reorder (must be 0), one-node
# figures with and without the cluster code; Redis's XADDs per relayed
# message and its rate (INFO commandstats read by banter-bench --redis when
# counting starts and ends; the whole run's counts go in the JSON too). With
# REDIS_RATE=1 (default) it ends with the XADD rate one redis-server takes on
# its own (redis-benchmark, entries of the size the cluster wrote).
#
# If this banterd does not accept a [cluster] section (check-config fails),
# the script says so loudly and measures one node against two INDEPENDENT
# single nodes instead (banter-bench --network independent: each server its
# own channel, not a cluster), so the multi-server bench itself is exercised.
#
# CPU on a shared machine moves with other work: compare ratios from one run.
#
#   benches/cluster.sh                       # REPS=3 DURATION=5
#   REPS=1 DURATION=2 benches/cluster.sh     # quick check
# Knobs: REPS [3], DURATION [5] measured s (after WARMUP [2] s), THREADS [2]
# (the bench's runtime), SHAPES ["1x500 50x20 1x500-paced"], PACED [200000]
# deliveries/s, STORE [sqlite|postgres] (a
# throwaway PostgreSQL shared by the nodes, as store.sh starts it),
# REDIS_AOF [yes] (appendonly everysec, as docs/cluster.md advises),
# REDIS_RATE [1], MIRRORED [1] (0: leave out two-mirrored), NODE_THREADS [0] (each banterd's `server.worker_threads`;
# 0: one per core), SPLIT_CORES [0] (1: the two nodes of `two`,
# `two-independent` and `two-mirrored` get half the cores each, one and alone all of them: the
# machine divided among its nodes, as docs/cluster.md advises for nodes
# sharing one; overrides NODE_THREADS), PIN [0] (1: every server process, banterd and
# redis-server, on CPU 0 and banter-bench on CPU 1, so one node and two nodes
# get the same single core and the load generator never takes it from them),
# BEFORE_BIN [], OUT [mktemp -d], BANTERD and BENCH (prebuilt
# binaries to use instead of building both). Only 127.0.0.1 is used;
# everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DURATION=${DURATION:-5}
WARMUP=${WARMUP:-2}
THREADS=${THREADS:-2}
SHAPES=${SHAPES:-1x500 50x20 1x500-paced}
PACED=${PACED:-200000}
STORE=${STORE:-sqlite}
REDIS_AOF=${REDIS_AOF:-yes}
NODE_THREADS=${NODE_THREADS:-0}
SPLIT_CORES=${SPLIT_CORES:-0}
REDIS_RATE=${REDIS_RATE:-1}
MIRRORED=${MIRRORED:-1}
BEFORE_BIN=${BEFORE_BIN:-}
PIN=${PIN:-0}
SERVER_CPU=()
BENCH_CPU=()
if [ "$PIN" = 1 ]; then SERVER_CPU=(taskset -c 0) BENCH_CPU=(taskset -c 1); fi
OUT=${OUT:-$(mktemp -d /tmp/banter-cluster.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl

. benches/cluster-lib.sh
binaries

# --- redis-server, on a free loopback port in $OUT/redis ---
REDIS_PORT=$(free_port)
mkdir -p "$OUT/redis"
"${SERVER_CPU[@]}" redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$OUT/redis" --save '' \
    --appendonly "$REDIS_AOF" --appendfsync everysec --daemonize no >"$OUT/redis/redis.log" 2>&1 &
REDIS_PID=$!
RCLI=(redis-cli -h 127.0.0.1 -p "$REDIS_PORT")
REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"

# --- optional PostgreSQL shared by the nodes ---
PG_STOP=:
STORE_SECTION=""
if [ "$STORE" = postgres ]; then
    PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    [ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
    PGPORT=$(free_port)
    AS=()
    if [ "$(id -u)" = 0 ]; then AS=(setpriv --reuid=postgres --regid=postgres --clear-groups --); fi
    mkdir -p "$OUT/pg"
    [ ${#AS[@]} -gt 0 ] && chown postgres: "$OUT/pg"
    "${AS[@]}" "$PGBIN/initdb" -D "$OUT/pg/data" -U banter -A trust -E UTF8 --locale=C >/dev/null
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$OUT/pg/data" -l "$OUT/pg/server.log" -w \
        -o "-p $PGPORT -k $OUT/pg -c listen_addresses=127.0.0.1" start >/dev/null
    PG_STOP='"${AS[@]}" "$PGBIN/pg_ctl" -D "$OUT/pg/data" -m fast stop >/dev/null 2>&1 || true'
    PSQL=("$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U banter -d postgres -q)
    STORE_SECTION=$(printf '[store]\nurl = "postgres://banter@127.0.0.1:%s/bench"' "$PGPORT")
elif [ "$STORE" != sqlite ]; then
    echo "STORE must be sqlite or postgres" >&2
    exit 2
fi

NODE_PIDS=()
NODE_PORTS=()
stop_nodes() {
    for p in "${NODE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${NODE_PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    NODE_PIDS=()
    NODE_PORTS=()
}
finish() {
    stop_nodes
    kill "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
    eval "$PG_STOP"
}
trap finish EXIT
wait_port "$REDIS_PORT" "$REDIS_PID"

# node_config FILE NAME CLUSTER(0|1): benches/bench.toml plus the store and,
# with CLUSTER=1, a [cluster] section. Only redis_url and node_name are
# set (and with STORE=sqlite separate_stores, each node on its own file):
# heartbeat, ttl and grace keep their defaults.
node_config() {
    local threads=$NODE_THREADS
    if [ "$SPLIT_CORES" = 1 ]; then
        case $2 in
        two-* | ind-* | mir-*) threads=$(($(nproc) / 2)) ;;
        *) threads=$(nproc) ;;
        esac
        [ "$threads" -ge 1 ] || threads=1
    fi
    {
        sed "s/^\[server\]\$/[server]\nworker_threads = $threads/" benches/bench.toml
        printf '\n%s\n' "$STORE_SECTION"
        # Mirrored servers: the senders' twins speak from outside the channel.
        case $2 in mir-*) printf '\n[channels]\ndefault_modes = "t"\n' ;; esac
        if [ "$3" = 1 ]; then
            printf '\n[cluster]\nredis_url = "%s"\nnode_name = "%s"\n' "$REDIS_URL" "$2"
            if [ "$STORE" = sqlite ]; then echo "separate_stores = true"; fi
        fi
    } >"$1"
}

# start_node BIN NAME CLUSTER: one banterd on a free port; appends its pid and port.
start_node() {
    local dir=$OUT/nodes/$2 port
    rm -rf "$dir" && mkdir -p "$dir/data"
    node_config "$dir/banterd.toml" "$2" "$3"
    port=$(free_port)
    "${SERVER_CPU[@]}" "$1" --config "$dir/banterd.toml" --listen "127.0.0.1:$port" --data-dir "$dir/data" 2>>"$dir/banterd.log" &
    NODE_PIDS+=($!)
    NODE_PORTS+=("$port")
    wait_port "$port" "$!" || { tail -5 "$dir/banterd.log" >&2; exit 1; }
}

# Does this banterd take a [cluster] section?
mkdir -p "$OUT/nodes"
node_config "$OUT/nodes/probe.toml" probe 1
if $BANTERD check-config --config "$OUT/nodes/probe.toml" >"$OUT/nodes/probe.out" 2>&1; then
    CLUSTER=1
    CONFIGS="alone one two two-independent"
    [ "$MIRRORED" = 1 ] && CONFIGS="$CONFIGS two-mirrored"
else
    CLUSTER=0
    CONFIGS="alone two-independent"
    {
        echo "################################################################"
        echo "# banterd rejects the [cluster] section (not built with the"
        echo "# cluster yet): measuring one node vs two INDEPENDENT single"
        echo "# nodes instead. NOT A CLUSTER: no Redis, no relaying; only the"
        echo "# multi-server bench itself is exercised. check-config said:"
        sed 's/^/#   /' "$OUT/nodes/probe.out" | head -5
        echo "################################################################"
    } >&2
fi
[ -n "$BEFORE_BIN" ] && CONFIGS="before $CONFIGS"

# start_config CONFIG: the nodes of one configuration, on a fresh Redis and store.
start_config() {
    "${RCLI[@]}" FLUSHALL >/dev/null
    if [ "$STORE" = postgres ]; then
        "${PSQL[@]}" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
    fi
    case $1 in
    before) start_node "$BEFORE_BIN" before 0 ;;
    alone) start_node "$BANTERD" alone 0 ;;
    one) start_node "$BANTERD" one 1 ;;
    two)
        start_node "$BANTERD" two-a 1
        start_node "$BANTERD" two-b 1
        ;;
    two-independent)
        start_node "$BANTERD" ind-a 0
        start_node "$BANTERD" ind-b 0
        ;;
    two-mirrored)
        start_node "$BANTERD" mir-a 0
        start_node "$BANTERD" mir-b 0
        ;;
    esac
    sleep 0.5
}

# cmdstat NAME: calls of one Redis command since the last CONFIG RESETSTAT.
redis_calls() {
    "${RCLI[@]}" INFO commandstats | tr -d '\r' | awk -F'[:=,]' -v c="$1" \
        'c == "" && /^cmdstat_/ { n += $3 } $1 == "cmdstat_" c { n += $3 } END { print n + 0 }'
}

# run CONFIG REP SHAPE: one fan-out run; its JSON line, tagged, into RESULTS.
run() {
    local config=$1 rep=$2 shape=$3 channels members senders args=() pids=() line
    channels=${shape%x*} members=${shape#*x} members=${members%-paced}
    [ "$shape" = "${shape%-paced}" ] || args+=(--target-rate "$PACED")
    if [ "$members" -ge 100 ]; then senders=8; else senders=2; fi
    for p in "${NODE_PORTS[@]}"; do args+=(--server "127.0.0.1:$p"); done
    pids=("${NODE_PIDS[@]}")
    case $config in
    one | two) pids+=("$REDIS_PID") args+=(--redis "127.0.0.1:$REDIS_PORT") ;;
    two-independent) args+=(--network independent) ;;
    two-mirrored) args+=(--network mirrored) ;;
    esac
    for p in "${pids[@]}"; do args+=(--pid "$p"); done
    "${RCLI[@]}" CONFIG RESETSTAT >/dev/null
    line=$("${BENCH_CPU[@]}" "$BENCH" fanout "${args[@]}" --channels "$channels" --members "$members" --senders "$senders" \
        --window 32 --warmup "$WARMUP" --duration "$DURATION" --label "$config" --threads "$THREADS" \
        2> >(tee -a "$OUT/summary.txt" >&2)) || echo "($config $shape failed, see above)" >&2
    [ -n "$line" ] || return 0
    printf '{"config":"%s","rep":%s,"shape":"%s","xadd":%s,"redis_calls":%s,%s\n' "$config" "$rep" "$shape" \
        "$(redis_calls xadd)" "$(redis_calls '')" "${line#\{}" >>"$RESULTS"
    sleep 1
}

# sample_streams: the mean size of the last 200 entries of each stream in
# Redis (ids, field names and values), into ENTRY_BYTES, for the rate test.
ENTRY_BYTES=0
sample_streams() {
    local key
    for key in $("${RCLI[@]}" --scan); do
        [ "$("${RCLI[@]}" TYPE "$key")" = stream ] || continue
        ENTRY_BYTES=$("${RCLI[@]}" --raw XREVRANGE "$key" + - COUNT 200 |
            awk '/^[0-9]+-[0-9]+$/ { e++ } { n += length($0) } END { printf "%d", e ? n / e : 0 }')
        echo "stream $key: $("${RCLI[@]}" XLEN "$key") entries, the last ones about $ENTRY_BYTES bytes each" >&2
    done
}

for rep in $(seq 1 "$REPS"); do
    order=$CONFIGS
    # Alternate: every other repetition runs the configurations in reverse.
    if [ $((rep % 2)) = 0 ]; then order=$(echo "$CONFIGS" | tr ' ' '\n' | tac | tr '\n' ' '); fi
    for config in $order; do
        echo "== repetition $rep of $REPS: $config" >&2
        start_config "$config"
        for shape in $SHAPES; do run "$config" "$rep" "$shape"; done
        case $config in one | two) sample_streams ;; esac
        stop_nodes
    done
done


echo
echo "$BANTERD ($($BANTERD --version 2>&1 | head -1)), tree at $(git rev-parse --short HEAD 2>/dev/null || echo '?'), redis $(redis-server --version | awk '{print $3}')," \
    "store $STORE, load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$CLUSTER" = 1 ] || echo "NOT A CLUSTER: two-independent = two separate single nodes (banterd rejects [cluster])"
python3 benches/cluster_report.py "$RESULTS" | tee "$OUT/report.md"

if [ "$REDIS_RATE" = 1 ]; then
    "${RCLI[@]}" FLUSHALL >/dev/null
    bytes=$((ENTRY_BYTES > 16 ? ENTRY_BYTES : 200))
    payload=$(head -c "$bytes" /dev/zero | tr '\0' x)
    echo
    echo "== the XADD rate one redis-server takes alone: redis-benchmark, 50 clients, pipeline 16," \
        "one stream trimmed to ~100000 entries, $bytes-byte entries (appendonly $REDIS_AOF)"
    "${RCLI[@]}" CONFIG RESETSTAT >/dev/null
    c0=$(awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat")
    t0=$(date +%s.%N)
    redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c 50 -P 16 -n 1000000 -q \
        XADD banter-bench:rate MAXLEN '~' 100000 '*' e "$payload" >"$OUT/redis-rate.txt" 2>&1 || true
    t1=$(date +%s.%N)
    c1=$(awk '{ print $14 + $15 }' "/proc/$REDIS_PID/stat")
    n=$(redis_calls xadd)
    awk -v n="$n" -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$(getconf CLK_TCK)" 'BEGIN {
        cpu = (c1 - c0) / hz; wall = t1 - t0
        printf "%d XADDs in %.2f s: %.0f XADD/s; redis-server %.2f CPU-s (%.0f%% of one core): %.0f XADDs per redis CPU-second\n",
            n, wall, n / wall, cpu, 100 * cpu / wall, n / cpu }' | tee -a "$OUT/report.md"
fi
echo "results in $RESULTS" >&2
