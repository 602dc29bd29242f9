"""The instrumented metrics: bookmaker requests counted and timed by outcome, with bounded labels."""

from __future__ import annotations

import pytest

from streams.metrics import REGISTRY, error_kind, observe_projection_batch, observe_request
from streams.sources.model import SourceError


def _requests(book: str, endpoint: str, outcome: str) -> float:
    labels = {"bookmaker": book, "endpoint": endpoint, "outcome": outcome}
    return REGISTRY.get_sample_value("oddstream_scrape_requests_total", labels) or 0.0


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (SourceError("bet9ja", "event", "http 503 (after 3 attempts)"), "http 503"),
        (SourceError("betpawa", "event", "gone"), "gone"),
        (SourceError("sportybet", "event", "bad JSON (http 200, 1234 bytes)"), "bad JSON"),
        (SourceError("sportybet", "event", "client error: ClientPayloadError: truncated"), "client error"),
        (SourceError("sportybet", "event", "connection error: ServerDisconnectedError"), "connection error"),
        (TimeoutError(), "TimeoutError"),
    ],
)
def test_error_kind_drops_the_details(exc: BaseException, kind: str) -> None:
    assert error_kind(exc) == kind


def test_observe_request_counts_each_outcome_and_times_every_request() -> None:
    book = "unit-book"
    timed = REGISTRY.get_sample_value("oddstream_scrape_request_seconds_count", {"bookmaker": book, "endpoint": "e"})
    assert timed is None
    with observe_request(book, "e"):
        pass
    with pytest.raises(SourceError), observe_request(book, "e"):
        raise SourceError(book, "e", "http 502")
    with pytest.raises(SourceError), observe_request(book, "e"):
        raise SourceError(book, "e", "http 502")
    assert _requests(book, "e", "ok") == 1
    assert _requests(book, "e", "http 502") == 2
    count = REGISTRY.get_sample_value("oddstream_scrape_request_seconds_count", {"bookmaker": book, "endpoint": "e"})
    assert count == 3


def test_projection_batches() -> None:
    observe_projection_batch("unit-projection", 120, 100, 0.3)
    observe_projection_batch("unit-projection", 30, 30, 0.1)
    labels = {"projection": "unit-projection"}
    assert REGISTRY.get_sample_value("oddstream_projection_batch_records_sum", labels) == 150
    assert REGISTRY.get_sample_value("oddstream_projection_batch_records_count", labels) == 2
    assert REGISTRY.get_sample_value("oddstream_projection_events_applied_total", labels) == 130
    assert REGISTRY.get_sample_value("oddstream_projection_batch_seconds_sum", labels) == pytest.approx(0.4)
