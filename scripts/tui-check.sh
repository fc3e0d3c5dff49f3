#!/usr/bin/env bash
# Checks banter's terminal UI under tmux against a real banterd:
#   register (password masked), room list, join, chat arriving while a line
#   is half typed (the input line must survive intact), Tab completion, LIST,
#   resize, LOGOUT.
# Usage: scripts/tui-check.sh            (builds first; needs tmux)
#        KEEP=1 scripts/tui-check.sh     (leave the temp dir for inspection)
#        BANTER=path BANTERD=path scripts/tui-check.sh   (use these binaries,
#                                         no build; tests/client.rs does this)
# Prints the screen at each step and exits non-zero on the first failure.
set -euo pipefail

cd "$(dirname "$0")/.."
command -v tmux >/dev/null || { echo "tui-check: tmux is not installed" >&2; exit 2; }
if [ -z "${BANTER:-}" ] || [ -z "${BANTERD:-}" ]; then
    CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build --quiet --bin banter --bin banterd
fi
BANTER=${BANTER:-target/debug/banter}
BANTERD=${BANTERD:-target/debug/banterd}

TMP=$(mktemp -d)
SESSION="banter-tui-check"
SERVER_PID=""
# A tmux server of its own (own socket, no user configuration): nothing else
# running tmux on this machine can disturb it, nor it them.
SOCKET="banter-tui-check-$$"
unset TMUX
tmux() { command tmux -L "$SOCKET" -f /dev/null "$@"; }
cleanup() {
    tmux kill-server 2>/dev/null || true
    exec 3>&- 2>/dev/null || true
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
    [ -n "${BOB_PID:-}" ] && kill "$BOB_PID" 2>/dev/null || true
    [ -n "${KEEP:-}" ] && echo "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

fail() { echo "tui-check: FAIL: $*" >&2; echo "--- screen ---" >&2; screen >&2; exit 1; }
screen() { tmux capture-pane -p -t "$SESSION"; }
# wait_screen TEXT: waits up to 30 s for TEXT to appear on the screen.
wait_screen() {
    for _ in $(seq 300); do
        screen | grep -qF -- "$1" && return 0
        sleep 0.1
    done
    fail "screen never showed: $1"
}
# wait_last_line TEXT: waits up to 30 s for the screen's last line to be TEXT.
wait_last_line() {
    for _ in $(seq 300); do
        [ "$(screen | tail -1)" = "$1" ] && return 0
        sleep 0.1
    done
    fail "the last line never became: $1"
}
# wait_width N: waits up to 30 s for the pane to be N columns wide.
wait_width() {
    for _ in $(seq 300); do
        [ "$(tmux display-message -p -t "$SESSION" '#{pane_width}')" = "$1" ] && return 0
        sleep 0.1
    done
    fail "the pane never became $1 columns wide"
}
# wait_file FILE TEXT: waits up to 30 s for TEXT in FILE.
wait_file() {
    for _ in $(seq 300); do
        grep -qF -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    fail "$1 never showed: $2"
}

# A fresh server on an ephemeral port (cheap password hashing: a quick check).
mkdir -p "$TMP/data"
printf '[accounts]\nargon2_memory_kib = 1024\nargon2_iterations = 1\n' >"$TMP/banterd.toml"
"$BANTERD" --config "$TMP/banterd.toml" --listen 127.0.0.1:0 --data-dir "$TMP/data" 2>"$TMP/server.log" &
SERVER_PID=$!
wait_file "$TMP/server.log" "listening on"
ADDR=$(grep -o 'listening on [0-9.:]*' "$TMP/server.log" | head -1 | awk '{print $3}')
echo "banterd at $ADDR"

PASSWORD="tui-secret-password"
tmux new-session -d -s "$SESSION" -x 100 -y 24 \
    "$BANTER --server $ADDR; echo EXITED \$?; sleep 30"

wait_screen "Choose 1, 2 or 3:"
tmux send-keys -t "$SESSION" "1" Enter
wait_screen "Name:"
tmux send-keys -t "$SESSION" "alice" Enter
wait_screen "Password:"
tmux send-keys -t "$SESSION" "$PASSWORD"
# Every character typed shows, masked, before the check that none shows in clear.
wait_screen "Password: ${PASSWORD//?/*}"
screen | grep -qF "$PASSWORD" && fail "the password is visible while typed"
tmux send-keys -t "$SESSION" Enter
wait_screen "Password again:"
tmux send-keys -t "$SESSION" "$PASSWORD" Enter
wait_screen "Join a Chat Room or Create New:"
screen | grep -qF "$PASSWORD" && fail "the password is visible after login"
tmux send-keys -t "$SESSION" "room1" Enter
wait_screen "You joined room [room1]"
wait_screen "[room1] 1 member"

# Half a line typed when bob arrives and speaks.
tmux send-keys -t "$SESSION" "half typed line"
mkfifo "$TMP/bob.in"
"$BANTER" --plain --server "$ADDR" <"$TMP/bob.in" >"$TMP/bob.out" 2>&1 &
BOB_PID=$!
exec 3>"$TMP/bob.in"
printf '1\nbob\n%s\n%s\nroom1\nhello alice\n' "$PASSWORD" "$PASSWORD" >&3
wait_screen "bob joined room [room1] from <"
wait_screen "bob> hello alice"
wait_screen "[room1] 2 members"
# The input line is redrawn intact under what arrived (waited for: a capture
# taken mid-redraw may show it half drawn).
wait_last_line "[room1] half typed line"
echo "--- while typing, after bob spoke ---"
screen

# Finish the line: bob receives it.
tmux send-keys -t "$SESSION" " done" Enter
wait_file "$TMP/bob.out" "alice> half typed line done"

# Tab completes a nick in the room.
tmux send-keys -t "$SESSION" "bo" Tab "thanks" Enter
wait_file "$TMP/bob.out" "alice> bob: thanks"

# LIST shows addresses; a resize keeps everything readable.
tmux send-keys -t "$SESSION" "LIST" Enter
wait_screen "People in room [room1] (2):"
wait_screen "bob <"
tmux resize-window -t "$SESSION" -x 60 -y 12
wait_width 60
# The old status line (64 columns) cannot show whole at 60 until banter
# redraws it to fit.
wait_screen "[room1] 2 members | connected"
wait_last_line "[room1]"
echo "--- after LIST, resized to 60x12 ---"
screen

tmux resize-window -t "$SESSION" -x 100 -y 24
wait_width 100
tmux send-keys -t "$SESSION" "LOGOUT" Enter
wait_screen "Bye, alice"
wait_screen "EXITED 0"
wait_file "$TMP/bob.out" "alice left room [room1]"
echo "--- after LOGOUT ---"
screen | grep -v '^$'
echo "tui-check: OK"
