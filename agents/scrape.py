"""The scrape agent: the one consumer of ``ScrapeRequested``, scheduled or on demand.

It turns a command into a run: ``RunStarted``, one ``OddsObserved`` per event and bookmaker (as soon
as each board is parsed), ``RunHeartbeat`` with progress every few seconds, then ``RunCompleted``
with counts per bookmaker (or ``RunFailed`` when nothing could be scraped). The cycle itself is
``streams.sources.cycle.run_cycle``; this module only wires it to the topics.

Commands are forwarded, whatever their run id, to one partition of the internal topic
``odds.scrape-queue``, so one worker runs every cycle (another takes over after a rebalance). Two
full cycles never overlap there: a full request that arrives while one runs is coalesced into it
(its ``RunStarted`` and ``RunCompleted`` say ``coalesced_into``, and it completes with the running
cycle's counts). Scoped requests (some bookmakers or events) run at once, under the
same per-bookmaker limits, because every run of a worker shares one set of clients. The schedule
(``agents.schedule``) is a leader-only ticker that publishes the same command.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import structlog
from faust.types import StreamT

from streams import engine
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
from streams.outbox import Outbox
from streams.ranges import RawRecord
from streams.sources.cycle import CycleResult, Sources, run_cycle
from streams.sources.model import ParsedEvent
from streams.topics import SCRAPE_QUEUE

__all__ = [
    "Coalescer",
    "Scraper",
    "close",
    "consume",
    "forward",
    "is_full",
    "observed_event",
    "run_scrape",
]

log = structlog.get_logger(__name__)

HEARTBEAT_EVERY_S = 5.0
QUEUE_KEY = b"scrape"  # one key: every command lands on one partition of odds.scrape-queue
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
        country=parsed.country,
    )


def is_full(cmd: ScrapeRequested) -> bool:
    """A full cycle: every bookmaker, every event."""
    return not cmd.bookmakers and not cmd.events


@dataclass
class Coalescer:
    """Which full cycle is running, and the full requests waiting on its result (pure bookkeeping)."""

    running: str | None = None
    followers: list[ScrapeRequested] = field(default_factory=list)

    def admit(self, cmd: ScrapeRequested) -> str | None:
        """None: run ``cmd`` now. Otherwise the run id of the full cycle it is coalesced into."""
        if not is_full(cmd):
            return None
        if self.running is None:
            self.running = cmd.run_id
            return None
        if cmd.run_id != self.running and all(f.run_id != cmd.run_id for f in self.followers):
            self.followers.append(cmd)
        return self.running

    def waiting_on(self, run_id: str) -> list[str]:
        """The run ids coalesced into ``run_id`` so far."""
        return [f.run_id for f in self.followers] if run_id == self.running else []

    def finish(self, run_id: str) -> list[ScrapeRequested]:
        """The full cycle ``run_id`` ended: the requests that share its result."""
        if run_id != self.running:
            return []
        followers, self.followers, self.running = self.followers, [], None
        return followers


def _outcome(
    run_id: str, result: CycleResult, errors: list[str], coalesced_into: str | None = None
) -> RunCompleted | RunFailed:
    per_bookmaker = {bm: c.to_json() for bm, c in result.counts.items()}
    if result.observed == 0 and errors:
        return RunFailed(
            event_id=derive_id("run-failed", run_id),
            run_id=run_id,
            error="; ".join(errors),
            observed=0,
            failed=result.failed,
            per_bookmaker=per_bookmaker,
        )
    return RunCompleted(
        event_id=derive_id("run-completed", run_id),
        run_id=run_id,
        errors=errors,
        observed=result.observed,
        failed=result.failed,
        per_bookmaker=per_bookmaker,
        coalesced_into=coalesced_into,
    )


async def run_scrape(
    outbox: Outbox,
    cmd: ScrapeRequested,
    sources: Sources,
    followers: Callable[[], list[str]] = list,
) -> tuple[CycleResult, list[str]]:
    """Carry out one scrape run, publishing its lifecycle and its observations.

    ``followers()`` names the runs coalesced into this one: they get its heartbeats too, so none of
    them looks stale while the cycle they wait on is alive.
    """
    run_id = cmd.run_id
    wanted = cmd.bookmakers or sources.bookmakers
    errors: list[str] = [f"{bm}: no base URL configured" for bm in wanted if bm not in sources.clients]
    await outbox.publish(
        RunStarted(
            event_id=derive_id("run-started", run_id),
            run_id=run_id,
            trigger=cmd.trigger,
            bookmakers=list(wanted),
            events=list(cmd.events),
        )
    )
    progress: dict[str, CycleResult] = {}

    async def observed(parsed: ParsedEvent) -> None:
        await outbox.publish(observed_event(run_id, parsed, utc_now()))

    async def heartbeat() -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_EVERY_S)
            current = progress.get("r")
            for beating in (run_id, *followers()):
                await outbox.publish(
                    RunHeartbeat(
                        run_id=beating,
                        observed=current.observed if current else 0,
                        failed=current.failed if current else 0,
                        per_bookmaker={bm: c.to_json() for bm, c in current.counts.items()} if current else None,
                    )
                )

    beat = asyncio.ensure_future(heartbeat())
    try:
        result = await run_cycle(
            sources,
            observed,
            bookmakers=[bm for bm in wanted if bm in sources.clients],
            sportradar_ids=cmd.events,
            on_start=lambda live: progress.__setitem__("r", live),
        )
    finally:
        beat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await beat
    errors.extend(str(e) for e in result.errors[: max(0, MAX_ERRORS_KEPT - len(errors))])
    if len(result.errors) > MAX_ERRORS_KEPT:
        errors.append(f"... and {len(result.errors) - MAX_ERRORS_KEPT} more")
    await outbox.publish(_outcome(run_id, result, errors))
    log.info(
        "scrape run finished",
        run_id=run_id,
        trigger=cmd.trigger,
        observed=result.observed,
        failed=result.failed,
        seconds=round(result.elapsed_s, 1),
        per_bookmaker={bm: c.to_json() for bm, c in result.counts.items()},
    )
    return result, errors


@dataclass
class Scraper:
    """The scrape agent's state and what it works with: one per worker."""

    outbox: Outbox
    sources: Callable[[], Sources]
    """The worker's bookmaker clients (made once, on the first run, and shared by every run)."""
    coalescer: Coalescer = field(default_factory=Coalescer)
    running: set[asyncio.Future[None]] = field(default_factory=set)


async def _execute(scraper: Scraper, cmd: ScrapeRequested) -> None:
    outbox, coalescer = scraper.outbox, scraper.coalescer
    with structlog.contextvars.bound_contextvars(run_id=cmd.run_id):
        outcome: tuple[CycleResult, list[str]] | None = None
        try:
            outcome = await run_scrape(outbox, cmd, scraper.sources(), lambda: coalescer.waiting_on(cmd.run_id))
        except Exception as exc:  # a run must never take the agent down: record the failure
            log.exception("scrape run crashed", run_id=cmd.run_id)
            await outbox.publish(
                RunFailed(event_id=derive_id("run-failed", cmd.run_id), run_id=cmd.run_id, error=repr(exc))
            )
        finally:
            followers = coalescer.finish(cmd.run_id)
        for follower in followers:
            if outcome is None:
                await outbox.publish(
                    RunFailed(
                        event_id=derive_id("run-failed", follower.run_id),
                        run_id=follower.run_id,
                        error=f"the full cycle {cmd.run_id} it was coalesced into crashed",
                    )
                )
            else:
                await outbox.publish(_outcome(follower.run_id, outcome[0], outcome[1], coalesced_into=cmd.run_id))


async def forward(stream: StreamT[bytes], outbox: Outbox) -> None:
    """Agent on ``odds.scrape-requests``: every valid command goes to the one partition of the scrape
    queue, whatever its run id."""
    async for event in engine.records(stream):
        try:
            decode(event.value, [ScrapeRequested])
        except InvalidEvent as exc:
            await outbox.dead_letter(RawRecord.of(event.message), exc.reason)
            continue
        await outbox.forward(SCRAPE_QUEUE, QUEUE_KEY, event.value)


async def consume(stream: StreamT[bytes], scraper: Scraper) -> None:
    """Agent on ``odds.scrape-queue``: run each command, or coalesce a full one into the running cycle."""
    async for event in engine.records(stream):
        try:
            cmd = decode(event.value, [ScrapeRequested])
        except InvalidEvent as exc:  # only a record produced onto the internal topic by hand
            await scraper.outbox.dead_letter(RawRecord.of(event.message), exc.reason)
            continue
        leader = scraper.coalescer.admit(cmd)
        if leader is not None:
            if leader != cmd.run_id:
                log.info("scrape request coalesced", run_id=cmd.run_id, into=leader, trigger=cmd.trigger)
                await scraper.outbox.publish(
                    RunStarted(
                        event_id=derive_id("run-started", cmd.run_id),
                        run_id=cmd.run_id,
                        trigger=cmd.trigger,
                        coalesced_into=leader,
                    )
                )
            continue
        task = asyncio.ensure_future(_execute(scraper, cmd))
        scraper.running.add(task)
        task.add_done_callback(scraper.running.discard)


async def close(scraper: Scraper) -> None:
    """Cancel the runs under way (their runs go stale; a retry re-scrapes them)."""
    for task in list(scraper.running):
        task.cancel()
    if scraper.running:
        await asyncio.gather(*scraper.running, return_exceptions=True)
