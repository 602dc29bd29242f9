"""PostgreSQL refusing the database during ingest (12 s here, ``ODDSTREAM_RELIABILITY_OUTAGE_S`` to
change it; ``python -m bench.reliability`` runs 30 s).

The projection retries with backoff, the board keeps serving from its table, ``/health`` answers
503 naming the database, and once the database is back everything catches up with nothing lost.
"""

from __future__ import annotations

import os

import pytest

from tests.reliability.scenarios import Env, database_outage

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.true_kafka]

OUTAGE_S = float(os.environ.get("ODDSTREAM_RELIABILITY_OUTAGE_S", "12"))


async def test_database_outage_backs_off_serves_and_catches_up(env: Env) -> None:
    out = await database_outage(env, seed=11, seconds=OUTAGE_S)
    print(out)
    assert out.extra["retry_logged"], "the projection never had to retry: the outage missed the ingest"
    checks = out.extra["health_checks"]
    assert checks > 0 and out.extra["health_503"] >= checks - 2, out.notes  # the first poll may race the block
    assert out.extra["board_ok"] == out.extra["board_total"] > 0, out.notes
    assert out.verdict.clean, str(out)
