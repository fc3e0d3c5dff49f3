#!/usr/bin/env bash
# Run the irctest conformance suite against banterd the way IRC servers test themselves: a fresh
# banterd per test, configured by tests/irctest/banterd_controller.py for what the test asks.
#
#   scripts/irctest.sh [--expected FILE] [--update-expected] [pytest args...]
#   scripts/irctest.sh                                   # the whole suite, both selections
#   scripts/irctest.sh irctest/server_tests/join.py -k part   (paths relative to irctest)
#   scripts/irctest.sh -m 'not implementation-specific'  # irctest's default selection only
#
# It builds target/release/banterd, makes a Python venv with irctest's requirements (pytest,
# pytest-xdist, pytest-timeout) if there is none, and runs the tests in a few pytest-xdist workers,
# each test's banterd on its own ports and in its own temp dir.
#   --expected FILE      after the run, fail (exit 1) if a test listed in FILE did not pass, and
#                        name the passing tests FILE lacks (.ci/run uses tests/irctest/expected-pass.txt)
#   --update-expected    rewrite tests/irctest/expected-pass.txt with every test that passed
#   --cluster            test node A of a running two-node cluster instead of a single node (per
#                        test a redis-server and a node B beside it, see banterd_controller.py);
#                        with --expected, the tests tests/irctest/not-on-cluster.txt names (what a
#                        cluster node does not offer yet) are taken out of the list
#
# Environment:
#   IRCTEST_DIR       the irctest checkout (default: ../shared/irctest beside the repository)
#   IRCTEST_VENV      the venv (default: $HOME/.cache/banter-irctest-venv)
#   IRCTEST_WORKERS   pytest-xdist workers (default 4; 0 runs in one process)
#   IRCTEST_TIMEOUT   per-test timeout in seconds (default 120)
#   IRCTEST_OUT_DIR   where results.tsv, junit.xml and irctest.log go
#                     (default target/irctest/run-YYYYmmdd-HHMMSS)
#   BANTERD_BIN       the banterd to test (default target/release/banterd, built here)
#
# Last lines: the counts of the default selection and of the implementation-specific tests, then
#   irctest: P passed, F failed, S skipped
# Exit status: 0 when pytest ran (failures only fail the run through --expected), 2 on a setup error.
set -uo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
expected=""
update=""
cluster=""
args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --expected) expected="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"; shift 2 ;;
    --update-expected) update="$repo/tests/irctest/expected-pass.txt"; shift ;;
    --cluster) cluster=1; shift ;;
    *) args+=("$1"); shift ;;
  esac
done

irctest_dir="${IRCTEST_DIR:-$repo/../shared/irctest}"
if [ ! -f "$irctest_dir/conftest.py" ]; then
  echo "irctest.sh: no irctest at $irctest_dir (set IRCTEST_DIR)" >&2
  exit 2
fi
irctest_dir="$(cd "$irctest_dir" && pwd)"

venv="${IRCTEST_VENV:-$HOME/.cache/banter-irctest-venv}"
py="$venv/bin/python"
if ! "$py" -c 'import pytest, xdist, pytest_timeout, ecdsa, filelock, websockets' 2>/dev/null; then
  echo "irctest.sh: making the Python venv at $venv" >&2
  python3 -m venv "$venv" || { echo "irctest.sh: python3 -m venv failed (apt-get install python3-venv)" >&2; exit 2; }
  "$venv/bin/pip" install -q -r "$irctest_dir/requirements.txt" pytest-xdist pytest-timeout ||
    { echo "irctest.sh: pip install failed" >&2; exit 2; }
fi

if [ -z "${BANTERD_BIN:-}" ]; then
  (cd "$repo" && cargo build --release --bin banterd -q) || { echo "irctest.sh: cargo build failed" >&2; exit 2; }
  export BANTERD_BIN="$repo/target/release/banterd"
fi
command -v faketime >/dev/null ||
  echo "irctest.sh: faketime not installed: the ELIST C/T tests will sleep for real (apt-get install faketime)" >&2

out="${IRCTEST_OUT_DIR:-$repo/target/irctest/run-$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out/tmp" || exit 2
out="$(cd "$out" && pwd)"
if [ -n "$cluster" ]; then
  export BANTERD_CLUSTER=1
  command -v redis-server >/dev/null || { echo "irctest.sh: --cluster needs redis-server (apt-get install redis-server)" >&2; exit 2; }
  if [ -n "$expected" ]; then
    grep -v -x -F -f <(grep -v -e '^#' -e '^$' "$repo/tests/irctest/not-on-cluster.txt") "$expected" >"$out/expected-cluster.txt"
    expected="$out/expected-cluster.txt"
  fi
fi
workers="${IRCTEST_WORKERS:-4}"
xdist_args=()
[ "$workers" != "0" ] && xdist_args=(-n "$workers")

echo "irctest.sh: irctest in $irctest_dir, output in $out" >&2
start=$(date +%s)
(
  cd "$irctest_dir" &&
    PYTHONPATH="$repo/tests/irctest${PYTHONPATH:+:$PYTHONPATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    TMPDIR="$out/tmp" \
    IRCTEST_RESULTS="$out/results.tsv" \
    "$py" -m pytest \
      --controller banterd_controller \
      -p results_plugin \
      -p no:cacheprovider \
      --ignore=irctest/self_tests --ignore=irctest/client_tests \
      -q -rfEs \
      --junitxml="$out/junit.xml" \
      --timeout="${IRCTEST_TIMEOUT:-120}" \
      "${xdist_args[@]}" \
      "${args[@]}"
) >"$out/irctest.log" 2>&1
rc=$?
tail -n 5 "$out/irctest.log"
echo "irctest.sh: pytest exited $rc after $(( $(date +%s) - start ))s; full log in $out/irctest.log"
if [ ! -s "$out/results.tsv" ]; then
  echo "irctest.sh: no results (see $out/irctest.log)" >&2
  tail -n 30 "$out/irctest.log" >&2
  exit 2
fi
gate_args=()
[ -n "$update" ] && gate_args+=(--update "$update")
if [ -n "$expected" ]; then
  gate_args+=(--expected "$expected")
  # A listed test that failed is run once more on its own before it counts as a
  # regression: timing-sensitive tests can lose a race with four workers on two cores.
  "$py" "$repo/tests/irctest/gate.py" "$out/results.tsv" --expected "$expected" \
    --failed-out "$out/failed-once.txt" >/dev/null
  if [ -s "$out/failed-once.txt" ]; then
    echo "irctest.sh: running $(wc -l <"$out/failed-once.txt") failed listed tests again, one at a time"
    mapfile -t again <"$out/failed-once.txt"
    (
      cd "$irctest_dir" &&
        PYTHONPATH="$repo/tests/irctest${PYTHONPATH:+:$PYTHONPATH}" PYTHONDONTWRITEBYTECODE=1 \
        TMPDIR="$out/tmp" IRCTEST_RESULTS="$out/retry.tsv" \
        "$py" -m pytest --controller banterd_controller -p results_plugin -p no:cacheprovider \
          -q -rfE --timeout="${IRCTEST_TIMEOUT:-120}" "${again[@]}"
    ) >"$out/retry.log" 2>&1
    "$py" "$repo/tests/irctest/gate.py" "$out/results.tsv" "$out/retry.tsv" "${gate_args[@]}"
    exit $?
  fi
fi
"$py" "$repo/tests/irctest/gate.py" "$out/results.tsv" "${gate_args[@]}"
