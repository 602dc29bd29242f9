"""The instrumented metrics of one worker process: counters and histograms updated where the work happens.

Scrape requests per bookmaker (``observe_request``, called by the bookmaker HTTP clients) and
projection batches (``observe_projection_batch``, called by the projection agents) land in
``REGISTRY``; ``agents.metrics`` serves them on ``GET /metrics`` with the numbers read from the
running worker, every sample labelled with the worker.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client import Counter as PromCounter

__all__ = [
    "PROJECTION_BATCH_RECORDS",
    "PROJECTION_BATCH_SECONDS",
    "PROJECTION_EVENTS",
    "REGISTRY",
    "SCRAPE_REQUESTS",
    "SCRAPE_REQUEST_SECONDS",
    "error_kind",
    "observe_projection_batch",
    "observe_request",
]

REGISTRY: Final = CollectorRegistry(auto_describe=True)
"""The instrumented metrics of this process (one worker per process)."""

SCRAPE_REQUESTS: Final = PromCounter(
    "oddstream_scrape_requests",
    "HTTP requests to a bookmaker's API, by outcome (ok, or the kind of error; retried attempts count each)",
    ["bookmaker", "endpoint", "outcome"],
    registry=REGISTRY,
)
SCRAPE_REQUEST_SECONDS: Final = Histogram(
    "oddstream_scrape_request_seconds",
    "Duration of one HTTP request to a bookmaker's API, errors included",
    ["bookmaker", "endpoint"],
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
    registry=REGISTRY,
)
PROJECTION_BATCH_RECORDS: Final = Histogram(
    "oddstream_projection_batch_records",
    "Records per projection batch written to PostgreSQL",
    ["projection"],
    buckets=(1, 10, 50, 100, 500, 1_000, 2_500, 5_000, 10_000),
    registry=REGISTRY,
)
PROJECTION_BATCH_SECONDS: Final = Histogram(
    "oddstream_projection_batch_seconds",
    "Time to decode and commit one projection batch (retries included)",
    ["projection"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
PROJECTION_EVENTS: Final = PromCounter(
    "oddstream_projection_events_applied",
    "Events a projection applied to PostgreSQL (already-applied redeliveries excluded)",
    ["projection"],
    registry=REGISTRY,
)


def error_kind(exc: BaseException) -> str:
    """A bounded label for a failed request: the cause without its details (``http 503``, ``timeout``)."""
    cause = str(getattr(exc, "cause", "") or type(exc).__name__)
    return cause.split(":", 1)[0].split("(", 1)[0].strip() or type(exc).__name__


@contextmanager
def observe_request(bookmaker: str, endpoint: str) -> Iterator[None]:
    """Count and time one HTTP request of a bookmaker client (wrap the single attempt)."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = error_kind(exc)
        raise
    finally:
        SCRAPE_REQUESTS.labels(bookmaker, endpoint, outcome).inc()
        SCRAPE_REQUEST_SECONDS.labels(bookmaker, endpoint).observe(time.perf_counter() - started)


def observe_projection_batch(projection: str, records: int, applied: int, seconds: float) -> None:
    """Record one committed projection batch."""
    PROJECTION_BATCH_RECORDS.labels(projection).observe(records)
    PROJECTION_BATCH_SECONDS.labels(projection).observe(seconds)
    PROJECTION_EVENTS.labels(projection).inc(applied)
