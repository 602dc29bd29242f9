"""Scrape runs: their state as a Faust table, the stale watchdog, and the runs views.

One agent folds ``odds.scrape-requests``, ``odds.runs`` and the internal ``odds.run-checks`` (all
keyed by ``run_id``, so co-partitioned) into the ``runs`` table with ``agents.run_rules``. The
watchdog is a timer on every worker: it scans the runs in its local table and sends a
``RunStaleCheck`` for each that looks stale. The check lands on the partition of its run, where the
one agent owning that partition decides against the authoritative state and emits ``RunStale``
once: a second check, from another worker or after a rebalance, finds the run already stale.
Timers never write tables; only the agent does.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import faust
import structlog
from faust.types import StreamT
from faust.web import Request, Response, View

from agents.routing import gather_json, is_local_request, owned, owned_partitions, route_by_key
from agents.run_rules import apply_run_event, is_stale
from streams import topics
from streams.app import Runtime, records
from streams.clock import format_ts, parse_ts, utc_now
from streams.events import (
    BaseEvent,
    InvalidEvent,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunStale,
    RunStaleCheck,
    RunStarted,
    ScrapeRequested,
    decode,
    derive_id,
    from_mapping,
    new_id,
)

__all__ = ["register", "scrape_command", "stale_candidates"]

log = structlog.get_logger(__name__)

_ACCEPTED: list[type[BaseEvent]] = [
    ScrapeRequested,
    RunStarted,
    RunHeartbeat,
    RunCompleted,
    RunFailed,
    RunStale,
    RunStaleCheck,
]


def stale_candidates(runs: list[dict[str, Any]], now: Any, stale_after_s: float) -> list[str]:
    """Run ids whose state says running and whose last heartbeat is older than the threshold."""
    out = []
    for run in runs:
        if run.get("status") != "running" or not run.get("last_heartbeat_at"):
            continue
        if is_stale(parse_ts(run["last_heartbeat_at"]), now, stale_after_s):
            out.append(str(run["run_id"]))
    return out


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


def register(app: faust.App, rt: Runtime) -> None:
    schema: faust.Schema[str, Any] = faust.Schema(key_serializer="json", value_serializer="json")
    runs = app.Table(topics.TABLE_RUNS, default=None, schema=schema, partitions=rt.settings.topic_partitions)
    rt.tables["runs"] = runs
    stale_after_s = rt.settings.stale_after_s
    channel = app.topic(
        *(rt.settings.topic(spec.name) for spec in (topics.SCRAPE_REQUESTS, topics.RUNS, topics.RUN_CHECKS)),
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
    )

    async def apply(ev: BaseEvent, run_id: str) -> None:
        state = runs.get(run_id)
        if isinstance(ev, RunStaleCheck):
            if state is None or state["status"] != "running" or not state["last_heartbeat_at"]:
                return
            last = parse_ts(state["last_heartbeat_at"])
            if not is_stale(last, ev.now, stale_after_s):
                return
            stale = RunStale(
                event_id=derive_id("run-stale", run_id),
                occurred_at=ev.now,
                run_id=run_id,
                last_heartbeat_at=last,
                stale_after_s=stale_after_s,
                detected_at=ev.now,
            )
            # publish, then write: a retry after a failure in between publishes the same event again
            # (same id) rather than finding the run already stale and never announcing it
            await rt.publish(stale)
            runs[run_id], _ = apply_run_event(state, stale)
            log.warning("run is stale", last_heartbeat_at=state["last_heartbeat_at"])
            return
        new_state, note = apply_run_event(state, ev)
        if note:
            log.warning("late run event", note=note, event_type=ev.event_type)
        if new_state != state:
            runs[run_id] = new_state

    @app.agent(channel, name="runs")
    async def fold_runs(stream: StreamT[bytes]) -> None:
        async for event in records(stream):
            try:
                ev = decode(event.value, _ACCEPTED)
            except InvalidEvent as exc:
                await rt.dead_letter(event, exc.reason)
                continue
            run_id = str(getattr(ev, "run_id"))  # noqa: B009 - every accepted type has it
            with structlog.contextvars.bound_contextvars(
                run_id=run_id, topic=event.message.topic, partition=event.message.partition
            ):
                await rt.apply_or_dead_letter(event, "run update", partial(apply, ev, run_id))

    @app.timer(rt.settings.stale_check_interval_s)
    async def watchdog() -> None:
        now = utc_now()
        try:
            candidates = stale_candidates(list(runs.values()), now, stale_after_s)
        except Exception:  # a bad row must not stop the watchdog
            log.exception("stale scan failed")
            return
        for run_id in candidates:
            await rt.publish(RunStaleCheck(run_id=run_id, now=now))
        if candidates:
            log.info("stale checks sent", runs=len(candidates))

    runs_topic = rt.topic(topics.RUNS)
    runs_name = rt.settings.topic(topics.RUNS.name)

    @app.page("/runs")
    class Runs(View):
        async def get(self, request: Request) -> Response:
            mine = owned_partitions(app, runs_name)
            local = owned(runs.items(), str, mine, rt.settings.topic_partitions)
            rows, failed = await gather_json(self, request, local)
            if is_local_request(request):
                return self.json({"items": rows})
            status = request.query.get("status")
            items = [r for r in rows if not status or r["status"] == status]
            items.sort(key=lambda r: r.get("requested_at") or r.get("started_at") or "", reverse=True)
            try:
                limit = int(request.query.get("limit", "100"))
            except ValueError:
                return self.json({"error": "limit must be an integer"}, status=400)
            body: dict[str, Any] = {"count": len(items), "runs": items[:limit]}
            if failed:
                body["partial"] = {"workers_not_answering": failed}
            return self.json(body)

    @app.page("/runs/{run_id}")
    class RunDetail(View):
        async def get(self, request: Request, run_id: str) -> Response:
            routed = await route_by_key(self, request, runs_topic, run_id)
            if routed is not None:
                return routed
            run = runs.get(run_id)
            if run is None:
                return self.json({"error": f"unknown run {run_id}"}, status=404)
            return self.json(run)

    @app.page("/scrape")
    class Scrape(View):
        async def post(self, request: Request) -> Response:
            try:
                body = await request.json() if await request.read() else {}
            except ValueError:
                return self.json({"error": "body must be a JSON object"}, status=400)
            try:
                cmd = scrape_command(body, trigger="api")
            except InvalidEvent as exc:
                return self.json({"error": exc.reason}, status=400)
            await rt.publish(cmd)
            return self.json({"run_id": cmd.run_id}, status=202)

    @app.page("/runs/{run_id}/retry")
    class Retry(View):
        async def post(self, request: Request, run_id: str) -> Response:
            routed = await route_by_key(self, request, runs_topic, run_id)
            if routed is not None:
                return routed
            run = runs.get(run_id)
            if run is None:
                return self.json({"error": f"unknown run {run_id}"}, status=404)
            if run["status"] not in ("failed", "stale", "completed"):
                return self.json({"error": f"run {run_id} is {run['status']}: nothing to retry"}, status=409)
            cmd = scrape_command(
                {"bookmakers": run["bookmakers"], "events": run["events"]}, trigger="retry", retry_of=run_id
            )
            await rt.publish(cmd)
            return self.json({"run_id": cmd.run_id, "retry_of": run_id}, status=202)
