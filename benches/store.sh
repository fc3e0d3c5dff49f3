#!/usr/bin/env bash
# The two store engines measured in one run (issue 20), alternating REPS times:
#  1. the history writer's rows/s: banter-bench history-fill writes ROWS rows to
#     one target through banterd's own writer (queue, batches, transactions),
#     into SQLite files (a fresh data dir) and into PostgreSQL (a fresh database);
#  2. CHATHISTORY LATEST #big * 100 latency over IRC on that target, banterd
#     running on the store just filled.
# PostgreSQL is a throwaway cluster started here (Debian's postgresql package;
# as the postgres user when run as root) with its default durability settings.
# Usage: benches/store.sh   (REPS=3 ROWS=500000 PORT=16680 PGPORT=16681 OUT=dir)
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
ROWS=${ROWS:-500000}
PORT=${PORT:-16680}
PGPORT=${PGPORT:-16681}
OUT=${OUT:-$(mktemp -d /tmp/banter-store.XXXXXX)}
mkdir -p "$OUT"
RESULTS=$OUT/results.jsonl

cargo build --release --bin banterd --bin banter-bench
BENCH=target/release/banter-bench
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
[ -x "$PGBIN/initdb" ] || { echo "PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }

AS=()
if [ "$(id -u)" = 0 ]; then AS=(setpriv --reuid=postgres --regid=postgres --clear-groups --); fi
PGDIR=$OUT/pg
rm -rf "$PGDIR"
mkdir -p "$PGDIR"
[ ${#AS[@]} -gt 0 ] && chown postgres: "$PGDIR"
"${AS[@]}" "$PGBIN/initdb" -D "$PGDIR/data" -U banter -A trust -E UTF8 --locale=C >/dev/null
"${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w \
    -o "-p $PGPORT -k $PGDIR -c listen_addresses=127.0.0.1" start >/dev/null
PSQL=("$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U banter -d postgres -q)

source benches/lib.sh
finish() {
    stop
    "${AS[@]}" "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast stop >/dev/null 2>&1 || true
}
trap finish EXIT

for rep in $(seq 1 "$REPS"); do
    for engine in sqlite postgres; do
        echo "== repetition $rep of $REPS: $engine, history-fill of $ROWS rows" >&2
        rm -rf "$OUT/$engine"
        if [ "$engine" = sqlite ]; then
            store="sqlite:$OUT/$engine/data"
            section=""
        else
            "${PSQL[@]}" -c "DROP DATABASE IF EXISTS bench" -c "CREATE DATABASE bench"
            store="postgres://banter@127.0.0.1:$PGPORT/bench"
            section=$(printf '[store]\nurl = "%s"' "$store")
        fi
        $BENCH history-fill --store "$store" --rows "$ROWS" --target '#big' | sed "s/^{/{\"engine\":\"$engine\",/" >>"$RESULTS"
        echo "== $engine: CHATHISTORY LATEST #big * 100" >&2
        start "$engine" "$OUT/$engine/data" "$(printf '[history]\nmax_per_target = 0\n%s' "$section")"
        $BENCH chathistory --server "127.0.0.1:$PORT" --target '#big' --requests 2000 --limit 100 \
            | sed "s/^{/{\"engine\":\"$engine\",/" >>"$RESULTS"
        stop
    done
done

python3 - "$RESULTS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print("| engine | writer rows/s (median) | writer rows/s of busy time | LATEST p50 ms | LATEST p99 ms | runs |")
print("|---|---|---|---|---|---|")
for engine in ["sqlite", "postgres"]:
    fill = [r for r in rows if r.get("engine") == engine and r.get("scenario") == "history-fill"]
    ch = [r for r in rows if r.get("engine") == engine and r.get("scenario") == "chathistory"]
    if not fill or not ch:
        continue
    med = lambda v: statistics.median(v)
    print(f"| {engine} | {med([r['rows_per_sec'] for r in fill]):,.0f} | {med([r['rows_per_busy_sec'] for r in fill]):,.0f} "
          f"| {med([r['p50_us'] for r in ch])/1000:.2f} | {med([r['p99_us'] for r in ch])/1000:.2f} | {len(fill)} |")
PY
echo "results in $RESULTS" >&2
