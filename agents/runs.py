"""Scrape runs: their state as a Faust table, the stale watchdog, and the runs views.

One agent folds ``odds.scrape-requests``, ``odds.runs`` and the internal ``odds.run-checks`` (all
keyed by ``run_id``, so co-partitioned) into the ``runs`` table with ``streams.run_rules``. The
watchdog is a timer on every worker: it scans the runs in its local table and sends a
``RunStaleCheck`` for each that looks stale. The check lands on the partition of its run, where the
one agent owning that partition decides against the authoritative state (``run_rules.stale_verdict``)
and publishes ``RunStale``, waits for the broker's acknowledgement, and only then moves the run to
stale: a second check, from another worker or after a rebalance, finds the run already stale, and a
crash in between publishes the same event (same id) again rather than never announcing it. Timers
never write tables; only the agent does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

import structlog
from faust.types import StreamT
from faust.web import Request, Response, View

from agents.routing import gather_json, is_local_request, owned_rows, route_by_key
from streams import engine
from streams.clock import format_ts, utc_now
from streams.events import (
    RUN_EVENT_TYPES,
    BaseEvent,
    InvalidEvent,
    RunStaleCheck,
    ScrapeRequested,
    decode,
    derive_id,
    from_mapping,
    new_id,
)
from streams.outbox import Outbox, apply_or_dead_letter
from streams.ranges import RawRecord
from streams.run_rules import apply_run_event, bookmaker_summary, duration_s, stale_candidates, stale_verdict
from streams.topics import RUNS_TABLE

__all__ = [
    "Runs",
    "consume",
    "retry",
    "run_detail",
    "runs_list",
    "runs_stats",
    "scrape",
    "scrape_command",
    "watchdog",
]

log = structlog.get_logger(__name__)

_ACCEPTED: tuple[type[BaseEvent], ...] = (*RUN_EVENT_TYPES, RunStaleCheck)


@dataclass(frozen=True, slots=True)
class Runs:
    """What the runs agent, its watchdog and its views work with."""

    runs: Any
    """The ``runs`` table."""
    outbox: Outbox
    stale_after_s: int
    partitions: int
    runs_topic: Any = None
    """The Faust topic ``odds.runs``: its partitions are the table's; views route a run id by it."""


def scrape_command(body: Any, *, trigger: str, retry_of: str | None = None) -> ScrapeRequested:
    """A ``ScrapeRequested`` from a request body ``{"bookmakers": [...], "events": [...]}`` (both optional)."""
    if not isinstance(body, dict):
        raise InvalidEvent("body must be a JSON object")
    unknown = sorted(set(body) - {"bookmakers", "events"})
    if unknown:
        raise InvalidEvent(f"unknown fields: {', '.join(unknown)}")
    run_id = new_id()
    return from_mapping(
        {
            "event_type": ScrapeRequested.event_type,
            "schema_version": ScrapeRequested.schema_version,
            "event_id": derive_id("scrape-requested", run_id),
            "occurred_at": format_ts(utc_now()),
            "run_id": run_id,
            "trigger": trigger,
            "bookmakers": body.get("bookmakers") or [],
            "events": body.get("events") or [],
            "retry_of": retry_of,
        },
        [ScrapeRequested],
    )


async def _apply(runs: Runs, ev: BaseEvent, run_id: str) -> None:
    state = runs.runs.get(run_id)
    if isinstance(ev, RunStaleCheck):
        stale = stale_verdict(state, ev.now, runs.stale_after_s)
        if stale is None:
            return
        await runs.outbox.publish_acked([stale])  # on the broker before the table moves
        runs.runs[run_id], _ = apply_run_event(state, stale)
        log.warning("run is stale", last_heartbeat_at=format_ts(stale.last_heartbeat_at))
        return
    new_state, note = apply_run_event(state, ev)
    if note:
        log.warning("late run event", note=note, event_type=ev.event_type)
    if new_state != state:
        runs.runs[run_id] = new_state


async def consume(stream: StreamT[bytes], runs: Runs) -> None:
    """The agent: every run event and stale check folded into the ``runs`` table."""
    async for event in engine.records(stream):
        record = RawRecord.of(event.message)
        try:
            ev = decode(event.value, _ACCEPTED)
        except InvalidEvent as exc:
            await runs.outbox.dead_letter(record, exc.reason)
            continue
        run_id = str(getattr(ev, "run_id"))  # noqa: B009 - every accepted type has it
        with structlog.contextvars.bound_contextvars(run_id=run_id, topic=record.topic, partition=record.partition):
            await apply_or_dead_letter(runs.outbox, record, "run update", partial(_apply, runs, ev, run_id))


async def watchdog(runs: Runs, now: datetime) -> list[str]:
    """One watchdog pass at ``now``: a ``RunStaleCheck`` for every run of this worker that looks
    stale; returns their ids. The agent owning each run decides."""
    try:
        candidates = stale_candidates(list(runs.runs.values()), now, runs.stale_after_s)
    except Exception:  # a bad row must not stop the watchdog
        log.exception("stale scan failed")
        return []
    for run_id in candidates:
        await runs.outbox.publish(RunStaleCheck(run_id=run_id, now=now))
    if candidates:
        log.info("stale checks sent", runs=len(candidates))
    return candidates


# -- views --------------------------------------------------------------------------------------------


async def runs_list(view: View, request: Request, runs: Runs) -> Response:
    local = owned_rows(view.app, RUNS_TABLE, runs.runs, runs.runs_topic.get_topic_name(), runs.partitions)
    rows, failed = await gather_json(view, request, local)
    if is_local_request(request):
        return view.json({"items": rows})
    status = request.query.get("status")
    items = [r for r in rows if not status or r["status"] == status]
    items.sort(key=lambda r: r.get("requested_at") or r.get("started_at") or "", reverse=True)
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        return view.json({"error": "limit must be an integer"}, status=400)
    now = utc_now()
    # the list keeps each run's counts and errors; its heartbeat timeline is in the run's own answer
    shown = [{**_with_duration(r, now), "heartbeats": len(r.get("heartbeats", []))} for r in items[:limit]]
    body: dict[str, Any] = {"count": len(items), "runs": shown}
    if failed:
        body["partial"] = {"workers_not_answering": failed}
    return view.json(body)


async def _the_run(view: View, request: Request, runs: Runs, run_id: str) -> Response | dict[str, Any]:
    """The run as its owner holds it, or the answer to give instead (routed elsewhere, or 404)."""
    routed = await route_by_key(view, request, runs.runs_topic, run_id)
    if routed is not None:
        return routed
    run = runs.runs.get(run_id)
    if run is None:
        return view.json({"error": f"unknown run {run_id}"}, status=404)
    return dict(run)


def _with_duration(run: dict[str, Any], now: datetime) -> dict[str, Any]:
    return {**run, "duration_s": duration_s(run, now)}


async def run_detail(view: View, request: Request, runs: Runs, *, run_id: str) -> Response:
    run = await _the_run(view, request, runs, run_id)
    if not isinstance(run, dict):
        return run
    return view.json(_with_duration(run, utc_now()))


async def runs_stats(view: View, request: Request, runs: Runs) -> Response:
    """Per bookmaker over the last ``days`` (default 7): runs, success rate, how long each took."""
    try:
        days = int(request.query.get("days", "7"))
    except ValueError:
        return view.json({"error": "days must be an integer from 1 to 90"}, status=400)
    if not 1 <= days <= 90:
        return view.json({"error": "days must be an integer from 1 to 90"}, status=400)
    local = owned_rows(view.app, RUNS_TABLE, runs.runs, runs.runs_topic.get_topic_name(), runs.partitions)
    rows, failed = await gather_json(view, request, local)
    if is_local_request(request):
        return view.json({"items": rows})
    body = bookmaker_summary(rows, utc_now(), days)
    if failed:
        body["partial"] = {"workers_not_answering": failed}
    return view.json(body)


async def scrape(view: View, request: Request, runs: Runs) -> Response:
    try:
        body = await request.json() if await request.read() else {}
    except ValueError:
        return view.json({"error": "body must be a JSON object"}, status=400)
    try:
        cmd = scrape_command(body, trigger="api")
    except InvalidEvent as exc:
        return view.json({"error": exc.reason}, status=400)
    await runs.outbox.publish(cmd)
    return view.json({"run_id": cmd.run_id}, status=202)


async def retry(view: View, request: Request, runs: Runs, *, run_id: str) -> Response:
    run = await _the_run(view, request, runs, run_id)
    if not isinstance(run, dict):
        return run
    if run["status"] not in ("failed", "stale", "completed"):
        return view.json({"error": f"run {run_id} is {run['status']}: nothing to retry"}, status=409)
    cmd = scrape_command({"bookmakers": run["bookmakers"], "events": run["events"]}, trigger="retry", retry_of=run_id)
    await runs.outbox.publish(cmd)
    return view.json({"run_id": cmd.run_id, "retry_of": run_id}, status=202)
