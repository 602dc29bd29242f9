"""Random bytes and bent events on every consumed topic, between the records of a known stream."""

from __future__ import annotations

import pytest

from tests.reliability.scenarios import Env, hostile_records

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.true_kafka]


async def test_hostile_records_are_lettered_once_with_a_reason(env: Env) -> None:
    out = await hostile_records(env, seed=31)
    print(out)
    assert out.extra["alive"], "a hostile record killed the worker"
    assert out.extra["invalid"] >= 40 and out.extra["unexplained"] == 0, out.notes
    assert out.verdict.expected_rows > 300, str(out)
    assert out.verdict.clean, str(out)
