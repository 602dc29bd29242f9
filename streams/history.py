"""Line movement of one market and line: the change points of each outcome's price and of the margin,
per bookmaker, from the stored changes (``odds_history``). Pure: rows in, the answer's body out.

A row is one observed change of the quote: its outcomes as the board then had them. An empty
outcome list is the quote withdrawn; a suspended outcome, or one missing from a non-empty list, has
no price. Both are ``price: null`` in the series (never zero), and the margin is null while any
outcome has no price. Only change points are kept: a row that leaves an outcome's price as it was
adds no point to that outcome. ``confirmed_until`` is when the board was last seen with the price
still so ("unchanged until"), the later of the board's last confirmation and the last change.

With a window (``since``, ``until``), the series starts at ``since`` with the price then current
(the last change before it), and holds only the changes in the window.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from streams.clock import format_ts, parse_ts
from streams.market_catalog import name_of
from streams.markets import active_price, market_margin, quote_key

__all__ = [
    "HistoryQuery",
    "HistoryRow",
    "QueryError",
    "QuoteAt",
    "boards_at",
    "history_body",
    "history_csv",
    "parse_at",
    "parse_query",
]

MAX_SPAN_DAYS = 92


class QueryError(ValueError):
    """A query parameter of the history route is not one it can use (the message names it)."""


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One stored change of one quote."""

    bookmaker: str
    observed_at: datetime
    outcomes: Sequence[Mapping[str, Any]]
    previous: Sequence[Mapping[str, Any]] = ()
    """The outcomes before this change: a withdrawn quote still names its outcomes."""


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    market_id: str
    line: float | None
    bookmakers: tuple[str, ...]
    """Empty: every bookmaker."""
    since: datetime | None
    until: datetime | None
    csv: bool


def _ts(params: Mapping[str, str], name: str) -> datetime | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_ts(raw, name)
    except ValueError as exc:
        raise QueryError(f"{name} must be an ISO 8601 time with a zone, e.g. 2026-12-01T18:00:00Z ({exc})") from None


def parse_query(params: Mapping[str, str], bookmakers: Sequence[str], known_books: Iterable[str]) -> HistoryQuery:
    """The query of ``?market_id=&line=&bookmaker=&from=&to=&format=``; raises ``QueryError``."""
    market_id = (params.get("market_id") or "").strip()
    if not market_id:
        raise QueryError("market_id is required (GET /odds/events/{id}/history/markets lists them)")
    line: float | None = None
    if raw_line := params.get("line"):
        try:
            line = float(raw_line)
        except ValueError:
            raise QueryError(f"line must be a number, got {raw_line!r}") from None
        if line != line or line in (float("inf"), float("-inf")):
            raise QueryError(f"line must be a finite number, got {raw_line!r}")
    known = set(known_books)
    unknown = sorted(set(bookmakers) - known)
    if unknown:
        raise QueryError(f"unknown bookmaker {', '.join(unknown)}: one of {', '.join(sorted(known))}")
    since, until = _ts(params, "from"), _ts(params, "to")
    if since is not None and until is not None:
        if until < since:
            raise QueryError("to must not be before from")
        if (until - since).days > MAX_SPAN_DAYS:
            raise QueryError(f"from and to may be at most {MAX_SPAN_DAYS} days apart")
    fmt = params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise QueryError(f"format must be json or csv, got {fmt!r}")
    return HistoryQuery(market_id, line, tuple(dict.fromkeys(bookmakers)), since, until, fmt == "csv")


def _prices(outcomes: Sequence[Mapping[str, Any]], names: Iterable[str]) -> dict[str, float | None]:
    offered = {str(o.get("name")): active_price(o) for o in outcomes}
    return {name: offered.get(name) for name in names}


def history_body(
    sportradar_id: str,
    q: HistoryQuery,
    rows: Iterable[HistoryRow],
    confirmed: Mapping[str, datetime],
) -> dict[str, Any]:
    """The answer of the history route from the market's rows (any order) and each board's last
    confirmation."""
    by_book: dict[str, list[HistoryRow]] = {}
    for row in rows:
        if q.until is not None and row.observed_at > q.until:
            continue
        by_book.setdefault(row.bookmaker, []).append(row)
    series: list[dict[str, Any]] = []
    margins: list[dict[str, Any]] = []
    for book in sorted(by_book):
        changes = sorted(by_book[book], key=lambda r: r.observed_at)
        names = sorted({str(o.get("name")) for r in changes for o in (*r.outcomes, *r.previous)})
        points: dict[str, list[dict[str, Any]]] = {n: [] for n in names}
        margin_points: list[dict[str, Any]] = []
        for row in changes:
            at = row.observed_at if q.since is None or row.observed_at > q.since else q.since
            if q.since is not None and row.observed_at <= q.since:
                # before the window: only the price current at its start counts
                for pts in (*points.values(), margin_points):
                    pts.clear()
            prices = _prices(row.outcomes, names)
            for name, price in prices.items():
                pts = points[name]
                if not pts or pts[-1]["price"] != price:
                    pts.append({"at": format_ts(at), "price": price})
            margin = market_margin(q.market_id, row.outcomes) if row.outcomes else None
            value = None if margin is None else round(margin, 6)
            if not margin_points or margin_points[-1]["margin"] != value:
                margin_points.append({"at": format_ts(at), "margin": value})
        last_change = changes[-1].observed_at
        until = max(last_change, confirmed.get(book, last_change))
        if q.until is not None:
            until = min(until, q.until)
        for name in names:
            series.append(
                {"bookmaker": book, "outcome": name, "points": points[name], "confirmed_until": format_ts(until)}
            )
        margins.append({"bookmaker": book, "points": margin_points})
    return {
        "sportradar_id": sportradar_id,
        "market_id": q.market_id,
        "line": q.line,
        "series": series,
        "margins": margins,
    }


def history_csv(body: Mapping[str, Any]) -> str:
    """The history as one table for spreadsheets: a row per point, ``series`` the outcome or ``margin``."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["sportradar_id", "market_id", "line", "bookmaker", "series", "at", "value", "confirmed_until"])
    line = "" if body["line"] is None else body["line"]
    for s in body["series"]:
        for p in s["points"]:
            value = "" if p["price"] is None else p["price"]
            w.writerow(
                [
                    body["sportradar_id"],
                    body["market_id"],
                    line,
                    s["bookmaker"],
                    s["outcome"],
                    p["at"],
                    value,
                    s["confirmed_until"],
                ]
            )
    for m in body["margins"]:
        for p in m["points"]:
            value = "" if p["margin"] is None else p["margin"]
            w.writerow([body["sportradar_id"], body["market_id"], line, m["bookmaker"], "margin", p["at"], value, ""])
    return out.getvalue()


# -- the board at a past moment ------------------------------------------------------------------------


def parse_at(params: Mapping[str, str]) -> datetime | None:
    """``?at=`` of the event detail: None when absent; raises ``QueryError`` when it is given and is not
    a zoned time (an empty value included)."""
    if "at" in params and not params["at"]:
        raise QueryError("at must be an ISO 8601 time with a zone, e.g. 2026-12-01T18:00:00Z")
    return _ts(params, "at")


@dataclass(frozen=True, slots=True)
class QuoteAt:
    """The last stored change, at or before the moment asked, of one quote of one bookmaker."""

    bookmaker: str
    market_id: str
    line: float | None
    observed_at: datetime
    outcomes: Sequence[Mapping[str, Any]]
    previous: Sequence[Mapping[str, Any]] = ()
    previous_at: datetime | None = None
    """When the change before this one was: a withdrawn quote's prices were last changed then."""


def boards_at(
    sportradar_id: str, event: Mapping[str, Any], quotes: Iterable[QuoteAt]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """Each bookmaker's board of one event as it stood, in the live board's shape, from the last change
    of each quote at that moment; and when each board was last seen to change (the board's
    ``observed_at``, keyed ``"{sportradar_id}:{bookmaker}"`` like the live confirmations).

    A quote whose last change is a withdrawal (empty outcomes) is a withdrawn quote since then, with
    the prices it had before. ``event`` holds the event's names and kickoff as the live boards do.
    """
    boards: dict[str, dict[str, Any]] = {}
    for q in quotes:
        board = boards.get(q.bookmaker)
        if board is None:
            board = boards[q.bookmaker] = {
                **event,
                "sportradar_id": sportradar_id,
                "bookmaker": q.bookmaker,
                "quotes": {},
                "withdrawn": {},
                "observed_at": "",
            }
        at = format_ts(q.observed_at)
        key = quote_key(q.market_id, q.line)
        # the book's own name of a market is not kept with its history: the catalog's display name
        quote = {"market_id": q.market_id, "market_name": name_of(q.market_id), "line": q.line, "last_changed_at": at}
        if q.outcomes:
            board["quotes"][key] = {**quote, "outcomes": [dict(o) for o in q.outcomes]}
        elif q.previous:  # withdrawn since ``at``, last offered with these prices, as they were last changed
            changed = format_ts(q.previous_at) if q.previous_at is not None else at
            last = {**quote, "outcomes": [dict(o) for o in q.previous], "last_changed_at": changed}
            board["withdrawn"][key] = (at, last)
        else:  # listed with no outcomes at all: on the board as such, as the live board keeps it
            board["quotes"][key] = {**quote, "outcomes": []}
        board["observed_at"] = max(board["observed_at"], at)
    live = [b for b in boards.values() if b["quotes"] or b["withdrawn"]]
    return live, {f"{sportradar_id}:{b['bookmaker']}": b["observed_at"] for b in live}
