# Shared by the bench scripts that start several banterd nodes and a
# redis-server (cluster.sh, cluster-snapshot.sh): sourced, not run.

# binaries: builds banterd and banter-bench unless BANTERD or BENCH name
# prebuilt ones, and sets both; raises the open-file limit to the hard one;
# fails if redis-server is missing.
binaries() {
    if [ -z "${BANTERD:-}${BENCH:-}" ]; then cargo build --release --bin banterd --bin banter-bench; fi
    BANTERD=${BANTERD:-target/release/banterd}
    BENCH=${BENCH:-target/release/banter-bench}
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    command -v redis-server >/dev/null || { echo "redis-server is not installed (apt-get install redis-server)" >&2; exit 1; }
}

# free_port: a free TCP port on 127.0.0.1.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_port PORT [PID]: up to 60 s for a listener; fails early if PID died.
wait_port() {
    for _ in $(seq 1 600); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        if [ -n "${2:-}" ] && ! kill -0 "$2" 2>/dev/null; then break; fi
        sleep 0.1
    done
    echo "nothing listening on 127.0.0.1:$1" >&2
    return 1
}
