"""The three bookmakers' views of one generated world, rendered as their APIs answer (pure, no I/O).

BetPawa lists every event of the main ``World`` (its v4 shape lives in ``simulator.py``). SportyBet
and Bet9ja each list a deterministic share of those events plus some of a smaller world of events
BetPawa does not carry, so the three overlap as the reference measured (some events on one or two
books only, some Bet9ja events without a SportRadar id). Each competitor prices the same goal model
with its own margin and a small per-market disagreement, offers its own market set (plus markets
with no BetPawa equivalent, which the parsers count as unmapped), suspends and withdraws markets
for a while, and speaks its own ids, envelopes and price formats (shapes of the real captures).

Fair probabilities are one upstream feed, as on the real books (markets.md §7): SportyBet publishes
the main world's, renormalised to "no push" (Draw No Bet: ``win / (1 - refund)``, void 0) as
10-decimal strings, whatever its own prices; Bet9ja publishes none.

Every decision is a function of (seed, bookmaker, event, market, world step): the same seed and
step always render the same bytes.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import cached_property
from typing import Any, Final

from streams.clock import require_aware
from streams.sources import mapping as reg
from streams.sources.bet9ja import CACHE_VERSION
from streams.sources.model import Outcome, Quote
from streams.sources.world import World, WorldEvent, WorldMarket, price_market

__all__ = [
    "COMPETITORS",
    "BookView",
    "Listing",
    "competitor_quotes",
    "no_push_probability",
    "render_bet9ja_event",
    "render_bet9ja_group",
    "render_bet9ja_sports",
    "render_sportybet_event",
    "render_sportybet_events",
    "render_sportybet_tournaments",
    "unit",
]

COMPETITORS: Final = ("sportybet", "bet9ja")
# share of BetPawa's events each competitor also lists (reference: 1,127 BetPawa events of 1,311
# merged; SportyBet and Bet9ja carry most of them plus their own)
LISTED_SHARE: Final[Mapping[str, float]] = {"sportybet": 0.94, "bet9ja": 0.90}
BET9JA_WITHOUT_SR_SHARE: Final = 0.03  # Bet9ja events whose EXTID is empty: unmatchable by design
EXTRA_SHARE: Final = 0.05  # events only the competitors carry, as a share of the main world
MARGIN_OFFSET: Final[Mapping[str, float]] = {"sportybet": 0.004, "bet9ja": 0.010}
SUSPEND_SHARE: Final = 0.01  # markets suspended during one suspension window
WITHDRAW_SHARE: Final = 0.01  # markets withdrawn during one withdrawal window
SUSPEND_WINDOW: Final = 3  # world steps
WITHDRAW_WINDOW: Final = 7
SPORTYBET_HTFT_SHARE: Final = 0.85  # SportyBet offers HT/FT on most events only
_COMP_BASE: Final = 11_000  # WorldEvent.competition_id = 11000 + competition index
SPORTYBET_PROBABILITY_PLACES: Final = 10  # "0.1996510000"


def unit(*parts: object) -> float:
    """A deterministic uniform number in [0, 1) from its parts (crc32: fast and stable)."""
    return zlib.crc32("\x1f".join(str(p) for p in parts).encode()) / 2**32


@dataclass(frozen=True, slots=True)
class Listing:
    """One event as one competitor lists it."""

    event: WorldEvent
    bookmaker_id: str  # SportyBet: sr:match:<n>; Bet9ja: its own numeric ID
    has_sportradar_id: bool = True


class BookView:
    """What SportyBet and Bet9ja list of ``main`` (BetPawa's world) and ``extra`` (theirs alone)."""

    def __init__(self, seed: int, main: World, extra: World) -> None:
        self.seed = seed
        self.main = main
        self.extra = extra

    @cached_property
    def listings(self) -> Mapping[str, tuple[Listing, ...]]:
        out: dict[str, list[Listing]] = {bm: [] for bm in COMPETITORS}
        for extra, events in ((False, self.main.events), (True, self.extra.events)):
            for event in events:
                for bm in self._books(event, extra):
                    out[bm].append(self._listing(bm, event))
        return {bm: tuple(sorted(ls, key=lambda x: (x.event.kickoff_at, x.bookmaker_id))) for bm, ls in out.items()}

    @cached_property
    def by_id(self) -> Mapping[str, Mapping[str, Listing]]:
        return {bm: {x.bookmaker_id: x for x in ls} for bm, ls in self.listings.items()}

    @property
    def step(self) -> int:
        return self.main.step

    def _books(self, event: WorldEvent, extra: bool) -> list[str]:
        u = unit(self.seed, "books", event.sportradar_id)
        if extra:  # 60 % on both competitors, 20 % on each alone
            return list(COMPETITORS) if u < 0.6 else ["sportybet"] if u < 0.8 else ["bet9ja"]
        return [bm for bm in COMPETITORS if unit(self.seed, "listed", bm, event.sportradar_id) < LISTED_SHARE[bm]]

    def _listing(self, bm: str, event: WorldEvent) -> Listing:
        if bm == "sportybet":
            return Listing(event, f"sr:match:{event.sportradar_id}")
        b9_id = str(700_000_000 + int(unit(self.seed, "b9id", event.sportradar_id) * 99_999_999))
        has_sr = unit(self.seed, "b9sr", event.sportradar_id) >= BET9JA_WITHOUT_SR_SHARE
        return Listing(event, b9_id, has_sr)


def _state(seed: int, bm: str, event: WorldEvent, market: WorldMarket, step: int) -> tuple[bool, bool]:
    """(withdrawn, suspended) of one market of one bookmaker at ``step``."""
    key = (seed, bm, event.sportradar_id, market.spec.market_id, market.spec.line)
    withdrawn = unit(*key, "withdrawn", (step + int(unit(*key) * WITHDRAW_WINDOW)) // WITHDRAW_WINDOW) < WITHDRAW_SHARE
    suspended = unit(*key, "suspended", (step + int(unit(*key) * SUSPEND_WINDOW)) // SUSPEND_WINDOW) < SUSPEND_SHARE
    return withdrawn, suspended


def competitor_quotes(seed: int, bm: str, event: WorldEvent, step: int, only: str | None = None) -> list[Quote]:
    """The canonical quotes ``bm`` offers for ``event`` at ``step`` (before rendering); ``only``: one market id."""
    quotes = []
    for market in event.markets:
        spec = market.spec
        if only is not None and spec.market_id != only:
            continue
        no_htft = unit(seed, "htft", event.sportradar_id) >= SPORTYBET_HTFT_SHARE
        if bm == "sportybet" and spec.kind == "htft" and no_htft:
            continue
        withdrawn, suspended = _state(seed, bm, event, market, step)
        if withdrawn:
            continue
        key = (seed, bm, event.sportradar_id, spec.market_id, spec.line)
        lam_home = market.lam_home * math.exp((unit(*key, "h") - 0.5) * 0.08)
        lam_away = market.lam_away * math.exp((unit(*key, "a") - 0.5) * 0.08)
        margin = market.margin + MARGIN_OFFSET[bm] + (unit(*key, "m") - 0.5) * 0.01
        n_out = len(market.quote.outcomes)
        flags = tuple(suspended or s for s in market.suspended) if suspended else market.suspended
        quote = price_market(spec, lam_home, lam_away, margin, flags[:n_out])
        quotes.append(_published_chances(bm, quote, market.quote))
    return quotes


def no_push_probability(outcome: Outcome) -> float | None:
    """SportyBet's reading of a BetPawa-style chance: ``win / (1 - refund)``, to its 10 decimals."""
    win, refund = outcome.probability, outcome.refund_probability or 0.0
    if win is None or refund >= 1.0:
        return None
    return min(1.0, round(win / (1 - refund), SPORTYBET_PROBABILITY_PLACES))


def _published_chances(bm: str, quote: Quote, world: Quote) -> Quote:
    """``quote`` with the fair probabilities ``bm`` publishes: the world's (SportyBet's way) or none."""
    chances: list[tuple[float | None, float | None]] = [(None, None)] * len(world.outcomes)
    if bm == "sportybet":
        chances = [(no_push_probability(o), 0.0) for o in world.outcomes]
    outcomes = tuple(
        Outcome(o.name, o.price, o.suspended, p, r if p is not None else None)
        for o, (p, r) in zip(quote.outcomes, chances, strict=True)
    )
    return replace(quote, outcomes=outcomes)


def _comp_index(event: WorldEvent) -> int:
    return int(event.competition_id) - _COMP_BASE


# --------------------------------------------------------------------------------------------------
# SportyBet (/api/ng/factsCenter)
# --------------------------------------------------------------------------------------------------

_SB_OUTCOME_IDS: Final[Mapping[str, Mapping[str, str]]] = {
    "1": {"Home": "1", "Draw": "2", "Away": "3"},
    "60": {"Home": "1", "Draw": "2", "Away": "3"},
    "10": {"Home or Draw": "9", "Home or Away": "10", "Draw or Away": "11"},
    "18": {"Over": "12", "Under": "13"},
    "68": {"Over": "12", "Under": "13"},
    "29": {"Yes": "74", "No": "76"},
    "75": {"Yes": "74", "No": "76"},
    "16": {"Home": "1714", "Away": "1715"},
    "11": {"Home": "4", "Away": "5"},
    "26": {"Odd": "70", "Even": "72"},
}
_SB_HTFT_IDS: Final = ("418", "420", "422", "424", "426", "428", "430", "432", "434")
_SB_GROUP: Final = "171121135724MGI11262166"


def _sb_tournament_id(event: WorldEvent) -> str:
    return f"sr:tournament:{1000 + _comp_index(event)}"


def _sb_sport(event: WorldEvent) -> dict[str, Any]:
    return {
        "id": "sr:sport:1",
        "name": "Football",
        "category": {
            "id": f"sr:category:{300 + _comp_index(event)}",
            "name": event.region,
            "tournament": {"id": _sb_tournament_id(event), "name": event.tournament},
        },
    }


def _sb_decimal(value: float) -> str:
    """A probability as SportyBet writes it: 10 decimals, zero as ``0E-10`` (``Decimal``'s spelling)."""
    text = f"{value:.{SPORTYBET_PROBABILITY_PLACES}f}"
    return text if value >= 1e-6 else str(Decimal(text))  # Decimal turns below 1e-6 to "1.000E-7"


def _sb_market(quote: Quote) -> dict[str, Any] | None:
    entry = reg.by_betpawa(quote.market_id)
    if entry is None or entry.sportybet_id is None:
        return None
    sb_id = entry.sportybet_id
    descs = {o.betpawa: o.sportybet for o in entry.outcomes if o.betpawa is not None and o.sportybet is not None}
    outcomes = []
    for i, outcome in enumerate(quote.outcomes):
        desc = descs.get(outcome.name)
        if desc is None:
            continue
        text = desc
        if sb_id in reg.SB_TOTAL_IDS and quote.line is not None:
            text = f"{desc} {quote.line:g}"
        elif sb_id in reg.SB_HANDICAP_IDS and quote.line is not None:
            line = quote.line if desc == "Home" else -quote.line
            text = f"{desc} ({line:+g})"
        out_id = _SB_HTFT_IDS[i] if sb_id == "47" else _SB_OUTCOME_IDS.get(sb_id, {}).get(desc, str(100 + i))
        price = outcome.price if outcome.price is not None else 1.0
        rendered: dict[str, Any] = {"id": out_id, "odds": f"{price:.2f}"}
        if outcome.probability is not None:
            rendered["probability"] = _sb_decimal(outcome.probability)
            rendered["voidProbability"] = _sb_decimal(outcome.refund_probability or 0.0)
        rendered.update({"isActive": 0 if outcome.suspended else 1, "desc": text})
        outcomes.append(rendered)
    market: dict[str, Any] = {"id": sb_id, "product": 3, "desc": entry.canonical, "status": 0, "group": "Main"}
    if quote.line is not None:
        key = "total" if sb_id in reg.SB_TOTAL_IDS else "hcp"
        market["specifier"] = f"{key}={quote.line:g}"
    market.update({"groupId": _SB_GROUP, "name": entry.canonical, "favourite": 0, "outcomes": outcomes})
    market.update({"farNearOdds": 0, "sourceType": "BET_RADAR", "banned": False})
    return market


def _sb_unmapped_markets(event: WorldEvent) -> list[dict[str, Any]]:
    """Markets SportyBet offers that have no BetPawa counterpart (player props, corners)."""
    return [
        {
            "id": "800285",
            "product": 3,
            "desc": "Player to score",
            "status": 0,
            "outcomes": [
                {"id": "1", "odds": "3.10", "isActive": 1, "desc": f"{event.home_team} striker"},
                {"id": "2", "odds": "4.20", "isActive": 1, "desc": f"{event.away_team} striker"},
            ],
        },
        {
            "id": "900394",
            "product": 3,
            "desc": "Total corners",
            "status": 0,
            "specifier": "total=9.5",
            "outcomes": [
                {"id": "12", "odds": "1.85", "isActive": 1, "desc": "Over 9.5"},
                {"id": "13", "odds": "1.90", "isActive": 1, "desc": "Under 9.5"},
            ],
        },
    ]


def _sb_head(event: WorldEvent) -> dict[str, Any]:
    return {
        "eventId": f"sr:match:{event.sportradar_id}",
        "gameId": str(10_000 + int(event.sportradar_id) % 90_000),
        "productStatus": "0#0",
        "estimateStartTime": int(require_aware(event.kickoff_at).timestamp() * 1000),
        "status": 0,
        "matchStatus": "Not start",
        "homeTeamId": f"sr:competitor:{event.home_id}",
        "homeTeamName": event.home_team,
        "awayTeamName": event.away_team,
        "awayTeamId": f"sr:competitor:{event.away_id}",
        "sport": _sb_sport(event),
    }


def _sb_ok(data: object) -> dict[str, Any]:
    return {"bizCode": 10000, "message": "0#0", "data": data}


def render_sportybet_event(seed: int, event: WorldEvent, step: int) -> dict[str, Any]:
    """``GET /api/ng/factsCenter/event`` of one event, envelope included."""
    markets = [m for q in competitor_quotes(seed, "sportybet", event, step) if (m := _sb_market(q)) is not None]
    markets.extend(_sb_unmapped_markets(event))
    return _sb_ok({**_sb_head(event), "markets": markets, "bookingStatus": "Booked", "banned": False})


def render_sportybet_tournaments(listings: Sequence[Listing]) -> dict[str, Any]:
    """``popularAndSportList``: the football tournament tree of what SportyBet lists."""
    categories: dict[str, dict[str, Any]] = {}
    for listing in listings:
        sport = _sb_sport(listing.event)
        cat = sport["category"]
        node = categories.setdefault(cat["id"], {"id": cat["id"], "name": cat["name"], "eventSize": 0, "t": {}})
        node["eventSize"] += 1
        tour = node["t"].setdefault(cat["tournament"]["id"], {**cat["tournament"], "eventSize": 0})
        tour["eventSize"] += 1
    cats = [
        {"id": c["id"], "name": c["name"], "eventSize": c["eventSize"], "tournaments": list(c["t"].values())}
        for c in categories.values()
    ]
    football = {"id": "sr:sport:1", "name": "Football", "eventSize": len(listings), "categories": cats}
    return _sb_ok({"sportList": [football]})


def render_sportybet_events(seed: int, listings: Sequence[Listing], tournament_id: str, step: int) -> dict[str, Any]:
    """``POST pcEvents`` for one tournament: its events with the 1X2 inlined."""
    events = []
    name = ""
    for listing in listings:
        event = listing.event
        if _sb_tournament_id(event) != tournament_id:
            continue
        name = event.tournament
        one_x_two = competitor_quotes(seed, "sportybet", event, step, only="3743")
        events.append({**_sb_head(event), "markets": [m for q in one_x_two if (m := _sb_market(q)) is not None]})
    return _sb_ok([{"id": tournament_id, "name": name, "events": events}] if events else [])


# --------------------------------------------------------------------------------------------------
# Bet9ja (/desktop/feapi/PalimpsestAjax)
# --------------------------------------------------------------------------------------------------


def _b9_time(value: datetime) -> str:
    return require_aware(value).strftime("%Y-%m-%d %H:%M:%S")  # zone-less, UTC


def _b9_price(price: float | None) -> str:
    return "1" if price is None else f"{round(price, 2):g}"  # "1": the locked placeholder


def _b9_odds(quotes: Sequence[Quote]) -> dict[str, str]:
    odds: dict[str, str] = {}
    for quote in quotes:
        entry = reg.by_betpawa(quote.market_id)
        if entry is None or entry.bet9ja_key is None:
            continue
        suffixes = {o.betpawa: o.bet9ja for o in entry.outcomes if o.betpawa is not None and o.bet9ja is not None}
        param = f"@{quote.line:g}" if quote.line is not None else ""
        for outcome in quote.outcomes:
            suffix = suffixes.get(outcome.name)
            if suffix is not None:
                odds[f"{entry.bet9ja_key}{param}_{suffix}"] = _b9_price(outcome.price)
    return odds


_B9_UNMAPPED: Final[Mapping[str, str]] = {  # codes with no BetPawa counterpart
    "S_TOTAL1T2T_2+AND1+Y": "2.4",
    "S_TOTAL1T2T_2+AND1+N": "1.42",
    "S_WINBOTHHALVES_1": "6.5",
    "S_WINBOTHHALVES_2": "9.0",
}


def _b9_head(listing: Listing) -> dict[str, Any]:
    event = listing.event
    head: dict[str, Any] = {
        "ID": int(listing.bookmaker_id),
        "C": str(1000 + int(event.sportradar_id) % 9000),
        "EXTID": event.sportradar_id if listing.has_sportradar_id else None,
        "DS": f"{event.home_team} - {event.away_team}",
        "STARTDATE": _b9_time(event.kickoff_at),
        "SID": 1,
    }
    return head


def render_bet9ja_event(seed: int, listing: Listing, step: int) -> dict[str, Any]:
    """``GetEvent?EVENTID=<ID>``, envelope included (odds in the flat ``O`` dict)."""
    event = listing.event
    quotes = competitor_quotes(seed, "bet9ja", event, step)
    odds = {**_b9_odds(quotes), **_B9_UNMAPPED}
    head = _b9_head(listing)
    if head["EXTID"] is None:
        del head["EXTID"]
    data = {
        **head,
        "INCTYPE": 0,
        "ST": 1,
        "MKNUM": len(quotes) + 2,
        "GN": event.tournament,
        "SG": event.region,
        "S": "Soccer",
        "ENDVISIBILITYDATE": _b9_time(event.kickoff_at),
        "O": odds,
    }
    return {"R": "OK", "D": data}


def _b9_group_id(event: WorldEvent) -> str:
    return str(170_000 + _comp_index(event))


def render_bet9ja_sports(listings: Sequence[Listing]) -> dict[str, Any]:
    """``GetSports``: soccer's sub-groups (regions) and groups (competitions)."""
    regions: dict[str, dict[str, Any]] = {}
    for listing in listings:
        event = listing.event
        region = regions.setdefault(event.region_id, {"SG_DESC": event.region, "NUM": 0, "G": {}})
        region["NUM"] += 1
        group = region["G"].setdefault(_b9_group_id(event), {"G_DESC": event.tournament, "NUM": 0})
        group["NUM"] += 1
    return {"R": "OK", "D": {"PAL": {"1": {"S_DESC": "Soccer", "NUM": len(listings), "SG": regions}}}}


def render_bet9ja_group(seed: int, listings: Sequence[Listing], group_id: str, step: int) -> dict[str, Any]:
    """``GetEventsInGroupV2?GROUPID=<g>``: the group's events with the 1X2 inlined."""
    events = []
    for listing in listings:
        if _b9_group_id(listing.event) != group_id:
            continue
        one_x_two = competitor_quotes(seed, "bet9ja", listing.event, step, only="3743")
        events.append({**_b9_head(listing), "O": _b9_odds(one_x_two)})
    return {"R": "OK", "D": {"E": events, "V": CACHE_VERSION}}
