"""Pure batch preparation: decoded events in, de-duplicated rows (tuples in COPY column order) out.

No I/O. Every function collapses duplicate keys within the batch so that one statement never
touches a row twice, and picks the winner the same way the database does (newest ``observed_at``,
then the larger event id), so the outcome never depends on the order of events in a batch.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

import structlog

from streams.clock import parse_ts
from streams.events import BaseEvent, OddsChanged, OddsObserved
from streams.run_rules import apply_run_event
from streams.wire import JsonText, ObservedHead

__all__ = [
    "CURRENT_COLUMNS",
    "HISTORY_COLUMNS",
    "RUN_COLUMNS",
    "STAGE_COLUMNS",
    "Rec",
    "change_rows",
    "confirmation_rows",
    "days_of",
    "json_text",
    "line_value",
    "run_ids",
    "run_rows",
    "sport_event_rows",
]

log = structlog.get_logger(__name__)

HISTORY_COLUMNS = (
    "event_id",
    "market_id",
    "line",
    "sportradar_id",
    "bookmaker",
    "outcomes",
    "previous_outcomes",
    "observed_at",
    "caused_by",
)
CURRENT_COLUMNS = ("bookmaker", "sportradar_id", "market_id", "line", "outcomes", "last_changed_at", "change_event_id")

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Rec:
    """One delivered record: where it came from and the event it carried.

    ``event`` None: a record its projection could not read. It still holds its place in the partition,
    so no gap is read for it (``streams.sequencing.in_sequence``), and nothing of it is applied.
    """

    topic: str
    partition: int
    offset: int
    event: BaseEvent | ObservedHead | None


# one encoder: json.dumps with options builds a new encoder on every call (measurable at 600k rows)
json_text = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


@lru_cache(maxsize=4096)
def _line(line: float) -> Decimal:
    return Decimal(repr(line))


def line_value(line: Any) -> Decimal | None:
    """A line as an exact numeric (2.5 -> Decimal('2.5')); null stays null and is part of the key."""
    return None if line is None else _line(float(line))


def _text(value: Any) -> str:
    """A JSON value as text: as the record carried it when the reader kept it, else encoded here."""
    return value if isinstance(value, JsonText) else json_text(value)


STAGE_COLUMNS = (*HISTORY_COLUMNS, "in_history", "newest")
"""The columns of a batch's staged changes: a history row, whether it goes into ``odds_history``
and whether it is the newest change of its quote in the batch (the ``odds_quotes`` row)."""


def change_rows(events: Iterable[OddsChanged], *, not_before: datetime | None = None) -> list[list[Any]]:
    """A batch of changes as staged rows (``STAGE_COLUMNS``), one per changed quote, in one pass:
    one ``COPY`` feeds both ``odds_history`` and ``odds_quotes``.

    History: a key seen twice (same event redelivered) is staged once. The key is the table's:
    (event_id, market_id, line, observed_at). observed_at is in it because the table is
    partitioned by it, and so that two observations that came with the same event id (a run
    re-scraped after a crash) are both kept, in one batch or in two alike. Rows observed before
    ``not_before`` (outside the retention window) are not for the history (``in_history`` false):
    their daily partition is gone or about to be dropped.

    Quotes: ``newest`` marks the newest change per quote (bookmaker, event, market, line), ranked
    by (observed_at, event_id) like the table's guard, so the order of the batch does not matter.
    """
    staged: dict[tuple[str, str, Decimal | None, datetime], list[Any]] = {}
    best: dict[tuple[str, str, str, Decimal | None], tuple[tuple[datetime, str], list[Any]]] = {}
    for ev in events:
        rank = (ev.observed_at, ev.event_id)
        in_history = not_before is None or ev.observed_at >= not_before
        for change in ev.changes:
            line = line_value(change.get("line"))  # decode accepts a quote without a line
            market_id = str(change["market_id"])
            hkey = (ev.event_id, market_id, line, ev.observed_at)
            if hkey in staged:  # the same change again: same row, same rank
                continue
            previous = change.get("previous_outcomes")
            row = [
                ev.event_id,
                market_id,
                line,
                ev.sportradar_id,
                ev.bookmaker,
                _text(change["outcomes"]),
                None if previous is None else _text(previous),
                ev.observed_at,
                ev.caused_by,
                in_history,
                False,
            ]
            staged[hkey] = row
            qkey = (ev.bookmaker, ev.sportradar_id, market_id, line)
            held = best.get(qkey)
            if held is None or held[0] < rank:
                best[qkey] = (rank, row)
    for _, row in best.values():
        row[10] = True
    return list(staged.values())


def days_of(events: Iterable[OddsChanged], *, not_before: datetime | None = None) -> set[date]:
    """The UTC days the history rows of these events fall on (one partition each)."""
    return {
        ev.observed_at.astimezone(UTC).date()
        for ev in events
        if ev.changes and (not_before is None or ev.observed_at >= not_before)
    }


def confirmation_rows(events: Iterable[OddsObserved | ObservedHead]) -> list[Row]:
    """The latest observation per board: (sportradar_id, bookmaker, last_confirmed_at)."""
    latest: dict[tuple[str, str], datetime] = {}
    for ev in events:
        key = (ev.sportradar_id, ev.bookmaker)
        if key not in latest or latest[key] < ev.observed_at:
            latest[key] = ev.observed_at
    return [(sr, bm, at) for (sr, bm), at in latest.items()]


def sport_event_rows(events: Iterable[OddsObserved | ObservedHead]) -> list[Row]:
    """Per SportRadar id: the newest observation's names and kickoff, every bookmaker that listed
    it, the first and last observation. Column order: sportradar_id, home_team, away_team,
    tournament, kickoff_at, bookmakers, first_observed_at, last_observed_at, last_event_id."""
    out: dict[str, list[Any]] = {}
    for ev in events:
        row = out.get(ev.sportradar_id)
        if row is None:
            out[ev.sportradar_id] = [
                ev.sportradar_id,
                ev.home_team,
                ev.away_team,
                ev.tournament,
                ev.kickoff_at,
                {ev.bookmaker},
                ev.observed_at,
                ev.observed_at,
                ev.event_id,
            ]
            continue
        row[5].add(ev.bookmaker)
        row[6] = min(row[6], ev.observed_at)
        if (ev.observed_at, ev.event_id) > (row[7], row[8]):
            row[1:5] = [ev.home_team, ev.away_team, ev.tournament, ev.kickoff_at]
            row[7], row[8] = ev.observed_at, ev.event_id
    return [(*r[:5], sorted(r[5]), *r[6:]) for r in out.values()]


RUN_COLUMNS = (
    "run_id",
    "status",
    "trigger",
    "requested_at",
    "started_at",
    "last_heartbeat_at",
    "finished_at",
    "stale_detected_at",
    "observed",
    "failed",
    "errors",
    "state",
    "applied_event_ids",
)
RunsHeld = dict[str, tuple[dict[str, Any], list[str]]]
"""``run_id`` -> (the run's state, the ids of the events folded into it)."""


def run_ids(recs: Iterable[Rec]) -> list[str]:
    """The runs a batch of run events touches, sorted (the order their rows are locked in)."""
    return sorted({str(getattr(r.event, "run_id")) for r in recs if r.event is not None})  # noqa: B009


def _ts(value: Any) -> datetime | None:
    return None if value is None else parse_ts(str(value))


def run_rows(held: RunsHeld, recs: Iterable[Rec]) -> list[Row]:
    """The ``scrape_runs`` rows (``RUN_COLUMNS``) of the runs a batch changed: each run's stored state
    in ``held``, the batch's run events folded in record order with the live table's own rules
    (``streams.run_rules.apply_run_event``), an event already folded (by its id) skipped."""
    states: dict[str, dict[str, Any] | None] = {run_id: state for run_id, (state, _) in held.items()}
    applied: dict[str, list[str]] = {run_id: list(ids) for run_id, (_, ids) in held.items()}
    touched: set[str] = set()
    for r in recs:
        ev = r.event
        if ev is None or isinstance(ev, ObservedHead):  # unreadable, or not a run event
            continue
        run_id = str(getattr(ev, "run_id"))  # noqa: B009
        seen = applied.setdefault(run_id, [])
        if ev.event_id in seen:
            continue
        state, note = apply_run_event(states.get(run_id), ev)
        if note:
            log.info("late run event", run_id=run_id, note=note)
        states[run_id] = state
        seen.append(ev.event_id)
        touched.add(run_id)
    rows: list[Row] = []
    for run_id in sorted(touched):
        s = states[run_id]
        assert s is not None
        rows.append(
            (
                run_id,
                s["status"],
                s["trigger"],
                _ts(s["requested_at"]),
                _ts(s["started_at"]),
                _ts(s["last_heartbeat_at"]),
                _ts(s["finished_at"]),
                _ts(s["stale_detected_at"]),
                int(s["observed"]),
                int(s["failed"]),
                json_text(s["errors"]),
                json_text(s),
                applied[run_id],
            )
        )
    return rows
