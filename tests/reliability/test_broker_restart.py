"""Apache Kafka restarted mid-ingest (its data kept on disk): the worker either reconnects or exits
and a supervisor restart brings it back; either way nothing is lost and nothing doubled."""

from __future__ import annotations

import pytest

from tests.reliability.scenarios import Env, broker_restart

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.true_kafka]


async def test_broker_restart_mid_ingest(env: Env) -> None:
    out = await broker_restart(env, seed=41, down_s=5.0, cycles=4)  # bench.reliability runs 10 s, 6 cycles
    print(out)
    assert not out.verdict.timed_out, str(out)
    assert (out.verdict.topic_lost, out.verdict.topic_doubled) == (0, 0), str(out)
    assert out.verdict.clean, str(out)
