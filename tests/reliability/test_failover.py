"""Two workers; one is SIGKILLed for good: the survivor takes every partition, table shard and
route; no event is lost; every silent run is reported stale exactly once."""

from __future__ import annotations

import pytest

from tests.reliability.scenarios import Env, failover

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.true_kafka]


async def test_failover_to_the_survivor(env: Env) -> None:
    out = await failover(env, seed=21)
    print(out)
    assert out.kills == 1
    assert "both workers held partitions before the kill: True" in out.notes, out.notes
    assert all(n == 1 for n in out.extra["stale_counts"].values()), out.extra
    assert len(out.extra["stale_counts"]) == 8, out.extra
    assert (out.verdict.topic_lost, out.verdict.topic_doubled) == (0, 0), str(out)
    assert out.verdict.clean, str(out)
    assert not out.verdict.timed_out, str(out)
