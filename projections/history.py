"""Line movement served from PostgreSQL: ``GET /odds/events/{id}/history`` and the markets that have it.

The reads go by ``odds_history_lookup`` (sportradar id, market, line, bookmaker, observed at): one
market and line of one event, every bookmaker or some, and in a window the latest change before it
per bookmaker (what was on the board when the window opens) plus the changes in it. The answer is
shaped by ``streams.history`` (pure); this module holds the SQL and the views.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from faust.web import Request, Response, View
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

from streams.clock import format_ts
from streams.history import (
    HistoryQuery,
    HistoryRow,
    QueryError,
    QuoteAt,
    boards_at,
    history_body,
    history_csv,
    parse_query,
)
from streams.sources.registry import NAMES

__all__ = ["HistoryReader", "history", "history_markets"]

log = structlog.get_logger(__name__)

_LINE = "line = CAST(:line AS numeric)"
_NO_LINE = "line IS NULL"

_ROWS = """
SELECT bookmaker, outcomes, previous_outcomes, observed_at FROM odds_history
WHERE sportradar_id = :sr AND market_id = :market AND {line} AND {books}
  AND observed_at > :since AND observed_at <= :until
UNION ALL
(SELECT DISTINCT ON (bookmaker) bookmaker, outcomes, previous_outcomes, observed_at FROM odds_history
 WHERE sportradar_id = :sr AND market_id = :market AND {line} AND {books} AND observed_at <= :since
 ORDER BY bookmaker, observed_at DESC)
"""

_MARKETS = """
SELECT market_id, line, array_agg(DISTINCT bookmaker ORDER BY bookmaker) AS bookmakers, count(*) AS changes,
       min(observed_at) AS first_at, max(observed_at) AS last_at
FROM odds_history WHERE sportradar_id = :sr
GROUP BY market_id, line ORDER BY market_id, line NULLS FIRST
"""

# the last change of every quote of one event at a moment, with when the change before it was: the
# event's rows up to the moment (odds_history_lookup leads with the event), sorted per quote
_AT = """
SELECT DISTINCT ON (market_id, line, bookmaker) bookmaker, market_id, line, outcomes, previous_outcomes, observed_at,
       lag(observed_at) OVER (PARTITION BY market_id, line, bookmaker ORDER BY observed_at) AS previous_at
FROM odds_history WHERE sportradar_id = :sr AND observed_at <= :at
ORDER BY market_id, line, bookmaker, observed_at DESC
"""

_EVENT = "SELECT home_team, away_team, tournament, kickoff_at FROM sport_events WHERE sportradar_id = :sr"

_FAR_PAST = datetime.fromisoformat("1970-01-01T00:00:00+00:00")
_FAR_FUTURE = datetime.fromisoformat("9999-01-01T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class HistoryReader:
    """Reads ``odds_history``, ``board_confirmations`` and ``sport_events`` of one database."""

    engine: AsyncEngine

    async def rows(self, sportradar_id: str, q: HistoryQuery) -> list[HistoryRow]:
        books = "bookmaker = ANY(:books)" if q.bookmakers else "TRUE"
        sql = _ROWS.format(line=_NO_LINE if q.line is None else _LINE, books=books)
        # without a window start, every change is "in the window": the second half reads nothing
        params: dict[str, Any] = {
            "sr": sportradar_id,
            "market": q.market_id,
            "since": q.since or _FAR_PAST,
            "until": q.until or _FAR_FUTURE,
        }
        if q.line is not None:
            params["line"] = str(q.line)
        if q.bookmakers:
            params["books"] = list(q.bookmakers)
        async with self.engine.connect() as conn:
            result = await conn.execute(text(sql), params)
            return [HistoryRow(bm, at, _outcomes(now), _outcomes(before)) for bm, now, before, at in result.all()]

    async def confirmations(self, sportradar_id: str) -> dict[str, datetime]:
        sql = "SELECT bookmaker, last_confirmed_at FROM board_confirmations WHERE sportradar_id = :sr"
        async with self.engine.connect() as conn:
            result = await conn.execute(text(sql), {"sr": sportradar_id})
            return {bm: at for bm, at in result.all()}

    async def known(self, sportradar_id: str) -> bool:
        sql = "SELECT EXISTS (SELECT 1 FROM sport_events WHERE sportradar_id = :sr)"
        async with self.engine.connect() as conn:
            return bool((await conn.execute(text(sql), {"sr": sportradar_id})).scalar())

    async def boards_at(self, sportradar_id: str, at: datetime) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
        """Each bookmaker's board of the event as it stood at ``at`` (``streams.history.boards_at``) and
        when each last changed; None when the event is unknown. ``ConnectionError`` when the database
        does not answer (the views know no SQLAlchemy)."""
        try:
            return await self._boards_at(sportradar_id, at)
        except SQLAlchemyError as exc:
            raise ConnectionError(f"the database did not answer: {exc!r}") from exc

    async def _boards_at(self, sportradar_id: str, at: datetime) -> tuple[list[dict[str, Any]], dict[str, str]] | None:
        async with self.engine.connect() as conn:
            event = (await conn.execute(text(_EVENT), {"sr": sportradar_id})).first()
            if event is None:
                return None
            result = await conn.execute(text(_AT), {"sr": sportradar_id, "at": at})
            quotes = [
                QuoteAt(
                    bm,
                    market_id,
                    None if line is None else float(line),
                    observed_at,
                    _outcomes(now),
                    _outcomes(before),
                    previous_at,
                )
                for bm, market_id, line, now, before, observed_at, previous_at in result.all()
            ]
        home, away, tournament, kickoff_at = event
        meta = {"home_team": home, "away_team": away, "tournament": tournament, "kickoff_at": format_ts(kickoff_at)}
        return boards_at(sportradar_id, meta, quotes)

    async def markets(self, sportradar_id: str) -> list[dict[str, Any]]:
        async with self.engine.connect() as conn:
            result = await conn.execute(text(_MARKETS), {"sr": sportradar_id})
            return [
                {
                    "market_id": market_id,
                    "line": None if line is None else float(line),
                    "bookmakers": list(books),
                    "changes": int(changes),
                    "first_at": format_ts(first_at),
                    "last_at": format_ts(last_at),
                }
                for market_id, line, books, changes, first_at, last_at in result.all()
            ]


def _outcomes(raw: Any) -> Sequence[dict[str, Any]]:
    value = json.loads(raw) if isinstance(raw, str | bytes) else raw
    return list(value or [])


def _repeated(request: Request, name: str) -> list[str]:
    """Every value of a repeatable query parameter (aiohttp's query is a multidict)."""
    getall = getattr(request.query, "getall", None)
    if getall is not None:
        return [str(v) for v in getall(name, [])]
    value = request.query.get(name)
    return [] if value is None else [value]


def _error(view: View, status: int, message: str) -> Response:
    return view.json({"error": message}, status=status)


NO_DATABASE = "line movement is kept in PostgreSQL: this worker has no ODDSTREAM_DATABASE_URL"


async def history(view: View, request: Request, reader: HistoryReader | None, *, sportradar_id: str) -> Response:
    """``GET /odds/events/{sportradar_id}/history``: one market and line, per bookmaker and outcome."""
    try:
        q = parse_query(request.query, _repeated(request, "bookmaker"), NAMES)
    except QueryError as exc:
        return _error(view, 400, str(exc))
    if reader is None:
        return _error(view, 503, NO_DATABASE)
    try:
        rows = await reader.rows(sportradar_id, q)
        if not rows and not await reader.known(sportradar_id):
            return _error(view, 404, f"unknown event {sportradar_id}")
        confirmed = await reader.confirmations(sportradar_id)
    except (OSError, SQLAlchemyError) as exc:
        log.warning("history_database_unavailable", error=repr(exc))
        return _error(view, 503, "the database is not answering; try again")
    body = history_body(sportradar_id, q, rows, confirmed)
    log.debug("history_served", sportradar_id=sportradar_id, market_id=q.market_id, rows=len(rows))
    if q.csv:
        name = f"history-{sportradar_id}-{q.market_id}{'' if q.line is None else f'-{q.line:g}'}.csv"
        return view.text(
            history_csv(body),
            content_type="text/csv",
            headers={"content-disposition": f'attachment; filename="{name}"'},
        )
    return view.json(body)


async def history_markets(
    view: View, request: Request, reader: HistoryReader | None, *, sportradar_id: str
) -> Response:
    """``GET /odds/events/{sportradar_id}/history/markets``: the markets and lines that have history."""
    if reader is None:
        return _error(view, 503, NO_DATABASE)
    try:
        markets = await reader.markets(sportradar_id)
        if not markets and not await reader.known(sportradar_id):
            return _error(view, 404, f"unknown event {sportradar_id}")
    except (OSError, SQLAlchemyError) as exc:
        log.warning("history_database_unavailable", error=repr(exc))
        return _error(view, 503, "the database is not answering; try again")
    return view.json({"sportradar_id": sportradar_id, "count": len(markets), "markets": markets})
