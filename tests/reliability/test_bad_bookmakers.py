"""One bookmaker misbehaving for a whole run (hangs, 403 storm, garbage): the run completes or fails
with the reason, and the other bookmakers' boards are exactly those of a clean run."""

from __future__ import annotations

import json

import pytest

from tests.reliability.conftest import trials
from tests.reliability.scenarios import Env, bad_bookmaker

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.true_kafka]


# a hanging bookmaker costs a run its client timeouts (3 x 10 s): only with the full count, to keep CI short
CASES = [("403", "sportybet"), ("garbage", "betpawa")] + ([("hang", "bet9ja")] if trials() > 3 else [])


@pytest.mark.parametrize(("kind", "bookmaker"), CASES)
async def test_a_bad_bookmaker_costs_only_its_own_boards(env: Env, kind: str, bookmaker: str) -> None:
    out = await bad_bookmaker(env, kind, bookmaker)
    print(out)
    assert out.extra["exit"] in (0, 1), out.notes  # completed, or failed with the reason (not a timeout)
    run = out.extra["run"]
    assert run is not None and run["status"] in ("completed", "failed"), run
    if run["status"] == "failed" or out.extra["exit"] == 1 or run.get("failed"):
        assert run["errors"] and bookmaker in json.dumps(run["errors"]), run  # the reason names the bookmaker
    assert out.extra["faulty_counts"].get(bookmaker, 0) == 0 or kind != "hang", out.extra
    assert out.events > 0 and out.verdict.lost == 0, str(out)
