"""SIGKILL at seeded moments while a known stream is ingested: nothing lost, nothing doubled.

Each trial kills workers twice (mid-batch, right after a projection commit, or while the group
rebalances with two workers), restarts them as a supervisor would, and then holds the tables and
the live board against the fold of the events produced (``harness.Expected``).
"""

from __future__ import annotations

import pytest

from tests.reliability.conftest import trials
from tests.reliability.scenarios import CRASH_MODES, Env, crash_trial

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.true_kafka]

CASES = [(seed, CRASH_MODES[seed % len(CRASH_MODES)]) for seed in range(trials())]


@pytest.mark.parametrize(("seed", "mode"), CASES, ids=[f"{m}-seed{s}" for s, m in CASES])
async def test_sigkill_loses_and_doubles_nothing(env: Env, seed: int, mode: str) -> None:
    out = await crash_trial(env, seed, mode)
    print(out)
    assert out.kills == 2
    if out.verdict.timed_out:
        # open defect 3 of bench/README.md ("What is not yet zero"): rare, reported with its lag
        pytest.xfail(f"the restarted worker did not settle in time: {out}")
    assert out.verdict.expected_rows > 500, "the stream changed too little to prove anything"
    # the projection alone: every change on odds.changes is in odds_history exactly once
    assert out.verdict.topic_doubled == 0, str(out)
    if out.verdict.topic_lost:
        # open defect 2 of bench/README.md: seen once in 21 trials, reported with the whole verdict
        pytest.xfail(f"the projection resumed past a record after a kill: {out}")
    if not out.verdict.clean:
        # end to end (tables and live board against the fold of what was produced) this fails when
        # a kill lands where the board's table writes are not yet in its changelog although the
        # offsets are committed: "Known defect" in bench/README.md
        pytest.xfail(f"the board restarted from an older table than its committed offsets: {out}")
