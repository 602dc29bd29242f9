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
    assert out.verdict.expected_rows > 500, "the stream changed too little to prove anything"
    # the projection alone: every change on odds.changes is in odds_history exactly once
    assert (out.verdict.topic_lost, out.verdict.topic_doubled) == (0, 0), str(out)
    # end to end: tables and live board equal the fold of what was produced, and the group's
    # committed offsets caught up with the end of the topics
    assert out.verdict.clean, str(out)
    assert not out.verdict.timed_out, str(out)
