"""The projection store's in-memory twin: the same contract as ``projections.postgres.PgStore``.

For agent tests: a projection batch is applied to dictionaries with the rules the SQL applies
(``projections.sql``), from the same pure rows (``projections.rows``): ``odds_history`` keeps a key
once; ``odds_quotes``, ``board_confirmations`` and ``sport_events`` keep the newest observation;
``scrape_runs`` folds each run event once. ``snapshot`` gives the tables as ``tests/contract/``
compares them with PostgreSQL's, so the twin cannot drift from the real store.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from projections import rows as R
from projections.store import Applied, Filler, Projection, Target, retention_cutoff
from streams.events import OddsChanged, OddsObserved
from streams.sequencing import in_sequence
from streams.wire import ObservedHead

__all__ = ["MemoryStore", "remember_changes", "remember_observed", "remember_runs"]

Tables = dict[str, dict[Any, Any]]


def _json(text: Any) -> Any:
    return None if text is None else json.loads(text)


def remember_changes(tables: Tables, recs: Sequence[R.Rec], target: Target) -> int:
    """``OddsChanged`` -> ``odds_history`` (a key once) and ``odds_quotes`` (newest wins)."""
    history, quotes = tables.setdefault("odds_history", {}), tables.setdefault("odds_quotes", {})
    events = [r.event for r in recs if isinstance(r.event, OddsChanged)]
    written = 0
    for row in R.change_rows(events, not_before=target.not_before):
        event_id, market_id, line, sr_id, bookmaker, outcomes, previous, observed_at, caused_by, in_history, newest = (
            row
        )
        key = (event_id, market_id, line, observed_at)
        if in_history and key not in history:
            history[key] = (
                event_id,
                market_id,
                line,
                sr_id,
                bookmaker,
                _json(outcomes),
                _json(previous),
                observed_at,
                caused_by,
            )
            written += 1
        qkey = (bookmaker, sr_id, market_id, line)
        held = quotes.get(qkey)
        if newest and (held is None or (held[1], held[2]) < (observed_at, event_id)):
            quotes[qkey] = (_json(outcomes), observed_at, event_id)
            written += 1
    return written


def remember_observed(tables: Tables, recs: Sequence[R.Rec], target: Target) -> int:
    """``OddsObserved`` -> ``board_confirmations`` (latest wins) and ``sport_events`` (newest names,
    union of bookmakers, first and last observation)."""
    confirmations, sport = tables.setdefault("board_confirmations", {}), tables.setdefault("sport_events", {})
    events = [r.event for r in recs if isinstance(r.event, OddsObserved | ObservedHead)]
    written = 0
    for sr_id, bookmaker, at in R.confirmation_rows(events):
        if (held := confirmations.get((sr_id, bookmaker))) is None or held < at:
            confirmations[(sr_id, bookmaker)] = at
            written += 1
    for row in R.sport_event_rows(events):
        sr_id, home, away, tournament, kickoff, bookmakers, first, last, event_id = row
        held = sport.get(sr_id)
        if held is None:
            sport[sr_id] = row
            written += 1
            continue
        newer = (held[7], held[8]) < (last, event_id)
        union = sorted(set(held[5]) | set(bookmakers))
        if set(held[5]) >= set(bookmakers) and not newer and held[6] <= first:
            continue
        names = (home, away, tournament, kickoff) if newer else tuple(held[1:5])
        sport[sr_id] = (sr_id, *names, union, min(held[6], first), max(held[7], last), event_id if newer else held[8])
        written += 1
    return written


def remember_runs(tables: Tables, recs: Sequence[R.Rec], target: Target) -> int:
    """Run events -> ``scrape_runs``, each folded once (``projections.rows.run_rows``)."""
    runs = tables.setdefault("scrape_runs", {})
    held = {
        run_id: (json.loads(runs[run_id][11]), list(runs[run_id][12])) for run_id in R.run_ids(recs) if run_id in runs
    }
    rows = R.run_rows(held, recs)
    for row in rows:
        runs[row[0]] = row
    return len(rows)


def _line_order(line: Decimal | None) -> tuple[bool, Decimal]:
    return (line is not None, line if line is not None else Decimal(0))


class MemoryStore:
    """``ProjectionStore`` in dictionaries: progress per ``(projection, topic, partition)``, tables by
    name. One batch at a time (a lock stands in for the progress rows' row locks)."""

    def __init__(self, *, retention_days: int | None = None) -> None:
        self.retention_days = retention_days
        self.progress: dict[tuple[str, str, int], int] = {}
        self.tables: Tables = {}
        self._lock = asyncio.Lock()

    async def write(self, projection: Projection, recs: Sequence[R.Rec], fill: Filler | None = None) -> Applied:
        result = Applied()
        if not recs:
            return result
        async with self._lock:
            last: dict[tuple[str, int], int] = {}
            for r in recs:
                last[(r.topic, r.partition)] = max(last.get((r.topic, r.partition), -1), r.offset)

            def applied(topic: str, partition: int) -> int | None:
                return self.progress.get((projection.name, topic, partition))

            ready = await in_sequence(recs, applied, fill, consumer=f"projection {projection.name}")
            events = [r for r in ready.records if r.event is not None]
            result.skipped, result.gap_records, result.events = ready.skipped, ready.gap_records, len(events)
            # all or nothing, like the transaction: the rows land on copies, swapped in at the end
            tables = {name: dict(rows) for name, rows in self.tables.items()}
            if events:
                target = Target(not_before=retention_cutoff(self.retention_days))
                result.rows = projection.remember(tables, events, target)
            self.tables = tables
            for (topic, partition), offset in last.items():
                key = (projection.name, topic, partition)
                self.progress[key] = max(self.progress.get(key, -1), offset)
        result.offsets = {f"{t}/{p}": o for (t, p), o in sorted(last.items())}
        return result

    async def applied(
        self, projection: Projection, partitions: Sequence[tuple[str, int]]
    ) -> Mapping[tuple[str, int], int | None]:
        return {(t, p): self.progress.get((projection.name, t, p)) for t, p in partitions}

    def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        """The tables as ``tests/contract`` compares them: ``odds_history``, the ``odds_current`` view,
        ``sport_events`` and ``scrape_runs``, row by row in key order, JSON values decoded."""
        history = self.tables.get("odds_history", {})
        quotes = self.tables.get("odds_quotes", {})
        confirmations = self.tables.get("board_confirmations", {})
        current = []
        for (bookmaker, sr_id, market_id, line), (outcomes, changed_at, event_id) in quotes.items():
            confirmed = confirmations.get((sr_id, bookmaker))
            last_confirmed = confirmed if outcomes and confirmed is not None and confirmed > changed_at else changed_at
            current.append(
                (bookmaker, sr_id, market_id, line, outcomes, changed_at, changed_at, last_confirmed, event_id)
            )
        current.sort(key=lambda r: (r[0], r[1], r[2], _line_order(r[3])))
        runs = [
            (*row[:10], json.loads(row[10]), json.loads(row[11])) for row in self.tables.get("scrape_runs", {}).values()
        ]
        return {
            "odds_history": sorted(history.values(), key=lambda r: (r[0], r[1], _line_order(r[2]), r[7])),
            "odds_current": current,
            "sport_events": sorted(self.tables.get("sport_events", {}).values(), key=lambda r: r[0]),
            "scrape_runs": sorted(runs, key=lambda r: r[0]),
        }
