"""The runs agent and its watchdog: stale once, against the run's own state, announced before it moves."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from agents import runs
from streams.events import RunStale, RunStaleCheck, encode
from streams.ranges import RawRecord
from tests.agents.conftest import PARTITIONS, Harness, until

PLUS_ONE = timezone(timedelta(hours=1))
NOW = datetime(2026, 11, 28, 12, tzinfo=UTC)
STALE_AFTER_S = 600
WATCHDOG_PERIOD_S = 30


def run_event(h: Harness, event_type: str, run_id: str, at: datetime | str, **fields: Any) -> RawRecord:
    body = {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": at if isinstance(at, str) else at.isoformat(),
        "run_id": run_id,
        **fields,
    }
    return h.log.append("odds.runs", run_id, json.dumps(body).encode())


def as_records(h: Harness, checks: list[Any]) -> list[RawRecord]:
    return [h.log.append("odds.run-checks", c.run_id, encode(c)) for c in checks]


def the_runs(h: Harness) -> runs.Runs:
    return runs.Runs(h.worker.tables.runs, h.outbox, STALE_AFTER_S, PARTITIONS)


def status(h: Harness, run_id: str) -> str | None:
    run = h.worker.tables.runs.data.get(run_id)
    return None if run is None else str(run["status"])


async def test_a_silent_run_is_stale_once_and_offsets_are_compared_as_instants(harness: Harness) -> None:
    h = harness
    started = NOW - timedelta(seconds=STALE_AFTER_S)
    silent, alive, old_looking_new, naive = (f"run-{n}" for n in ("silent", "alive", "old", "naive"))
    records = [
        run_event(h, "RunStarted", silent, started, trigger="cli"),
        # +01:00 wall clock an hour "ahead" of UTC: the same instant, so it ages like the silent one
        run_event(h, "RunStarted", alive, started.astimezone(PLUS_ONE), trigger="cli"),
        # written as if it were now in UTC digits, but the offset says it was an hour before
        run_event(h, "RunStarted", old_looking_new, NOW.replace(tzinfo=None).isoformat() + "+01:00", trigger="cli"),
        run_event(h, "RunStarted", naive, NOW.replace(tzinfo=None).isoformat(), trigger="cli"),
    ]
    moved_after_ack: list[str | None] = []
    h.outbox.before_ack.append(lambda events: moved_after_ack.extend(status(h, e.run_id) for e in events))
    async with h.running("runs") as agent:
        await h.deliver(agent, records)
        await until(lambda: status(h, old_looking_new) == "running")
        # the first watchdog pass after the threshold: only the hour-old run is stale yet
        assert await runs.watchdog(the_runs(h), NOW) == [old_looking_new]
        # the +01:00 run keeps beating; the silent one does not
        beat = run_event(h, "RunHeartbeat", alive, (NOW + timedelta(seconds=5)).astimezone(PLUS_ONE), observed=1)
        await h.deliver(agent, [beat])
        await until(lambda: h.worker.tables.runs.data[alive]["observed"] == 1)
        later = NOW + timedelta(seconds=WATCHDOG_PERIOD_S)
        checks = await runs.watchdog(the_runs(h), later)
        assert sorted(checks) == sorted([silent, old_looking_new])  # the old one's verdict is not in yet
        # every check delivered twice, as two workers' watchdogs would send them
        sent = [e for e in h.outbox.published if isinstance(e, RunStaleCheck)]
        await h.deliver(agent, as_records(h, sent + sent))
        await until(lambda: status(h, silent) == "stale" and status(h, old_looking_new) == "stale")
        assert status(h, alive) == "running" and status(h, naive) is None  # never accepted
        # a heartbeat after the verdict is recorded; the run stays stale
        await h.deliver(agent, [run_event(h, "RunHeartbeat", silent, later + timedelta(seconds=1))])
        await until(lambda: h.worker.tables.runs.data[silent]["late_events"])
    stale = Counter(e.run_id for e in h.outbox.acked if isinstance(e, RunStale))
    assert stale == Counter({silent: 1, old_looking_new: 1})
    assert moved_after_ack == ["running", "running"]  # on the broker before the table moved
    run = h.worker.tables.runs.data[silent]
    assert run["status"] == "stale" and [e["event_type"] for e in run["late_events"]] == ["RunHeartbeat"]
    assert run["stale_detected_at"].endswith("+00:00")
    latency = datetime.fromisoformat(run["stale_detected_at"]) - datetime.fromisoformat(run["last_heartbeat_at"])
    assert STALE_AFTER_S < latency.total_seconds() <= STALE_AFTER_S + WATCHDOG_PERIOD_S
    assert [(r.key, "no UTC offset" in error) for r, error in h.outbox.letters] == [(naive.encode(), True)]


async def test_a_stale_check_for_a_finished_or_alive_run_announces_nothing(harness: Harness) -> None:
    h = harness
    done, alive = "run-done", "run-alive"
    records = [
        run_event(h, "RunStarted", done, NOW - timedelta(hours=1), trigger="api"),
        run_event(h, "RunCompleted", done, NOW - timedelta(minutes=50), observed=3),
        run_event(h, "RunStarted", alive, NOW - timedelta(seconds=5), trigger="api"),
    ]
    async with h.running("runs") as agent:
        await h.deliver(agent, records)
        await until(lambda: status(h, done) == "completed" and status(h, alive) == "running")
        checks = [RunStaleCheck(run_id=r, now=NOW) for r in (done, alive, "run-unknown")]
        await h.deliver(agent, as_records(h, checks))
        await h.deliver(agent, [run_event(h, "RunHeartbeat", alive, NOW)])
        await until(lambda: h.worker.tables.runs.data[alive]["last_heartbeat_at"] == NOW.isoformat())
    assert [e for e in h.outbox.acked if isinstance(e, RunStale)] == []
    assert status(h, done) == "completed" and "run-unknown" not in h.worker.tables.runs.data


async def test_a_run_update_that_keeps_failing_is_lettered_and_the_agent_goes_on(harness: Harness) -> None:
    h = harness
    stale_run = "run-broken"
    records = [run_event(h, "RunStarted", stale_run, NOW - timedelta(hours=1), trigger="cli")]
    async with h.running("runs") as agent:
        await h.deliver(agent, records)
        await until(lambda: status(h, stale_run) == "running")
        h.outbox.fail_next = 6  # the broker refuses the RunStale through every retry
        await h.deliver(agent, as_records(h, [RunStaleCheck(run_id=stale_run, now=NOW)]))
        await until(lambda: any("run update failed" in e for _, e in h.outbox.letters), timeout_s=15)
        await h.deliver(agent, [run_event(h, "RunStarted", "run-next", NOW, trigger="cli")])
        await until(lambda: status(h, "run-next") == "running")
    assert status(h, stale_run) == "running"  # never moved without the announcement
