"""Committed offsets ahead of the board's table: the skipped observations are read back."""

from __future__ import annotations

import pytest

from tests.reliability.scenarios import Env, skipped_offsets

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.true_kafka]


async def test_observations_behind_the_committed_offsets_are_still_applied(env: Env) -> None:
    out = await skipped_offsets(env, seed=11)
    print(out)
    assert out.extra["skipped"] > 0
    assert out.verdict.clean, str(out)
