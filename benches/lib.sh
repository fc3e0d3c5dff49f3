# Shared by the bench scripts that run one banterd at a time (history.sh,
# store.sh): sourced, not run. Uses OUT (the run's folder) and PORT; sets PID.

PID=

# stop: ends the banterd started by `start`, if any.
stop() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    PID=
}

# wait_port: waits up to 30 s for something to listen on 127.0.0.1:$PORT.
wait_port() {
    for _ in $(seq 1 300); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$PORT" >&2
    exit 1
}

# start LABEL DATA_DIR EXTRA_CONFIG: banterd on $PORT with benches/bench.toml
# plus EXTRA_CONFIG, its config and log in $OUT/LABEL; returns once it listens.
start() {
    mkdir -p "$OUT/$1"
    { cat benches/bench.toml; printf '\n%s\n' "$3"; } >"$OUT/$1/banterd.toml"
    target/release/banterd --config "$OUT/$1/banterd.toml" --listen "127.0.0.1:$PORT" \
        --data-dir "$2" 2>>"$OUT/$1/banterd.log" &
    PID=$!
    wait_port
}
