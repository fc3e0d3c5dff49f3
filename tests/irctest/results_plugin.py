"""pytest plugin for scripts/irctest.sh: records one outcome per test.

Loaded with ``-p results_plugin``. On the controlling process (also under
pytest-xdist, where reports arrive from the workers) it folds each test's
setup/call/teardown reports into one outcome (passed, failed or skipped; an
xfail counts as skipped, an xpass as passed, as JUnit XML has them) and
whether the test is implementation-specific (the Ergo-/Sable-only tests
irctest's default selection leaves out). At the end it
writes them to ``$IRCTEST_RESULTS`` as tab-separated ``nodeid outcome
selection reason`` lines, which tests/irctest/gate.py summarises and checks.
"""

import os
from typing import Dict, Tuple

_outcomes: Dict[str, Tuple[str, str, str]] = {}
_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def _reason(report) -> str:  # type: ignore[no-untyped-def]
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    if report.failed:
        text = getattr(report, "longreprtext", "") or ""
        lines = [line[1:] for line in text.splitlines() if line.startswith("E ")]
        lines = lines or text.strip().splitlines()[-1:]
        return lines[0].strip() if lines else ""
    return ""


def pytest_runtest_logreport(report) -> None:  # type: ignore[no-untyped-def]
    if report.when == "call" and report.passed:
        outcome = "passed"  # an unexpected pass of an xfail test too, as in JUnit XML
    elif report.failed:
        outcome = "failed"
    elif report.skipped:
        outcome = "skipped"
    else:
        return
    selection = "specific" if "implementation-specific" in report.keywords else "default"
    reason = " ".join(_reason(report).split())[:300]
    old = _outcomes.get(report.nodeid)
    if old is None or _RANK[outcome] > _RANK[old[0]]:
        _outcomes[report.nodeid] = (outcome, selection, reason)


def pytest_sessionfinish(session, exitstatus) -> None:  # type: ignore[no-untyped-def]
    path = os.environ.get("IRCTEST_RESULTS")
    if not path or hasattr(session.config, "workerinput"):
        return  # an xdist worker: the controlling process writes the file
    with open(path, "w") as f:
        for nodeid in sorted(_outcomes):
            outcome, selection, reason = _outcomes[nodeid]
            f.write(f"{nodeid}\t{outcome}\t{selection}\t{reason}\n")
