#!/usr/bin/env bash
# benches/ab-sequenced.sh OLD NEW BENCH OUT [REPS]: single-node A/B of two banterd binaries, alternating,
# pinned (server CPU 0, bench CPU 1): churn (JOIN/PART/NICK) and fanout 1x500;
# then the NEW binary as node A of a two-node cluster: churn against node A.
set -u
OLD=$1; NEW=$2; BENCH=$3; O=$4; REPS=${5:-3}
mkdir -p "$O"; R=$O/results.jsonl; : > "$R"
rm -rf "$O"/old-* "$O"/new-* "$O"/ca-* "$O"/cb-* "$O"/redis-*
CONF=$(cd "$(dirname "$0")" && pwd)/bench.toml
start() { # BIN DIR PORT [extra toml]
  mkdir -p $2; { sed "s/^\[server\]\$/[server]\nworker_threads = 1/" $CONF; printf '%b' "${4:-}"; } > $2/banterd.toml
  taskset -c 0 $1 --config $2/banterd.toml --listen 127.0.0.1:$3 --data-dir $2 2>$2/log & echo $! > $2/pid
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$3) 2>/dev/null && return; sleep 0.1; done
}
stopit() { kill $(cat $1/pid) 2>/dev/null; wait $(cat $1/pid) 2>/dev/null; }
for rep in $(seq $REPS); do
  for which in old new; do
    B=$OLD; [ $which = new ] && B=$NEW
    d=$O/$which-$rep; start $B $d 16701
    P=$(cat $d/pid)
    taskset -c 1 $BENCH churn --server 127.0.0.1:16701 --pid $P --clients 200 --channels 20 --warmup 1 --duration 5 --threads 1 --label $which >> $R 2>>$O/err
    taskset -c 1 $BENCH fanout --server 127.0.0.1:16701 --pid $P --channels 1 --members 500 --senders 8 --window 32 --warmup 2 --duration 5 --threads 1 --label $which >> $R 2>>$O/err
    stopit $d
  done
  # NEW as node a of a two-node cluster (node b idle), churn against a.
  rm -rf $O/redis-$rep; mkdir -p $O/redis-$rep
  taskset -c 0 redis-server --port 16790 --bind 127.0.0.1 --dir $O/redis-$rep --save '' --appendonly yes --appendfsync everysec >$O/redis-$rep/log 2>&1 & RP=$!
  sleep 0.5
  cl() { printf '\n[cluster]\nredis_url = "redis://127.0.0.1:16790/0"\nnode_name = "%s"\nseparate_stores = true\n' $1; }
  start $NEW $O/ca-$rep 16702 "$(cl a)"; start $NEW $O/cb-$rep 16703 "$(cl b)"
  taskset -c 1 $BENCH churn --server 127.0.0.1:16702 --pid $(cat $O/ca-$rep/pid) --clients 200 --channels 20 --warmup 1 --duration 5 --threads 1 --label cluster-a >> $R 2>>$O/err
  stopit $O/ca-$rep; stopit $O/cb-$rep; kill $RP; wait $RP 2>/dev/null
done
echo done >> $O/err
