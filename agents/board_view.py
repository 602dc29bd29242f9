"""Pure read models of the live board: the events list and one event side by side.

Input is what the boards table holds (a board's quotes as ``agents.odds_rules.Quote`` tuples, or
lists once recovered from the changelog); output is what the web views return.
Time arrives as an argument (for freshness).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from agents.board_query import ListQuery
from agents.board_summary import board_summary
from agents.odds_rules import quote_view, stored_withdrawn
from streams.clock import parse_ts
from streams.market_catalog import GROUPS
from streams.market_catalog import label as market_label
from streams.markets import best_prices, compare_with_competitors, fair_view, market_margin, quote_key, reference_fair
from streams.sources.registry import HOME as HOME_BOOKMAKER

__all__ = ["FEATURED", "IndexedEvent", "event_detail", "events_csv", "index_events", "list_events"]

# (label, market_id, line, outcomes in column order); a margin needs the market's complete outcome set
# (streams.markets.market_margin)
FEATURED: tuple[tuple[str, str, float | None, tuple[str, ...]], ...] = (
    ("1x2", "3743", None, ("1", "X", "2")),
    ("over_under_2_5", "5000", 2.5, ("Over", "Under")),
    ("btts", "3795", None, ("Yes", "No")),
    ("double_chance", "4693", None, ("1X", "X2", "12")),
)


def _freshness(observed_at: str | None, now: datetime) -> float | None:
    if observed_at is None:
        return None
    return round((now - parse_ts(observed_at)).total_seconds(), 3)


def _group(boards: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, Mapping[str, Any]]]:
    events: dict[str, dict[str, Mapping[str, Any]]] = {}
    for board in boards:
        events.setdefault(str(board["sportradar_id"]), {})[str(board["bookmaker"])] = board
    return events


def _meta(by_bm: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The event's names and kickoff: BetPawa's, else the first book's."""
    return by_bm.get(HOME_BOOKMAKER) or by_bm[min(by_bm)]


@lru_cache(maxsize=65_536)
def _featured_quote(market_id: str, stored: tuple[Any, ...]) -> dict[str, Any]:
    quote = quote_view(stored)
    return {
        "prices": {o["name"]: o["price"] for o in quote["outcomes"]},
        "margin": market_margin(market_id, quote["outcomes"]),
        "last_changed_at": quote["last_changed_at"],
    }


def _featured(board: Mapping[str, Any]) -> dict[str, Any]:
    """The featured markets of one board. A stored quote is an immutable tuple (its last change
    included), so its featured view is computed once and shared (never mutate it): a page of the list
    looks up 1,200 of them instead of pricing them again."""
    featured: dict[str, Any] = {}
    quotes = board["quotes"]
    for label, market_id, line, _names in FEATURED:
        stored = quotes.get(quote_key(market_id, line))
        if stored is None:
            featured[label] = None
        elif type(stored) is tuple:
            featured[label] = _featured_quote(market_id, stored)
        else:  # a list or dict recovered from the changelog: not hashable, priced each time
            featured[label] = _featured_quote.__wrapped__(market_id, stored)
    return featured


def _row(
    sr_id: str, by_bm: Mapping[str, Mapping[str, Any]], confirmed: Mapping[str, str], now: datetime
) -> dict[str, Any]:
    meta = _meta(by_bm)
    bookmakers: dict[str, Any] = {}
    for bm, board in sorted(by_bm.items()):
        observed_at = confirmed.get(f"{sr_id}:{bm}")
        bookmakers[bm] = {
            "markets": _featured(board),
            "observed_at": observed_at,
            "age_s": _freshness(observed_at, now),
        }
    return {
        "sportradar_id": sr_id,
        "home_team": meta["home_team"],
        "away_team": meta["away_team"],
        "tournament": meta["tournament"],
        "country": meta.get("country") or "",
        "kickoff_at": meta["kickoff_at"],
        "bookmakers": bookmakers,
    }


@dataclass(frozen=True, slots=True)
class IndexedEvent:
    """One event of the board as the list filters and sorts it: read once per snapshot of the boards."""

    sportradar_id: str
    boards: dict[str, Mapping[str, Any]]
    """Its boards by bookmaker."""
    books: tuple[str, ...]
    meta: Mapping[str, Any]
    kickoff: datetime
    country: str
    tournament: str
    by_tournament: tuple[str, str, str, str]
    """The sort key of ``sort=tournament``: country, tournament, kickoff, id."""


def index_events(boards: Iterable[Mapping[str, Any]]) -> list[IndexedEvent]:
    """Every event of ``boards``, in kickoff order (then id): the part of the list that does not depend
    on the query, built once for all the queries a snapshot of the boards answers."""
    out: list[IndexedEvent] = []
    for sr_id, by_bm in _group(boards).items():
        meta = _meta(by_bm)
        country, tournament, kick = str(meta.get("country") or ""), str(meta["tournament"]), str(meta["kickoff_at"])
        out.append(
            IndexedEvent(
                sr_id,
                by_bm,
                tuple(by_bm),
                meta,
                parse_ts(kick),
                country,
                tournament,
                (country, tournament, kick, sr_id),
            )
        )
    out.sort(key=lambda e: (e.kickoff, e.sportradar_id))
    return out


def _matching(
    index: Sequence[IndexedEvent], now: datetime, query: ListQuery
) -> tuple[list[IndexedEvent], dict[str, Any]]:
    """The events passing ``query``'s filters, sorted; and the facets (countries, tournaments) of every
    event the list could show (the started ones only with ``include_started``), whatever the filters."""
    matched: list[IndexedEvent] = []
    countries: dict[str, int] = {}
    tournaments: dict[tuple[str, str], int] = {}
    for ev in index:
        if not query.include_started and ev.kickoff < now:
            continue
        countries[ev.country] = countries.get(ev.country, 0) + 1
        pair = (ev.country, ev.tournament)
        tournaments[pair] = tournaments.get(pair, 0) + 1
        if query.matches(ev.meta, ev.books, ev.kickoff, now):
            matched.append(ev)
    if query.sort == "tournament":
        matched.sort(key=lambda e: e.by_tournament)
    facets = {
        "countries": [{"country": c, "events": n} for c, n in sorted(countries.items())],
        "tournaments": [{"country": c, "tournament": t, "events": n} for (c, t), n in sorted(tournaments.items())],
    }
    return matched, facets


def _page(matched: list[IndexedEvent], query: ListQuery) -> list[IndexedEvent]:
    if not query.paged:
        return matched
    first = (query.page - 1) * query.page_size
    return matched[first : first + query.page_size]


def _indexed(boards: Iterable[Mapping[str, Any]] | Sequence[IndexedEvent]) -> Sequence[IndexedEvent]:
    if isinstance(boards, list) and (not boards or isinstance(boards[0], IndexedEvent)):
        return boards
    return index_events(boards)  # type: ignore[arg-type]


def list_events(
    boards: Iterable[Mapping[str, Any]] | Sequence[IndexedEvent],
    confirmed: Mapping[str, str],
    now: datetime,
    query: ListQuery | None = None,
) -> dict[str, Any]:
    """One page of the upcoming events: ``{count, page, page_size, events, facets}``.

    ``boards`` are the boards table's values, or their :func:`index_events` (built once per snapshot).
    ``count`` is every event passing the filters; ``events`` the page's, each with, per bookmaker, the
    featured prices, their margins and freshness. Paging comes after the filters and the sort, over
    every worker's boards, so the pages of one query cover each matching event exactly once.
    """
    query = query or ListQuery()
    matched, facets = _matching(_indexed(boards), now, query)
    return {
        "count": len(matched),
        "page": query.page,
        "page_size": query.page_size,
        "events": [_row(ev.sportradar_id, ev.boards, confirmed, now) for ev in _page(matched, query)],
        "facets": facets,
    }


CSV_HEAD: tuple[str, ...] = (
    "sportradar_id",
    "kickoff_at",
    "country",
    "tournament",
    "home_team",
    "away_team",
    "bookmaker",
    "observed_at",
    *(col for label, _, _, names in FEATURED for col in (*(f"{label}_{n}" for n in names), f"{label}_margin")),
)


def events_csv(
    boards: Iterable[Mapping[str, Any]] | Sequence[IndexedEvent],
    confirmed: Mapping[str, str],
    now: datetime,
    query: ListQuery,
) -> str:
    """The matching events as CSV, one row per event and bookmaker with the featured prices and margins;
    every matching event unless the query names a page (``ListQuery.paged``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEAD)
    matched, _ = _matching(_indexed(boards), now, query)
    for ev in _page(matched, query):
        sr_id = ev.sportradar_id
        row = _row(sr_id, ev.boards, confirmed, now)
        head = [sr_id, row["kickoff_at"], row["country"], row["tournament"], row["home_team"], row["away_team"]]
        for bm, b in row["bookmakers"].items():
            cells: list[Any] = [*head, bm, b["observed_at"] or ""]
            for label, _, _, names in FEATURED:
                q = b["markets"][label]
                prices = q["prices"] if q else {}
                cells += ["" if prices.get(n) is None else prices[n] for n in names]
                cells.append("" if not q or q["margin"] is None else round(q["margin"], 6))
            writer.writerow(cells)
    return out.getvalue()


def _detail_entry(markets: dict[str, dict[str, Any]], key: str, quote: Mapping[str, Any]) -> dict[str, Any]:
    entry = markets.get(key)
    if entry is None:
        name, group = market_label(quote["market_id"], quote["market_name"])
        entry = markets[key] = {
            "market_id": quote["market_id"],
            "market_name": quote["market_name"],
            "name": name,
            "group": group,
            "line": quote["line"],
            "bookmakers": {},
        }
    return entry


def event_detail(
    sr_id: str, boards: Iterable[Mapping[str, Any]], confirmed: Mapping[str, str], now: datetime
) -> dict[str, Any] | None:
    """Every quote of one event, per bookmaker, with margins; None when the event is unknown.

    Each market carries its display ``name`` and ``group`` (``streams.market_catalog``). A market a
    bookmaker no longer offers stays with that bookmaker's last prices and ``unavailable_since`` (no
    margin, no part in the best prices or comparisons); the market's own ``unavailable_since`` is set
    when no bookmaker offers it any more. ``summary`` compares BetPawa with its competitors, over every
    market and per group (``agents.board_summary``).
    """
    by_bm = _group(boards).get(sr_id)
    if not by_bm:
        return None
    meta = _meta(by_bm)
    markets: dict[str, dict[str, Any]] = {}
    for bm, board in sorted(by_bm.items()):
        observed_at = confirmed.get(f"{sr_id}:{bm}")
        for key, stored in board["quotes"].items():
            quote = quote_view(stored)
            _detail_entry(markets, key, quote)["bookmakers"][bm] = {
                "outcomes": quote["outcomes"],
                "margin": market_margin(quote["market_id"], quote["outcomes"]),
                "fair": fair_view(quote["market_id"], quote["outcomes"]),
                "observed_at": observed_at,
                "last_changed_at": quote["last_changed_at"],
                "unavailable_since": None,
            }
        for key, (since, last) in stored_withdrawn(board.get("withdrawn")).items():
            quote = quote_view(last)
            _detail_entry(markets, key, quote)["bookmakers"][bm] = {
                "outcomes": quote["outcomes"],
                "margin": None,
                "fair": None,
                "observed_at": observed_at,
                "last_changed_at": quote["last_changed_at"],
                "unavailable_since": since,
            }
    for entry in markets.values():
        offered = {bm: q["outcomes"] for bm, q in entry["bookmakers"].items() if q["unavailable_since"] is None}
        entry["best"] = best_prices(offered)
        entry["betpawa_vs_best_competitor"] = compare_with_competitors(entry["market_id"], offered)
        entry["fair"] = reference_fair(entry["market_id"], offered)
        entry["unavailable_since"] = (
            None if offered else max(q["unavailable_since"] for q in entry["bookmakers"].values())
        )
    freshness = {
        bm: {"observed_at": (at := confirmed.get(f"{sr_id}:{bm}")), "age_s": _freshness(at, now)}
        for bm in sorted(by_bm)
    }
    ordered = sorted(markets.values(), key=lambda m: (m["market_id"], m["line"] is not None, m["line"] or 0))
    return {
        "sportradar_id": sr_id,
        "home_team": meta["home_team"],
        "away_team": meta["away_team"],
        "tournament": meta["tournament"],
        "country": meta.get("country") or "",
        "kickoff_at": meta["kickoff_at"],
        "bookmakers": freshness,
        "groups": [g for g in GROUPS if any(m["group"] == g for m in ordered)],
        "summary": board_summary(ordered),
        "markets": ordered,
    }
