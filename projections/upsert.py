"""Pure batch preparation for the projections: events in, de-duplicated rows out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from streams.events import OddsChanged

__all__ = ["history_key", "history_rows"]


def history_key(row: dict[str, Any]) -> tuple[str, str, float | None]:
    """The contract's key of an ``odds_history`` row: (event_id, market_id, line)."""
    line = row["line"]
    return (row["event_id"], row["market_id"], None if line is None else float(line))


def history_rows(events: Iterable[OddsChanged]) -> list[dict[str, Any]]:
    """One row per changed quote, duplicates (same key) collapsed, first seen kept."""
    rows: dict[tuple[str, str, float | None], dict[str, Any]] = {}
    for ev in events:
        for change in ev.changes:
            row = {
                "event_id": ev.event_id,
                "market_id": change["market_id"],
                "line": change["line"],
                "sportradar_id": ev.sportradar_id,
                "bookmaker": ev.bookmaker,
                "outcomes": change["outcomes"],
                "previous_outcomes": change.get("previous_outcomes"),
                "observed_at": ev.observed_at,
                "caused_by": ev.caused_by,
            }
            rows.setdefault(history_key(row), row)
    return list(rows.values())
