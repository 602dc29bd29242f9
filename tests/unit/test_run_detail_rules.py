"""What a run keeps for its detail page: per-bookmaker counts, a heartbeat timeline, its duration;
and the per-bookmaker success rate and durations over a period."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from streams.events import RunCompleted, RunFailed, RunHeartbeat, RunStale, RunStarted, ScrapeRequested
from streams.run_rules import MAX_HEARTBEATS, bookmaker_summary, duration_s
from tests.unit.test_run_rules import _fold

T0 = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
BOOK = {"listed": 10, "events": 9, "markets": 900, "unmapped": 40, "errors": 1, "ms": 4200}


def _run(
    run_id: str, at: datetime, status: str, books: dict[str, dict[str, int]], took_s: float = 30
) -> dict[str, Any]:
    started = RunStarted(run_id=run_id, trigger="schedule", occurred_at=at)
    end = at + timedelta(seconds=took_s)
    if status == "completed":
        last: object = RunCompleted(run_id=run_id, occurred_at=end, per_bookmaker=books)
    elif status == "failed":
        last = RunFailed(run_id=run_id, occurred_at=end, error="down", per_bookmaker=books)
    else:
        last = RunStale(run_id=run_id, last_heartbeat_at=at, stale_after_s=600, detected_at=end, occurred_at=end)
    return _fold(started, RunHeartbeat(run_id=run_id, occurred_at=at, per_bookmaker=books), last)


def test_the_counts_per_bookmaker_are_kept_from_heartbeats_to_the_end() -> None:
    beat = RunHeartbeat(run_id="r", observed=5, occurred_at=T0 + timedelta(seconds=5), per_bookmaker={"bet9ja": BOOK})
    run = _fold(RunStarted(run_id="r", trigger="api", occurred_at=T0), beat)
    assert run["per_bookmaker"] == {"bet9ja": BOOK}
    done = {"bet9ja": {**BOOK, "events": 10, "errors": 0}}
    run = _fold(
        RunStarted(run_id="r", trigger="api", occurred_at=T0), beat, RunCompleted(run_id="r", per_bookmaker=done)
    )
    assert run["per_bookmaker"] == done
    # a failure without counts keeps the last ones seen
    run = _fold(RunStarted(run_id="r", trigger="api", occurred_at=T0), beat, RunFailed(run_id="r", error="x"))
    assert run["per_bookmaker"] == {"bet9ja": BOOK} and run["errors"] == ["x"]


def test_the_timeline_is_in_time_order_once_per_beat_and_bounded() -> None:
    start = RunStarted(run_id="r", trigger="api", occurred_at=T0)
    beats = [RunHeartbeat(run_id="r", observed=i, occurred_at=T0 + timedelta(seconds=5 * i)) for i in range(1, 4)]
    run = _fold(start, beats[2], beats[0], beats[1], beats[1])  # out of order, one redelivered
    assert [b["observed"] for b in run["heartbeats"]] == [0, 1, 2, 3]
    many = [RunHeartbeat(run_id="r", observed=i, occurred_at=T0 + timedelta(seconds=i)) for i in range(1, 400)]
    run = _fold(start, *many)
    timeline = run["heartbeats"]
    assert len(timeline) == MAX_HEARTBEATS
    assert timeline[0]["observed"] == 0 and timeline[-1]["observed"] == 399  # the start and the latest stay


def test_the_duration_runs_to_the_end_or_to_now() -> None:
    running = _fold(RunStarted(run_id="r", trigger="api", occurred_at=T0))
    assert duration_s(running, T0 + timedelta(seconds=12.5)) == 12.5
    assert duration_s(_run("a", T0, "completed", {}, took_s=42), T0 + timedelta(days=1)) == 42
    assert duration_s(_run("b", T0, "stale", {}, took_s=660), T0 + timedelta(days=1)) == 660
    assert duration_s(_fold(ScrapeRequested(run_id="c", trigger="api", occurred_at=T0)), T0) is None


def test_the_summary_counts_each_book_over_the_period() -> None:
    now = T0 + timedelta(days=1)
    ok, bad = {**BOOK, "errors": 0}, BOOK
    runs = [
        _run("r1", T0, "completed", {"betpawa": {**ok, "ms": 1000}, "bet9ja": {**bad, "ms": 5000}}),
        _run("r2", T0 + timedelta(hours=1), "completed", {"betpawa": {**ok, "ms": 3000}, "bet9ja": {**ok, "ms": 7000}}),
        _run("r3", T0 + timedelta(hours=2), "failed", {"betpawa": {**ok, "ms": 2000}}),
        _run("old", T0 - timedelta(days=8), "completed", {"betpawa": ok}),  # before the period
        _fold(RunStarted(run_id="live", trigger="api", occurred_at=T0)),  # not finished: counted by status only
    ]
    summary = bookmaker_summary(runs, now, days=7)
    assert summary["runs_by_status"] == {"completed": 2, "failed": 1, "running": 1}
    betpawa, bet9ja = summary["bookmakers"]["betpawa"], summary["bookmakers"]["bet9ja"]
    assert (betpawa["runs"], betpawa["succeeded"], betpawa["success_rate"]) == (3, 2, pytest.approx(0.6667))
    assert (betpawa["median_s"], betpawa["p90_s"]) == (2.0, 3.0)
    assert (bet9ja["runs"], bet9ja["succeeded"], bet9ja["success_rate"]) == (2, 1, 0.5)
    assert bet9ja["median_s"] == 6.0
    assert set(summary["bookmakers"]) == {"betpawa", "bet9ja"}
    assert bookmaker_summary(runs, now, days=1)["bookmakers"]["betpawa"]["runs"] == 3
    assert bookmaker_summary([], now, days=7) == {
        "days": 7,
        "since": (now - timedelta(days=7)).isoformat(),
        "runs_by_status": {},
        "bookmakers": {},
    }
