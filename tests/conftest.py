"""The whole run: the order files are handed out in, and what each test process said about the parts
it picked, in the terminal summary.

The suite runs in two processes (pytest-xdist, ``--dist loadfile``); each starts its own broker and
database when its tests need them. A worker hands its lines to the controller at the end of its
session, and the controller prints them all once.

Files are handed out longest first (``--no-loadscope-reorder`` keeps the order given here): the
files of a minute or more by their measured cost, then the rest by floor (reliability, browser,
integration, then the fast ones). Left to xdist, files went out by their number of tests, so the
slowest ones (one or two tests each) came last and one process ran them alone while the other idled.
Refresh ``LONGEST`` from ``python -m pytest --durations=40`` when a file's cost changes a lot.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.said import SAID

_GATHERED: list[str] = []

LONGEST: tuple[str, ...] = (
    "tests/integration/test_up.py",
    "tests/reliability/test_crashes.py",
    "tests/reliability/test_broker_restart.py",
    "tests/integration/test_replay.py",
    "tests/integration/test_up_tansu.py",
    "tests/integration/test_mixed_records.py",
    "tests/reliability/test_failover.py",
    "tests/integration/test_runtime_brokers.py",
    "tests/integration/test_replay_brokers.py",
    "tests/reliability/test_bad_bookmakers.py",
    "tests/integration/test_metrics.py",
    "tests/integration/test_board.py",
    "tests/browser/test_dashboard.py",
    "tests/integration/test_pipeline.py",
)
"""Files measured at a minute or more of one process's time (the last full run's ``--durations``)."""
FLOORS: tuple[str, ...] = ("tests/reliability/", "tests/browser/", "tests/integration/", "tests/contract/")


def _cost_rank(item: pytest.Item) -> tuple[int, int]:
    path = item.nodeid.split("::", 1)[0]
    if path in LONGEST:
        return 0, LONGEST.index(path)
    floor = next((i for i, prefix in enumerate(FLOORS) if path.startswith(prefix)), len(FLOORS))
    return 1 + floor, 0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_cost_rank)  # stable: a file's tests keep their order


def pytest_sessionfinish(session: pytest.Session) -> None:
    output = getattr(session.config, "workeroutput", None)
    if output is not None:  # an xdist worker: hand the lines to the controller
        output["said"] = list(SAID)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    _GATHERED.extend(getattr(node, "workeroutput", {}).get("said", []))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for line in dict.fromkeys([*SAID, *_GATHERED]):
        terminalreporter.write_line(line)
