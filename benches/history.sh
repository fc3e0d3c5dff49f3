#!/usr/bin/env bash
# Chat history on disk (issue 16), measured in one run:
#  1. fan-out (1x500 and 50x20, closed loop) with history on disk against
#     history off, alternating REPS times; the ratio of medians of delivered/s;
#  2. the history writer's rows/s: banter-bench history-fill writes ROWS rows to
#     one target through banterd's own writer (queue, batches, transactions);
#  3. CHATHISTORY LATEST latency on that target (ROWS stored rows) over IRC.
# Usage: benches/history.sh   (REPS=3 DURATION=5 ROWS=1000000 PORT=16670 OUT=dir)
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DURATION=${DURATION:-5}
ROWS=${ROWS:-1000000}
PORT=${PORT:-16670}
OUT=${OUT:-$(mktemp -d /tmp/banter-history.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl

cargo build --release --bin banterd --bin banter-bench
BENCH=target/release/banter-bench
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

source benches/lib.sh
trap stop EXIT

FAN="--warmup 2 --duration $DURATION --server 127.0.0.1:$PORT"
for rep in $(seq 1 "$REPS"); do
    for mode in off disk; do
        echo "== repetition $rep of $REPS, history $mode" >&2
        extra=""
        [ "$mode" = off ] && extra=$'[history]\nenabled = false'
        rm -rf "$OUT/$mode/data"
        start "$mode" "$OUT/$mode/data" "$extra"
        $BENCH fanout --channels 1 --members 500 --senders 8 --window 32 $FAN --pid "$PID" --label "$mode" >>"$RESULTS"
        $BENCH fanout --channels 50 --members 20 --senders 2 --window 32 $FAN --pid "$PID" --label "$mode" >>"$RESULTS"
        stop
    done
done

echo "== history-fill: $ROWS rows" >&2
rm -rf "$OUT/fill"
$BENCH history-fill --data-dir "$OUT/fill" --rows "$ROWS" --target '#big' | tee -a "$RESULTS"
echo "== CHATHISTORY LATEST #big * 100 on $ROWS rows" >&2
start chathistory "$OUT/fill" $'[history]\nmax_per_target = 0'
$BENCH chathistory --server "127.0.0.1:$PORT" --target '#big' --requests 2000 --limit 100 | tee -a "$RESULTS"
stop

python3 - "$RESULTS" "$OUT" <<'PY'
import json, statistics, sys, glob
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
fan = [r for r in rows if r.get("scenario") == "fanout"]
print("| scenario | history off, delivered/s | history on disk | ratio (disk/off) |")
print("|---|---|---|---|")
for shape in [(1, 500), (50, 20)]:
    pick = lambda label: [r["delivered_per_s"] for r in fan if r["label"] == label
                          and (r["channels"], r["members"]) == shape]
    off, disk = pick("off"), pick("disk")
    if off and disk:
        mo, md = statistics.median(off), statistics.median(disk)
        print(f"| {shape[0]}x{shape[1]} | {mo:,.0f} | {md:,.0f} | {md/mo:.3f} |")
for r in rows:
    if r.get("scenario") == "history-fill":
        print(f"\nwriter: {r['rows']} rows in {r['seconds']:.1f} s = {r['rows_per_sec']:,.0f} rows/s "
              f"(batches of <= {r['batch_rows']} rows / {r['batch_ms']} ms; "
              f"{r['rows_per_busy_sec']:,.0f} rows/s of writer busy time); history.db {r['db_bytes']>>20} MiB")
    if r.get("scenario") == "chathistory":
        print(f"CHATHISTORY LATEST {r['target']} * {r['limit']} on the filled target: "
              f"p50 {r['p50_us']/1000:.2f} ms, p99 {r['p99_us']/1000:.2f} ms over {r['requests']} requests")
for log in sorted(glob.glob(sys.argv[2] + "/disk/banterd.log")):
    writer = [l.strip() for l in open(log) if "history writer" in l]
    if writer:
        print("\nwriter during the disk fan-out runs (one line per server run):")
        for l in writer:
            print("  " + l[l.find("rows="):])
PY
echo "results in $RESULTS" >&2
