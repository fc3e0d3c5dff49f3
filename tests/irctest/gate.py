"""Summarise an irctest run of banterd and check it against the expected passes.

    python3 gate.py RESULTS [RETRY_RESULTS] [--expected FILE] [--update FILE]
                    [--failed-out FILE]

RESULTS is the file tests/irctest/results_plugin.py wrote. Prints the counts of
the default selection (what irctest runs without implementation-specific
tests) and of the implementation-specific tests, then, with --expected, every
listed test that did not pass (a regression: exit status 1) and every passing
test the list does not have yet (reported only, so the list can grow). With
--update it rewrites FILE with every test that passed. The last line is always
``irctest: P passed, F failed, S skipped`` over all tests that ran.

With --failed-out it writes the listed tests that did not pass, one node id a
line, so scripts/irctest.sh can run them once more on their own; given that
second run's results (RETRY_RESULTS), a listed test counts as passed if it
passed there (it is reported as flaky), and a regression only if it failed twice.

A listed test that did not run at all (a narrower selection than the list's)
is not a regression: the gate only judges what it saw.
"""

import argparse
import collections
import os
import sys
from typing import Dict, Set, Tuple


def read_results(path: str) -> Dict[str, Tuple[str, str]]:
    results = {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                results[parts[0]] = (parts[1], parts[2])
    return results


def read_list(path: str) -> Set[str]:
    with open(path) as f:
        return {line.strip() for line in f if line.strip() and not line.startswith("#")}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("results")
    parser.add_argument("retry", nargs="?")
    parser.add_argument("--failed-out")
    parser.add_argument("--expected")
    parser.add_argument("--update")
    args = parser.parse_args()

    results = read_results(args.results)
    counts: Dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for outcome, selection in results.values():
        counts[selection][outcome] += 1
        counts["all"][outcome] += 1

    retried = read_results(args.retry) if args.retry and os.path.exists(args.retry) else {}
    status = 0
    if args.expected:
        expected = read_list(args.expected)
        failed_once = sorted(t for t in expected if t in results and results[t][0] != "passed")
        if args.failed_out:
            with open(args.failed_out, "w") as f:
                f.writelines(t + "\n" for t in failed_once)
        for t in failed_once:
            if retried.get(t, ("",))[0] == "passed":
                print(f"irctest gate: flaky, passed when run again alone: {t}")
        regressions = [t for t in failed_once if retried.get(t, ("",))[0] != "passed"]
        new = sorted(t for t, (o, _) in results.items() if o == "passed" and t not in expected)
        for t in new:
            print(f"irctest gate: new pass (add it to {args.expected}): {t}")
        for t in regressions:
            print(f"irctest gate: REGRESSION, expected to pass but {results[t][0]}: {t}")
        if regressions:
            status = 1
        print(
            f"irctest gate: {len(regressions)} regressions, {len(new)} new passes, "
            f"{sum(1 for t in expected if t in results)} of {len(expected)} listed tests ran"
        )
    if args.update:
        with open(args.update, "w") as f:
            f.write(
                "# irctest tests banterd must pass (.ci/run fails if one does not, after one retry alone).\n"
                "# Regenerate after a full run: scripts/irctest.sh --update-expected (then drop tests that\n"
                "# failed in an earlier full run: timing-sensitive tests that lose races under load).\n"
            )
            for t in sorted(t for t, (o, _) in results.items() if o == "passed"):
                f.write(t + "\n")
        print(f"irctest gate: wrote {args.update}")

    for name, label in (("default", "default selection"), ("specific", "implementation-specific")):
        c = counts[name]
        print(f"{label}: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    c = counts["all"]
    print(f"irctest: {c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    return status


if __name__ == "__main__":
    sys.exit(main())
