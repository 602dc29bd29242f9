"""The live board: the latest board per event and bookmaker, and change detection against it.

Tables are keyed ``"<sportradar_id>:<bookmaker>"`` and written from the agent consuming
``odds.observed`` (keyed by SportRadar id), so every changelog write lands on the partition of the
event it came from. ``boards`` is written only when a quote changed; ``confirmed`` (one small
timestamp) moves on every observation.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import faust
import structlog
from faust.types import StreamT

from agents.odds_rules import apply_observation
from projections.wire import read_board
from streams import topics
from streams.app import Runtime, records
from streams.clock import format_ts
from streams.events import InvalidEvent, OddsChanged, OddsObserved, derive_id

__all__ = ["changed_event", "register"]

log = structlog.get_logger(__name__)


def changed_event(obs: OddsObserved, changes: list[dict[str, Any]]) -> OddsChanged:
    """The ``OddsChanged`` caused by ``obs``; its id derives from the cause."""
    return OddsChanged(
        event_id=derive_id("changed", obs.event_id),
        occurred_at=obs.observed_at,
        sportradar_id=obs.sportradar_id,
        bookmaker=obs.bookmaker,
        observed_at=obs.observed_at,
        caused_by=obs.event_id,
        run_id=obs.run_id,
        changes=changes,
    )


def register(app: faust.App, rt: Runtime) -> None:
    schema: faust.Schema[str, Any] = faust.Schema(key_serializer="json", value_serializer="json")
    boards = app.Table(topics.TABLE_BOARDS, default=None, schema=schema, partitions=rt.settings.topic_partitions)
    confirmed = app.Table(topics.TABLE_CONFIRMED, default=None, schema=schema, partitions=rt.settings.topic_partitions)
    rt.tables = {"boards": boards, "confirmed": confirmed}

    @app.agent(rt.topic(topics.OBSERVED), name="board")
    async def board(stream: StreamT[bytes]) -> None:
        async def apply(obs: OddsObserved) -> None:
            # Publish before writing: a retry after a failure in between finds the old board and
            # publishes the same OddsChanged again (same event_id, harmless downstream); writing
            # first would let a retry see no change and lose it.
            key = f"{obs.sportradar_id}:{obs.bookmaker}"
            previous = boards.get(key)
            observed_at = format_ts(obs.observed_at)
            update = apply_observation(
                previous["quotes"] if previous else None, confirmed.get(key), obs.markets, observed_at
            )
            if update.stale:
                log.info("older observation ignored", key=key, observed_at=observed_at)
                return
            if update.changes:
                await rt.publish(changed_event(obs, update.changes))
            if update.changes or previous is None:
                boards[key] = {
                    "sportradar_id": obs.sportradar_id,
                    "bookmaker": obs.bookmaker,
                    "bookmaker_event_id": obs.bookmaker_event_id,
                    "home_team": obs.home_team,
                    "away_team": obs.away_team,
                    "tournament": obs.tournament,
                    "kickoff_at": format_ts(obs.kickoff_at),
                    "quotes": update.quotes,
                }
            confirmed[key] = observed_at

        async for event in records(stream):
            try:
                obs = read_board(event.value)  # decode's rules and result, checked in C
            except InvalidEvent as exc:
                await rt.dead_letter(event, exc.reason)
                continue
            await rt.apply_or_dead_letter(event, "board update", partial(apply, obs))
