"""The scrape schedule every worker follows: folded from ``odds.control``, served, changed, and ticked.

Each worker keeps the schedule ``streams.control.follow`` folds from ``odds.control``; before the
first change the environment's interval is the default. ``POST /schedule`` publishes the whole
new schedule as a ``ScheduleChanged`` (acknowledged by the broker before it answers), so every
worker, and every worker started later, follows it. The leader's ticker publishes a scheduled
``ScrapeRequested`` when a slot of the interval begins (``streams.schedule.tick``), and never before
this worker has read what ``odds.control`` held at its start.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import datetime

import structlog
from faust.web import Request, Response, View

from streams.clock import utc_now
from streams.events import BaseEvent, ScheduleChanged, ScrapeRequested, derive_id
from streams.outbox import Outbox
from streams.schedule import Schedule, ScheduleError, Slot, fold, requested, tick

__all__ = ["LOAD_WAIT_S", "Scheduler", "get", "post", "scheduled_request", "ticker"]

log = structlog.get_logger(__name__)

LOAD_WAIT_S = 5.0
"""How long a view waits for the worker to have read ``odds.control`` before answering 503."""


def scheduled_request(interval_s: int, slot: int) -> ScrapeRequested:
    """The command of one schedule slot: deterministic, so two leaders in a rebalance agree."""
    run_id = derive_id("scheduled-run", interval_s, slot)
    return ScrapeRequested(event_id=derive_id("scrape-requested", run_id), run_id=run_id, trigger="schedule")


@dataclass
class Scheduler:
    """This worker's schedule and what its ticker has seen."""

    schedule: Schedule
    outbox: Outbox
    loaded: asyncio.Event = field(default_factory=asyncio.Event)
    last: Slot | None = None

    def apply(self, event: BaseEvent) -> None:
        """Fold one record of ``odds.control`` (the reader calls this)."""
        if isinstance(event, ScheduleChanged):
            before = self.schedule
            self.schedule = fold(self.schedule, event)
            if (before.paused, before.interval_s) != (self.schedule.paused, self.schedule.interval_s):
                log.info("schedule_changed", paused=self.schedule.paused, interval_s=self.schedule.interval_s)


async def ticker(s: Scheduler, now: datetime) -> ScrapeRequested | None:
    """One look of the leader's timer at ``now``: the scheduled command it published, if a slot began."""
    if not s.loaded.is_set():
        return None
    fire, s.last = tick(s.schedule, now, s.last)
    if not fire:
        return None
    cmd = scheduled_request(*s.last)
    await s.outbox.publish(cmd)
    log.info("scheduled_run_requested", run_id=cmd.run_id, interval_s=s.schedule.interval_s)
    return cmd


async def _loaded(view: View, s: Scheduler) -> Response | None:
    try:
        await asyncio.wait_for(s.loaded.wait(), LOAD_WAIT_S)
    except TimeoutError:
        return view.json({"error": "the schedule is not loaded yet: odds.control is still being read"}, status=503)
    return None


async def get(view: View, request: Request, s: Scheduler) -> Response:
    if (not_yet := await _loaded(view, s)) is not None:
        return not_yet
    return view.json(s.schedule.to_json(utc_now()))


async def post(view: View, request: Request, s: Scheduler) -> Response:
    try:
        body = await request.json() if await request.read() else {}
    except ValueError:
        return view.json({"error": "body must be a JSON object"}, status=400)
    if (not_yet := await _loaded(view, s)) is not None:
        return not_yet
    try:
        wanted = requested(s.schedule, body)
    except ScheduleError as exc:
        return view.json({"error": str(exc)}, status=400)
    event = ScheduleChanged(setting="schedule", paused=wanted.paused, interval_s=wanted.interval_s, changed_by="api")
    await s.outbox.publish_acked([event])  # on the broker, for every worker, before the answer
    s.apply(event)
    return view.json(s.schedule.to_json(utc_now()), status=202)
