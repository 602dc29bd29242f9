"""Every projection oddstream keeps in PostgreSQL, each a ``Projection`` value, in one registry.

The projection agents, their gap reading, the keeper's view of what they applied and
``oddstream replay`` all iterate ``PROJECTIONS``. Adding a projection is its rows (``projections.rows``),
its SQL (``projections.sql``) and its twin (``projections.memory``), its tables (``projections.schema``
and a migration), and one value here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Final

from projections import memory, sql
from projections.rows import Rec, days_of
from projections.store import Projection
from streams import wire
from streams.events import RUN_EVENT_TYPES, BaseEvent, OddsChanged, decode
from streams.topics import CHANGES, OBSERVED, RUNS, SCRAPE_REQUESTS

__all__ = ["GROUPS", "ODDS_CHANGES", "ODDS_OBSERVED", "PROJECTIONS", "RUNS_PROJECTION", "in_group", "tables_of"]


def _read_run(raw: bytes) -> BaseEvent:
    return decode(raw, RUN_EVENT_TYPES)


def _history_days(recs: Sequence[Rec], not_before: datetime | None) -> set[date]:
    return days_of((r.event for r in recs if isinstance(r.event, OddsChanged)), not_before=not_before)


ODDS_CHANGES: Final = Projection(
    name="odds-changes",
    group="odds",
    topics=(CHANGES,),
    read=wire.read_changed,
    tables=("odds_history", "odds_quotes"),
    apply=sql.apply_changes,
    remember=memory.remember_changes,
    days=_history_days,
    letters_invalid=True,  # the board's OddsChanged are read by nobody else
)
ODDS_OBSERVED: Final = Projection(
    name="odds-observed",
    group="odds",
    topics=(OBSERVED,),
    read=wire.read_observed,
    tables=("board_confirmations", "sport_events"),
    apply=sql.apply_observed,
    remember=memory.remember_observed,
)
RUNS_PROJECTION: Final = Projection(
    name="runs",
    group="runs",
    topics=(SCRAPE_REQUESTS, RUNS),
    read=_read_run,
    tables=("scrape_runs",),
    apply=sql.apply_runs,
    remember=memory.remember_runs,
)

PROJECTIONS: Final[tuple[Projection, ...]] = (ODDS_CHANGES, ODDS_OBSERVED, RUNS_PROJECTION)

GROUPS: Final[Mapping[str, tuple[Projection, ...]]] = {
    group: tuple(p for p in PROJECTIONS if p.group == group) for group in dict.fromkeys(p.group for p in PROJECTIONS)
}
"""What ``oddstream replay --projection`` names: a group's projections are rebuilt and swapped together."""


def in_group(groups: Sequence[str]) -> list[Projection]:
    """The projections of ``groups``, in registry order."""
    return [p for p in PROJECTIONS if p.group in groups]


def tables_of(groups: Sequence[str]) -> list[str]:
    """The tables the projections of ``groups`` write, in creation order."""
    return [t for p in in_group(groups) for t in p.tables]
