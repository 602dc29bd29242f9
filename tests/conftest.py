"""The whole run: what each test process said about the parts it picked, in the terminal summary.

The suite runs in two processes (pytest-xdist, ``--dist loadfile``); each starts its own broker and
database when its tests need them. A worker hands its lines to the controller at the end of its
session, and the controller prints them all once.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.said import SAID

_GATHERED: list[str] = []


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
