#!/usr/bin/env bash
# The register-burst benchmark of issue 14 item 2: for each banterd binary
# given, in turn (alternating when REPS > 1), a fresh banterd with
# benches/register-burst.toml in a temporary data dir, then
# `banter-bench register-burst` against it; one JSON line per run on stdout,
# the summaries on stderr.
#
#   benches/register-burst.sh OLD_BANTERD target/release/banterd
#   REPS=2 CLIENTS=256 IPS=16 benches/register-burst.sh A B
#
# A binary older than accounts.registrations_per_ip gets the config without
# that line. Everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BANTERD..." >&2; exit 2; }

REPS=${REPS:-1}
CLIENTS=${CLIENTS:-256}
IPS=${IPS:-16}
PORT=${PORT:-16690}
cargo build --release --bin banter-bench >&2
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

PID=
DIR=
stop() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        wait "$PID" 2>/dev/null || true
    fi
    [ -z "$DIR" ] || rm -rf "$DIR"
    PID=
    DIR=
}
trap stop EXIT

for rep in $(seq 1 "$REPS"); do
    for bin in "$@"; do
        DIR=$(mktemp -d /tmp/banter-burst.XXXXXX)
        cp benches/register-burst.toml "$DIR/config.toml"
        if ! grep -aq registrations_per_ip "$bin"; then
            sed -i '/registrations_per_ip/d' "$DIR/config.toml"
        fi
        "$bin" --config "$DIR/config.toml" --listen "127.0.0.1:$PORT" --data-dir "$DIR" 2>"$DIR/log" &
        PID=$!
        for _ in $(seq 1 100); do
            if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
            sleep 0.1
        done
        target/release/banter-bench register-burst --server "127.0.0.1:$PORT" --pid "$PID" \
            --clients "$CLIENTS" --ips "$IPS" --label "$bin"
        stop
        sleep 2
    done
done
