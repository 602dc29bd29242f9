"""The scrape agent: the one consumer of ``ScrapeRequested``, scheduled or on demand.

It turns a command into a run: ``RunStarted``, one ``OddsObserved`` per event and bookmaker,
``RunHeartbeat`` while it works, then ``RunCompleted`` (or ``RunFailed`` when nothing could be
scraped). The schedule is a timer that only publishes the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from typing import Any

import aiohttp
import faust
import structlog
from faust.types import StreamT

from streams import topics
from streams.app import Runtime, records
from streams.clock import utc_now
from streams.events import (
    InvalidEvent,
    OddsObserved,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunStarted,
    ScrapeRequested,
    decode,
    derive_id,
)
from streams.sources.model import ParsedEvent, SourceError
from streams.sources.registry import available_bookmakers, scrape_bookmaker

__all__ = ["observed_event", "register", "run_scrape", "scheduled_request"]

log = structlog.get_logger(__name__)

HEARTBEAT_EVERY_S = 5.0
MAX_ERRORS_KEPT = 20


def observed_event(run_id: str, parsed: ParsedEvent, observed_at: Any) -> OddsObserved:
    """The ``OddsObserved`` of one parsed board; its id is the fact (run, bookmaker, event)."""
    return OddsObserved(
        event_id=derive_id("observed", run_id, parsed.bookmaker, parsed.sportradar_id),
        occurred_at=observed_at,
        run_id=run_id,
        bookmaker=parsed.bookmaker,
        sportradar_id=parsed.sportradar_id,
        bookmaker_event_id=parsed.bookmaker_event_id,
        home_team=parsed.home_team,
        away_team=parsed.away_team,
        tournament=parsed.tournament,
        kickoff_at=parsed.kickoff_at,
        observed_at=observed_at,
        markets=[q.to_json() for q in parsed.markets],
        unmapped=dict(parsed.unmapped),
    )


def scheduled_request(interval_s: int, now_epoch: float) -> ScrapeRequested:
    """The command of one schedule slot: deterministic, so two leaders in a rebalance agree."""
    slot = math.floor(now_epoch / interval_s)
    run_id = derive_id("scheduled-run", interval_s, slot)
    return ScrapeRequested(event_id=derive_id("scrape-requested", run_id), run_id=run_id, trigger="schedule")


async def run_scrape(rt: Runtime, cmd: ScrapeRequested, session: aiohttp.ClientSession) -> None:
    """Carry out one scrape run, publishing its lifecycle and its observations."""
    run_id = cmd.run_id
    urls = rt.settings.bookmaker_urls
    usable = available_bookmakers(urls)
    wanted = cmd.bookmakers or usable
    errors: list[str] = [f"{bm}: no scraper or base URL configured" for bm in wanted if bm not in usable]
    counts = {"observed": 0, "failed": 0}
    await rt.publish(
        RunStarted(
            event_id=derive_id("run-started", run_id),
            run_id=run_id,
            trigger=cmd.trigger,
            bookmakers=list(wanted),
            events=list(cmd.events),
        )
    )

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            await rt.publish(RunHeartbeat(run_id=run_id, observed=counts["observed"], failed=counts["failed"]))

    async def scrape_one(bm: str) -> None:
        try:
            async for result in scrape_bookmaker(bm, urls[bm], session, cmd.events):
                if result.event is not None:
                    await rt.publish(observed_event(run_id, result.event, utc_now()))
                    counts["observed"] += 1
                else:
                    counts["failed"] += 1
                    if len(errors) < MAX_ERRORS_KEPT:
                        errors.append(str(result.error))
        except SourceError as exc:
            errors.append(str(exc))
            log.warning("bookmaker scrape failed", bookmaker=bm, error=str(exc))

    beat = asyncio.ensure_future(heartbeat())
    try:
        await asyncio.gather(*(scrape_one(bm) for bm in wanted if bm in usable))
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    if counts["observed"] == 0 and errors:
        await rt.publish(
            RunFailed(
                event_id=derive_id("run-failed", run_id),
                run_id=run_id,
                error="; ".join(errors),
                observed=counts["observed"],
                failed=counts["failed"],
            )
        )
    else:
        await rt.publish(
            RunCompleted(
                event_id=derive_id("run-completed", run_id),
                run_id=run_id,
                errors=errors,
                observed=counts["observed"],
                failed=counts["failed"],
            )
        )
    log.info("scrape run finished", run_id=run_id, trigger=cmd.trigger, errors=len(errors), **counts)


def register(app: faust.App, rt: Runtime) -> None:
    session: dict[str, aiohttp.ClientSession] = {}

    async def http() -> aiohttp.ClientSession:
        if "s" not in session or session["s"].closed:
            session["s"] = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=200))
        return session["s"]

    @app.agent(rt.topic(topics.SCRAPE_REQUESTS), name="scrape")
    async def scrape(stream: StreamT[bytes]) -> None:
        async for event in records(stream):
            try:
                cmd = decode(event.value, [ScrapeRequested])
            except InvalidEvent as exc:
                await rt.dead_letter(event, exc.reason)
                continue
            with structlog.contextvars.bound_contextvars(run_id=cmd.run_id, partition=event.message.partition):
                try:
                    await run_scrape(rt, cmd, await http())
                except Exception as exc:  # an agent must never die: record the failure and go on
                    log.exception("scrape run crashed", run_id=cmd.run_id)
                    await rt.publish(
                        RunFailed(event_id=derive_id("run-failed", cmd.run_id), run_id=cmd.run_id, error=repr(exc))
                    )

    if rt.settings.scrape_interval_s > 0:

        @app.timer(float(rt.settings.scrape_interval_s), on_leader=True)
        async def schedule() -> None:
            await rt.publish(scheduled_request(rt.settings.scrape_interval_s, utc_now().timestamp()))

    @app.on_before_shutdown.connect
    async def _close_session(app: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        if "s" in session:
            await session["s"].close()
