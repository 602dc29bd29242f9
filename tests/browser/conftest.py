"""The browser tests drive real processes: reuse the integration fixtures (broker, database, procs)."""

from tests.integration.conftest import (  # noqa: F401 - fixtures are found by name
    _true_kafka_gate,
    admin_dsn,
    broker,
    database_url,
    procs,
    settings,
)
