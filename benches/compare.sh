#!/usr/bin/env bash
# Side-by-side benchmark: banterd and (if installed) InspIRCd on loopback
# ports, the same banter-bench scenarios against both, alternating, in one
# run; ends with a Markdown table of medians and ratios and the sweep chart.
#
#   benches/compare.sh                 # defaults below
#   REPS=1 DURATION=3 benches/compare.sh
#
# Environment knobs (defaults in brackets):
#   REPS [3]          repetitions of each scenario (medians are reported)
#   DURATION [5]      measured seconds per fan-out/churn run (after 2 s warm-up)
#   THREADS [2]       worker threads of the bench's own runtime
#   CLIENTS [10000]   clients for the connect scenario
#   SWEEP [1]         0 skips the channel-size sweep and chart
#   SOAK [0]          seconds of soak (10k clients, paced traffic) per server; 0 skips
#   SVG [docs/fanout-sweep.svg]  where the sweep chart goes
#   OUT [mktemp -d]   where results.jsonl, summaries and logs go
#   BANTER_PORT [16668], INSP_PORT [16667]
# banterd runs with benches/bench.toml if present (flood control and
# connection limits off for 127.0.0.1), else tests/irctest.toml; InspIRCd
# with benches/inspircd.conf. Only 127.0.0.1 is used. Everything started
# here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CLIENTS=${CLIENTS:-10000}
SWEEP=${SWEEP:-1}
SOAK=${SOAK:-0}
SVG=${SVG:-docs/fanout-sweep.svg}
BANTER_PORT=${BANTER_PORT:-16668}
INSP_PORT=${INSP_PORT:-16667}
OUT=${OUT:-$(mktemp -d /tmp/banter-compare.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl

cargo build --release --bin banterd --bin banter-bench
BENCH=target/release/banter-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

BANTER_PID=
INSP_PID=
stop() {
    for p in $BANTER_PID $INSP_PID; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    BANTER_PID=
    INSP_PID=
}
trap stop EXIT

wait_port() {
    for _ in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$1" >&2
    exit 1
}

start_servers() {
    local cfg=benches/bench.toml
    [ -f "$cfg" ] || cfg=tests/irctest.toml
    rm -rf "$OUT/banterd-data" && mkdir -p "$OUT/banterd-data"
    target/release/banterd --config "$cfg" --listen "127.0.0.1:$BANTER_PORT" \
        --data-dir "$OUT/banterd-data" 2>>"$OUT/banterd.log" &
    BANTER_PID=$!
    wait_port "$BANTER_PORT"
    if [ -n "$HAVE_INSP" ]; then
        mkdir -p "$OUT/insp"
        sed -e "s/@PORT@/$INSP_PORT/" -e "s#@DIR@#$OUT/insp#" benches/inspircd.conf >"$OUT/insp/inspircd.conf"
        echo "banter-bench" >"$OUT/insp/inspircd.motd"
        chmod -R a+rwX "$OUT/insp"
        inspircd --nofork --runasroot --config "$OUT/insp/inspircd.conf" >>"$OUT/inspircd.out" 2>&1 &
        INSP_PID=$!
        wait_port "$INSP_PORT"
    fi
    sleep 0.5
}

# run LABEL SCENARIO ARGS...: one bench run against one server.
run() {
    local label=$1 port pid
    shift
    if [ "$label" = banterd ]; then port=$BANTER_PORT pid=$BANTER_PID; else port=$INSP_PORT pid=$INSP_PID; fi
    "$BENCH" "$@" --server "127.0.0.1:$port" --pid "$pid" --label "$label" --threads "$THREADS" \
        >>"$RESULTS" 2> >(tee -a "$OUT/summary.txt" >&2) || echo "($label $1 failed, see above)" >&2
    sleep 1
}

# both SCENARIO ARGS...: the same run against every server, back to back.
both() {
    for s in $SERVERS; do run "$s" "$@"; done
}

peak() { # last delivered_per_s of LABEL for shape 1x500 in results
    grep "\"label\":\"$1\"" "$RESULTS" | grep '"scenario":"fanout"' | grep '"members":500' |
        grep '"rate":0.0' | tail -1 | sed -n 's/.*"delivered_per_s":\([0-9.]*\).*/\1/p'
}

HAVE_INSP=
SERVERS=banterd
if command -v inspircd >/dev/null; then
    HAVE_INSP=1
    SERVERS="banterd inspircd"
else
    echo "inspircd not installed (apt-get install inspircd): banterd only" >&2
fi

FAN="--warmup 2 --duration $DURATION"
for rep in $(seq 1 "$REPS"); do
    echo "== repetition $rep of $REPS (results in $RESULTS)" >&2
    stop
    start_servers
    # Fresh servers first: memory per idle client is read on a clean heap.
    both connect --clients "$CLIENTS" --concurrency 1000 --duration 2
    both fanout --channels 1 --members 500 --senders 8 --window 32 $FAN
    both fanout --channels 50 --members 20 --senders 2 --window 32 $FAN
    both churn --clients 200 --channels 20 --warmup 1 --duration "$DURATION"
    # Latency at half of each server's own peak (closed loop still bounds it).
    for s in $SERVERS; do
        p=$(peak "$s")
        if [ -n "$p" ]; then
            half=$(awk -v p="$p" 'BEGIN { printf "%.0f", p / 2 }')
            run "$s" fanout --channels 1 --members 500 --senders 8 --window 32 --target-rate "$half" $FAN
        fi
    done
done

if [ "$SOAK" != 0 ]; then
    echo "== soak, $SOAK s" >&2
    stop
    start_servers
    both soak --clients 10000 --channel-size 50 --rate 1 --duration "$SOAK" --concurrency 1000
fi

if [ "$SWEEP" = 1 ]; then
    echo "== channel-size sweep" >&2
    stop
    start_servers
    both sweep --sizes 10,100,500,1000 --senders 8 --window 32 $FAN
    mkdir -p "$(dirname "$SVG")"
    "$BENCH" chart --svg "$SVG" --title "fan-out on 2 cores: delivered/s and p99 latency vs channel size" "$RESULTS"
fi
stop

echo
echo "banterd $(git rev-parse --short HEAD 2>/dev/null || echo '?'), $(inspircd --version 2>/dev/null | head -1 || true)," \
    "load average now: $(cut -d' ' -f1-3 /proc/loadavg) (each JSON line has load1)"
echo "Results: $RESULTS"
LABELS=$(echo "$SERVERS" | tr ' ' ',')
"$BENCH" report --labels "$LABELS" "$RESULTS" | tee "$OUT/report.md"
