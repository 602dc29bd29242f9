"""Pure read models of the live board: the events list and one event side by side.

Input is what the boards table holds (a board's quotes as ``agents.odds_rules.Quote`` tuples, or
lists once recovered from the changelog); output is what the web views return.
Time arrives as an argument (for freshness).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from agents.odds_rules import quote_view
from streams.clock import parse_ts
from streams.markets import best_prices, compare_with_competitors, fair_view, market_margin, quote_key, reference_fair

__all__ = ["FEATURED", "EventFilter", "event_detail", "events_list"]

# (label, market_id, line); a margin needs the market's complete outcome set (streams.markets.market_margin)
FEATURED: tuple[tuple[str, str, float | None], ...] = (
    ("1x2", "3743", None),
    ("over_under_2_5", "5000", 2.5),
    ("btts", "3795", None),
    ("double_chance", "4693", None),
)

EventFilter = Mapping[str, str]


def _freshness(observed_at: str | None, now: datetime) -> float | None:
    if observed_at is None:
        return None
    return round((now - parse_ts(observed_at)).total_seconds(), 3)


def _group(
    boards: Iterable[Mapping[str, Any]], confirmed: Mapping[str, str]
) -> dict[str, dict[str, Mapping[str, Any]]]:
    events: dict[str, dict[str, Mapping[str, Any]]] = {}
    for board in boards:
        events.setdefault(str(board["sportradar_id"]), {})[str(board["bookmaker"])] = board
    return events


def _matches(meta: Mapping[str, Any], flt: EventFilter) -> bool:
    if (t := flt.get("tournament")) and meta["tournament"] != t:
        return False
    kickoff = parse_ts(meta["kickoff_at"])
    if (lo := flt.get("kickoff_from")) and kickoff < parse_ts(lo, "kickoff_from"):
        return False
    if (hi := flt.get("kickoff_to")) and kickoff > parse_ts(hi, "kickoff_to"):
        return False
    if q := flt.get("q"):
        text = f"{meta['home_team']} {meta['away_team']} {meta['tournament']}".lower()
        if q.lower() not in text:
            return False
    return True


def events_list(
    boards: Iterable[Mapping[str, Any]],
    confirmed: Mapping[str, str],
    now: datetime,
    flt: EventFilter | None = None,
) -> list[dict[str, Any]]:
    """Upcoming events with, per bookmaker, the featured prices, their margins and freshness."""
    flt = flt or {}
    out: list[dict[str, Any]] = []
    for sr_id, by_bm in _group(boards, confirmed).items():
        meta = by_bm.get("betpawa") or next(iter(by_bm.values()))
        if not _matches(meta, flt):
            continue
        bookmakers: dict[str, Any] = {}
        for bm, board in sorted(by_bm.items()):
            observed_at = confirmed.get(f"{sr_id}:{bm}")
            featured: dict[str, Any] = {}
            for label, market_id, line in FEATURED:
                stored = board["quotes"].get(quote_key(market_id, line))
                if stored is None:
                    featured[label] = None
                    continue
                quote = quote_view(stored)
                featured[label] = {
                    "prices": {o["name"]: o["price"] for o in quote["outcomes"]},
                    "margin": market_margin(market_id, quote["outcomes"]),
                    "last_changed_at": quote["last_changed_at"],
                }
            bookmakers[bm] = {
                "markets": featured,
                "observed_at": observed_at,
                "age_s": _freshness(observed_at, now),
            }
        out.append(
            {
                "sportradar_id": sr_id,
                "home_team": meta["home_team"],
                "away_team": meta["away_team"],
                "tournament": meta["tournament"],
                "kickoff_at": meta["kickoff_at"],
                "bookmakers": bookmakers,
            }
        )
    out.sort(key=lambda e: (e["kickoff_at"], e["sportradar_id"]))
    return out


def event_detail(
    sr_id: str, boards: Iterable[Mapping[str, Any]], confirmed: Mapping[str, str], now: datetime
) -> dict[str, Any] | None:
    """Every quote of one event, per bookmaker, with margins; None when the event is unknown."""
    by_bm = _group(boards, confirmed).get(sr_id)
    if not by_bm:
        return None
    meta = by_bm.get("betpawa") or next(iter(by_bm.values()))
    markets: dict[str, dict[str, Any]] = {}
    for bm, board in sorted(by_bm.items()):
        observed_at = confirmed.get(f"{sr_id}:{bm}")
        for key, stored in board["quotes"].items():
            quote = quote_view(stored)
            entry = markets.setdefault(
                key,
                {
                    "market_id": quote["market_id"],
                    "market_name": quote["market_name"],
                    "line": quote["line"],
                    "bookmakers": {},
                },
            )
            entry["bookmakers"][bm] = {
                "outcomes": quote["outcomes"],
                "margin": market_margin(quote["market_id"], quote["outcomes"]),
                "fair": fair_view(quote["market_id"], quote["outcomes"]),
                "observed_at": observed_at,
                "last_changed_at": quote["last_changed_at"],
            }
    for entry in markets.values():
        outcomes = {bm: q["outcomes"] for bm, q in entry["bookmakers"].items()}
        entry["best"] = best_prices(outcomes)
        entry["betpawa_vs_best_competitor"] = compare_with_competitors(entry["market_id"], outcomes)
        entry["fair"] = reference_fair(entry["market_id"], outcomes)
    freshness = {
        bm: {"observed_at": (at := confirmed.get(f"{sr_id}:{bm}")), "age_s": _freshness(at, now)}
        for bm in sorted(by_bm)
    }
    return {
        "sportradar_id": sr_id,
        "home_team": meta["home_team"],
        "away_team": meta["away_team"],
        "tournament": meta["tournament"],
        "kickoff_at": meta["kickoff_at"],
        "bookmakers": freshness,
        "markets": sorted(markets.values(), key=lambda m: (m["market_id"], m["line"] is not None, m["line"] or 0)),
    }
