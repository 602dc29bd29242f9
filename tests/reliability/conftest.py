"""Reliability tests run on the integration tests' real parts: Apache Kafka and PostgreSQL.

The fixtures are the integration suite's own (imported, so these tests need no copy of them).
``ODDSTREAM_RELIABILITY_TRIALS`` sets the number of crash trials (default 3: one per kill mode,
what CI runs); ``python -m bench.reliability`` runs the full count.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.integration.conftest import TestBroker, _true_kafka_gate, admin_dsn, broker
from tests.reliability.scenarios import Env

__all__ = ["_true_kafka_gate", "admin_dsn", "broker", "env", "trials"]


def trials() -> int:
    return max(1, int(os.environ.get("ODDSTREAM_RELIABILITY_TRIALS", "3")))


@pytest.fixture
def env(broker: TestBroker, admin_dsn: str, tmp_path: Path) -> Env:
    return Env(kafka_url=broker.url, admin_dsn=admin_dsn, work_dir=tmp_path)
