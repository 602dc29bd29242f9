"""The key-routed views answer from the first second of a worker, before it has any metadata.

In its first seconds a worker's producer has no partition metadata, and routing a key to its
owner raised a TypeError deep in the client: a 500 to whoever asked (the dashboard polls `/runs/{id}`
right after "Scrape now").
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid

import pytest

from streams.settings import Settings
from tests.integration.conftest import Processes

pytestmark = pytest.mark.integration


def _status(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:  # not listening yet
        return None


async def test_key_routed_views_never_answer_500_while_a_worker_starts(procs: Processes, settings: Settings) -> None:
    procs.start("worker", "worker", settings=settings)
    base = f"http://127.0.0.1:{settings.web_port}"
    paths = [f"/runs/{uuid.uuid4()}", "/odds/events/70000001", "/runs", "/odds/events"]
    seen: dict[str, set[int]] = {p: set() for p in paths}
    deadline = time.monotonic() + 90
    ready_since: float | None = None
    while time.monotonic() < deadline:
        for path in paths:
            status = _status(base + path)
            if status is not None:
                seen[path].add(status)
        if _status(base + "/health") == 200:
            ready_since = ready_since or time.monotonic()
            if time.monotonic() - ready_since > 3:
                break
        time.sleep(0.02)
    assert ready_since is not None, seen
    assert all(seen.values()), seen  # every view answered something while the worker came up
    assert not {s for statuses in seen.values() for s in statuses} - {200, 404, 503}, seen
