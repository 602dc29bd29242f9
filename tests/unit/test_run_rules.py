from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agents.runs import scrape_command, stale_candidates
from streams.clock import NaiveTimestampError
from streams.events import (
    InvalidEvent,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunStale,
    RunStarted,
    ScrapeRequested,
)
from streams.run_rules import apply_run_event, is_stale

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ZONES = [
    UTC,
    ZoneInfo("Africa/Lagos"),
    ZoneInfo("Europe/London"),
    ZoneInfo("America/New_York"),
    ZoneInfo("Asia/Kathmandu"),
    timezone(timedelta(hours=-9, minutes=-30)),
]


def _fold(*events: object) -> dict[str, object]:
    state = None
    for ev in events:
        state, _ = apply_run_event(state, ev)  # type: ignore[arg-type]
    assert state is not None
    return state


def test_lifecycle_requested_running_completed() -> None:
    run = _fold(
        ScrapeRequested(run_id="r", trigger="api", occurred_at=T0, bookmakers=["betpawa"]),
        RunStarted(run_id="r", trigger="api", occurred_at=T0 + timedelta(seconds=1)),
        RunHeartbeat(run_id="r", observed=10, occurred_at=T0 + timedelta(seconds=6)),
        RunCompleted(run_id="r", observed=40, failed=1, errors=["x"], occurred_at=T0 + timedelta(seconds=9)),
    )
    assert run["status"] == "completed"
    assert run["trigger"] == "api" and run["bookmakers"] == ["betpawa"]
    assert run["requested_at"] == "2026-11-28T12:00:00+00:00"
    assert run["last_heartbeat_at"] == "2026-11-28T12:00:06+00:00"
    assert (run["observed"], run["failed"], run["errors"]) == (40, 1, ["x"])


def test_out_of_order_heartbeats_keep_the_latest() -> None:
    run = _fold(
        RunStarted(run_id="r", trigger="cli", occurred_at=T0),
        RunHeartbeat(run_id="r", occurred_at=T0 + timedelta(seconds=20)),
        RunHeartbeat(run_id="r", occurred_at=T0 + timedelta(seconds=10)),
    )
    assert run["last_heartbeat_at"] == "2026-11-28T12:00:20+00:00"


def test_late_events_after_stale_are_recorded_not_resurrecting() -> None:
    stale = _fold(
        RunStarted(run_id="r", trigger="cli", occurred_at=T0),
        RunStale(run_id="r", last_heartbeat_at=T0, stale_after_s=600, detected_at=T0 + timedelta(minutes=11)),
    )
    late, note = apply_run_event(stale, RunHeartbeat(run_id="r", occurred_at=T0 + timedelta(minutes=12)))
    assert late["status"] == "stale"
    assert late["last_heartbeat_at"] == stale["last_heartbeat_at"]  # the verdict's basis is kept
    assert note is not None and "after the run was stale" in note
    done, note = apply_run_event(late, RunCompleted(run_id="r", occurred_at=T0 + timedelta(minutes=13)))
    assert done["status"] == "stale"
    assert [e["event_type"] for e in done["late_events"]] == ["RunHeartbeat", "RunCompleted"]
    again, note = apply_run_event(
        done, RunStale(run_id="r", last_heartbeat_at=T0, stale_after_s=600, detected_at=T0 + timedelta(minutes=20))
    )
    assert again == done and note is None


def test_a_finished_run_never_goes_stale() -> None:
    failed = _fold(RunStarted(run_id="r", trigger="cli", occurred_at=T0), RunFailed(run_id="r", error="down"))
    after, note = apply_run_event(failed, RunStale(run_id="r", last_heartbeat_at=T0, stale_after_s=1, detected_at=T0))
    assert after["status"] == "failed" and note is None


# hypothesis takes naive bounds by its API; the values it generates carry the zones
_MIN, _MAX = datetime(2000, 1, 1), datetime(2100, 1, 1)  # noqa: DTZ001
aware = st.datetimes(min_value=_MIN, max_value=_MAX, timezones=st.sampled_from(ZONES))


@given(
    aware, st.integers(min_value=0, max_value=10**7), st.integers(min_value=1, max_value=10**6), st.sampled_from(ZONES)
)
def test_staleness_depends_only_on_the_instants(last: datetime, gap_s: int, threshold: int, view_zone: object) -> None:
    # arithmetic in UTC: wall-clock arithmetic in a zone is wrong across DST gaps
    now = (last.astimezone(UTC) + timedelta(seconds=gap_s)).astimezone(view_zone)  # type: ignore[arg-type]
    assert is_stale(last, now, threshold) == (gap_s > threshold)
    # the same instants written in any other zone give the same answer
    assert is_stale(last.astimezone(UTC), now.astimezone(ZONES[2]), threshold) == (gap_s > threshold)


@given(aware, st.integers(min_value=1, max_value=10**6), st.integers(min_value=1, max_value=10**6))
def test_heartbeats_from_the_future_are_never_stale(now: datetime, ahead_s: int, threshold: int) -> None:
    assert not is_stale((now.astimezone(UTC) + timedelta(seconds=ahead_s)).astimezone(now.tzinfo), now, threshold)


def test_across_a_dst_change() -> None:
    london = ZoneInfo("Europe/London")
    last = datetime(2026, 10, 25, 1, 30, tzinfo=london).replace(fold=0)  # BST, before clocks go back
    now = datetime(2026, 10, 25, 1, 20, tzinfo=london).replace(fold=1)  # GMT, 50 minutes later in real time
    assert is_stale(last, now, 40 * 60)
    assert not is_stale(last, now, 60 * 60)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(NaiveTimestampError):
        is_stale(datetime(2026, 1, 1), T0, 10)  # noqa: DTZ001 - the point of the test


def test_stale_candidates_only_running_runs() -> None:
    runs = [
        {"run_id": "a", "status": "running", "last_heartbeat_at": "2026-11-28T11:00:00+00:00"},
        {"run_id": "b", "status": "running", "last_heartbeat_at": "2026-11-28T12:59:00+01:00"},  # 11:59Z
        {"run_id": "c", "status": "completed", "last_heartbeat_at": "2026-11-28T11:00:00+00:00"},
        {"run_id": "d", "status": "requested", "last_heartbeat_at": None},
    ]
    assert stale_candidates(runs, T0, 600) == ["a"]


def test_scrape_command_validates_the_body() -> None:
    cmd = scrape_command({"bookmakers": ["betpawa"], "events": ["123"]}, trigger="api")
    assert cmd.trigger == "api" and cmd.bookmakers == ["betpawa"] and cmd.events == ["123"]
    assert scrape_command({}, trigger="api").bookmakers == []
    for bad, reason in [
        ([], "JSON object"),
        ({"bookmakers": ["bet365"]}, "unknown bookmakers"),
        ({"bookmakers": "betpawa"}, "must be a list"),
        ({"evnts": []}, "unknown fields"),
    ]:
        with pytest.raises(InvalidEvent, match=reason):
            scrape_command(bad, trigger="api")
