"""A deterministic, generated world of football fixtures and their BetPawa boards (pure, no I/O).

Each market is priced from an independent-Poisson goal model with its own expected goals
(``lam_home``, ``lam_away``) and a bookmaker margin of 5.5-7.5 %, spread so that longshots carry more
of it (``p' = p + m (1 - p) / (n - S)``, ``S`` = the outcomes' fair total: 1, or 2 for Double Chance).
``World.tick`` re-prices about 5 % of the markets after nudging their expected goals, so consecutive
scrapes see moving odds. Same seed, same ``now``, same steps → the same world, bit for bit.

Each outcome keeps those fair probabilities as BetPawa publishes them (markets.md §7), rounded to
``PROBABILITY_PLACES`` decimals: ``Outcome.probability`` is the unconditional chance to win and
``Outcome.refund_probability`` the chance of a push, 0 except on Draw No Bet (P(draw)), which is
priced from the no-push chance ``probability / (1 - refund_probability)``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cached_property
from typing import Final

from streams.clock import require_aware
from streams.sources import mapping
from streams.sources.model import Outcome, Quote

__all__ = [
    "BOARD",
    "MARKET_1X2",
    "MARKET_ASIAN_HANDICAP",
    "MARKET_BTTS",
    "MARKET_DOUBLE_CHANCE",
    "MARKET_OVER_UNDER",
    "PROBABILITY_PLACES",
    "TICK_MARKET_SHARE",
    "MarketSpec",
    "World",
    "WorldEvent",
    "WorldMarket",
    "build_world",
    "fair_total",
    "price_market",
]

MARKET_1X2: Final = "3743"
MARKET_DOUBLE_CHANCE: Final = "4693"
MARKET_BTTS: Final = "3795"
MARKET_OVER_UNDER: Final = "5000"
MARKET_ASIAN_HANDICAP: Final = "3774"
MARKET_DRAW_NO_BET: Final = "4703"
MARKET_ODD_EVEN: Final = "4833"
MARKET_1X2_1H: Final = "3668"
MARKET_OVER_UNDER_1H: Final = "4958"
MARKET_BTTS_1H: Final = "3789"
MARKET_HTFT: Final = "4706"

TICK_MARKET_SHARE: Final = 0.05
SUSPENDED_SHARE: Final = 0.01
MARGIN_RANGE: Final = (0.055, 0.075)
FIRST_HALF_SHARE: Final = 0.45
PROBABILITY_PLACES: Final = 6  # as the upstream feed's numbers (0.199651): compact on the wire
_MAX_GOALS: Final = 12
_HTFT_NAMES: Final = tuple(f"{a}/{b}" for a in "1X2" for b in "1X2")


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """One board entry: a BetPawa market type (at one line, if it has lines)."""

    market_id: str
    name: str  # marketType.name
    display_name: str  # marketType.displayName
    kind: str  # pricing model
    handicap_type: str = ""  # "", NORMAL, ASIAN
    line: float | None = None
    tabs: tuple[str, ...] = ("all",)


def _ou(market_id: str, name: str, display: str, kind: str, line: float) -> MarketSpec:
    return MarketSpec(market_id, name, display, kind, "NORMAL", line, ("all", "goals"))


BOARD: Final[tuple[MarketSpec, ...]] = (
    MarketSpec(MARKET_1X2, "1X2 - FT", "1X2 | Full Time", "1x2", tabs=("all", "popular")),
    MarketSpec(MARKET_DOUBLE_CHANCE, "Double Chance - FT", "Double Chance | Full Time", "dc", tabs=("all", "popular")),
    MarketSpec(
        MARKET_BTTS,
        "Both Teams To Score - FT",
        "Both Teams To Score | Full Time",
        "btts",
        tabs=("all", "popular", "goals"),
    ),
    *(
        _ou(MARKET_OVER_UNDER, "Total Score Over/Under - FT", "Over/Under | Full Time", "ou", line)
        for line in (0.5, 1.5, 2.5, 3.5, 4.5)
    ),
    MarketSpec(MARKET_DRAW_NO_BET, "Draw No Bet - FT", "Draw No Bet | Full Time", "dnb"),
    MarketSpec(MARKET_ODD_EVEN, "Odd/Even - FT", "Odd/Even | Full Time", "oddeven", tabs=("all", "goals")),
    *(
        MarketSpec(
            MARKET_ASIAN_HANDICAP,
            "Asian Handicap - FT",
            "2-Way Handicap | Full Time",
            "ah",
            "ASIAN",
            line,
            ("all", "handicaps"),
        )
        for line in (-1.5, -0.5, 0.5, 1.5)
    ),
    MarketSpec(MARKET_1X2_1H, "1X2 - 1H", "1X2 | 1st Half", "1x2_1h", tabs=("all", "halves")),
    *(
        _ou(MARKET_OVER_UNDER_1H, "Total Score Over/Under - 1H", "Over/Under | 1st Half", "ou_1h", line)
        for line in (0.5, 1.5, 2.5)
    ),
    MarketSpec(
        MARKET_BTTS_1H, "Both Teams To Score - 1H", "Both Teams To Score | 1st Half", "btts_1h", tabs=("all", "halves")
    ),
    MarketSpec(MARKET_HTFT, "HT / FT", "Half Time/Full Time", "htft", tabs=("all", "halves")),
)


# --------------------------------------------------------------------------------------------------
# pricing
# --------------------------------------------------------------------------------------------------


def _poisson(lam: float) -> list[float]:
    probs = [math.exp(-lam)]
    for k in range(1, _MAX_GOALS + 1):
        probs.append(probs[-1] * lam / k)
    return probs


def _diff_dist(lam_home: float, lam_away: float) -> dict[int, float]:
    """P(home goals - away goals = d)."""
    home, away = _poisson(lam_home), _poisson(lam_away)
    out: dict[int, float] = {}
    for h, ph in enumerate(home):
        for a, pa in enumerate(away):
            out[h - a] = out.get(h - a, 0.0) + ph * pa
    return out


def _three_way(diff: Mapping[int, float]) -> tuple[float, float, float]:
    home = sum(p for d, p in diff.items() if d > 0)
    draw = diff.get(0, 0.0)
    away = sum(p for d, p in diff.items() if d < 0)
    total = home + draw + away
    return home / total, draw / total, away / total


def _sign(d: int) -> int:
    return (d > 0) - (d < 0)


_Fair = tuple[tuple[str, ...], tuple[float, ...], float]


def _fair(spec: MarketSpec, lam_home: float, lam_away: float) -> _Fair:
    """(outcome names, each one's fair chance to win given no push, the chance of a push)."""
    if spec.kind == "dnb":  # the draw returns the stake
        p1, px, p2 = _three_way(_diff_dist(lam_home, lam_away))
        return ("1", "2"), (p1 / (p1 + p2), p2 / (p1 + p2)), px
    names, fair = _fair_without_push(spec, lam_home, lam_away)
    return names, fair, 0.0


def _fair_without_push(spec: MarketSpec, lam_home: float, lam_away: float) -> tuple[tuple[str, ...], tuple[float, ...]]:
    kind = spec.kind
    if kind in ("1x2", "1x2_1h", "dc"):
        share = FIRST_HALF_SHARE if kind == "1x2_1h" else 1.0
        p1, px, p2 = _three_way(_diff_dist(lam_home * share, lam_away * share))
        if kind == "dc":
            return ("1X", "X2", "12"), (p1 + px, px + p2, p1 + p2)
        return ("1", "X", "2"), (p1, px, p2)
    if kind in ("btts", "btts_1h"):
        share = FIRST_HALF_SHARE if kind == "btts_1h" else 1.0
        yes = (1 - math.exp(-lam_home * share)) * (1 - math.exp(-lam_away * share))
        return ("Yes", "No"), (yes, 1 - yes)
    if kind in ("ou", "ou_1h"):
        assert spec.line is not None
        share = FIRST_HALF_SHARE if kind == "ou_1h" else 1.0
        under = sum(_poisson((lam_home + lam_away) * share)[: math.floor(spec.line) + 1])
        return ("Over", "Under"), (1 - under, under)
    if kind == "oddeven":
        even = (1 + math.exp(-2 * (lam_home + lam_away))) / 2
        return ("Odd", "Even"), (1 - even, even)
    if kind == "ah":
        assert spec.line is not None  # the home handicap; .5 lines only, so no push
        diff = _diff_dist(lam_home, lam_away)
        home = sum(p for d, p in diff.items() if d + spec.line > 0)
        away = sum(p for d, p in diff.items() if d + spec.line < 0)
        return ("1", "2"), (home / (home + away), away / (home + away))
    if kind == "htft":
        first = _diff_dist(lam_home * FIRST_HALF_SHARE, lam_away * FIRST_HALF_SHARE)
        second = _diff_dist(lam_home * (1 - FIRST_HALF_SHARE), lam_away * (1 - FIRST_HALF_SHARE))
        cells = {(a, b): 0.0 for a in (1, 0, -1) for b in (1, 0, -1)}
        for d1, p1 in first.items():
            for d2, p2 in second.items():
                cells[(_sign(d1), _sign(d1 + d2))] += p1 * p2
        total = sum(cells.values())
        order = [(a, b) for a in (1, 0, -1) for b in (1, 0, -1)]
        return _HTFT_NAMES, tuple(cells[key] / total for key in order)
    raise ValueError(f"unknown market kind {kind!r}")


def fair_total(market_id: str) -> float:
    """What the fair probabilities of a market's outcomes add up to (Double Chance: 2), by the
    mapping's rule (:func:`streams.sources.mapping.fair_total`); the world prices known totals only."""
    total = mapping.fair_total(market_id)
    if total is None:
        raise ValueError(f"market {market_id} has no known fair total to price")
    return total


def price_market(
    spec: MarketSpec, lam_home: float, lam_away: float, margin: float, suspended: tuple[bool, ...]
) -> Quote:
    """The quote of one market: fair Poisson probabilities, plus ``margin``, as 2-decimal odds.

    Every outcome, suspended or not, carries its fair chances (BetPawa's semantics, module docstring).
    """
    names, fair, push = _fair(spec, lam_home, lam_away)
    spread = len(fair) - fair_total(spec.market_id)
    refund = round(push, PROBABILITY_PLACES)
    outcomes = []
    for i, (name, p) in enumerate(zip(names, fair, strict=True)):
        win = round(p * (1 - push), PROBABILITY_PLACES)
        if i < len(suspended) and suspended[i]:
            outcomes.append(Outcome(name, None, True, probability=win, refund_probability=refund))
            continue
        loaded = p + margin * (1 - p) / spread
        price = max(1.01, round(1 / loaded, 2))
        outcomes.append(Outcome(name, price, probability=win, refund_probability=refund))
    return Quote(market_id=spec.market_id, market_name=spec.display_name, line=spec.line, outcomes=tuple(outcomes))


# --------------------------------------------------------------------------------------------------
# the world
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorldMarket:
    spec: MarketSpec
    lam_home: float
    lam_away: float
    margin: float
    suspended: tuple[bool, ...]
    quote: Quote

    @classmethod
    def priced(
        cls, spec: MarketSpec, lam_home: float, lam_away: float, margin: float, suspended: tuple[bool, ...]
    ) -> WorldMarket:
        quote = price_market(spec, lam_home, lam_away, margin, suspended)
        return cls(spec, lam_home, lam_away, margin, suspended, quote)


@dataclass(frozen=True, slots=True)
class WorldEvent:
    betpawa_id: str  # 8 digits
    sportradar_id: str  # 8 digits
    genius_id: str  # 8 digits, 13...
    home_team: str
    away_team: str
    home_id: str
    away_id: str
    tournament: str
    competition_id: str
    region: str
    region_id: str
    kickoff_at: datetime  # aware UTC
    markets: tuple[WorldMarket, ...]

    @property
    def quotes(self) -> tuple[Quote, ...]:
        return tuple(m.quote for m in self.markets)


@dataclass(frozen=True)
class World:
    seed: int
    step: int
    now: datetime
    events: tuple[WorldEvent, ...]

    @cached_property
    def by_id(self) -> Mapping[str, WorldEvent]:
        """Events by BetPawa event id."""
        return {e.betpawa_id: e for e in self.events}

    def tick(self, seed_step: int) -> World:
        """This world one step later: ~5 % of markets re-priced after a nudge of their goal model.

        Deterministic in (seed, seed_step); the returned world has ``step == seed_step``.
        """
        rng = random.Random(f"oddstream-world-tick:{self.seed}:{seed_step}")
        events = []
        for event in self.events:
            markets = list(event.markets)
            changed = False
            for i, market in enumerate(markets):
                if rng.random() >= TICK_MARKET_SHARE:
                    continue
                lam_home = _clamp(market.lam_home * math.exp(rng.uniform(-0.12, 0.12)), 0.3, 3.5)
                lam_away = _clamp(market.lam_away * math.exp(rng.uniform(-0.12, 0.12)), 0.2, 3.0)
                markets[i] = WorldMarket.priced(market.spec, lam_home, lam_away, market.margin, market.suspended)
                changed = True
            events.append(replace(event, markets=tuple(markets)) if changed else event)
        return World(seed=self.seed, step=seed_step, now=self.now, events=tuple(events))


def _clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


_PLACES: Final = (
    "Lagos",
    "Kano",
    "Ibadan",
    "Abuja",
    "Enugu",
    "Kaduna",
    "Benin",
    "Jos",
    "Ilorin",
    "Aba",
    "Warri",
    "Calabar",
    "Akure",
    "Owerri",
    "Sokoto",
    "Makurdi",
    "Bauchi",
    "Uyo",
    "Yola",
    "Lokoja",
    "Accra",
    "Kumasi",
    "Nairobi",
    "Mombasa",
    "Kampala",
    "Lusaka",
    "Harare",
    "Dakar",
    "Tunis",
    "Cairo",
    "Madrid",
    "Porto",
    "Lyon",
    "Turin",
    "Leeds",
    "Bremen",
    "Gent",
    "Malmo",
    "Basel",
    "Split",
)
_SUFFIXES: Final = ("United", "City", "FC", "Rangers", "Stars", "Athletic", "Wanderers", "Rovers", "SC")
_COMPETITIONS: Final = (
    ("Premier League", "England"),
    ("Championship", "England"),
    ("LaLiga", "Spain"),
    ("Serie A", "Italy"),
    ("Bundesliga", "Germany"),
    ("Ligue 1", "France"),
    ("NPFL", "Nigeria"),
    ("Premier League", "Ghana"),
    ("Eredivisie", "Netherlands"),
    ("Primeira Liga", "Portugal"),
    ("Super Lig", "Turkey"),
    ("Allsvenskan", "Sweden"),
    ("NSW NPL 1", "Australia"),
    ("J1 League", "Japan"),
    ("MLS", "USA"),
    ("Brasileiro Serie A", "Brazil"),
    ("Premiership", "Scotland"),
    ("Super League", "Greece"),
    ("Pro League", "Belgium"),
    ("Club Friendlies", "International"),
)


def _distinct_ids(rng: random.Random, n: int, low: int, high: int) -> list[str]:
    return [str(v) for v in rng.sample(range(low, high), n)]


def build_world(seed: int = 7, n_events: int = 1300, *, now: datetime) -> World:
    """``n_events`` upcoming fixtures (kick-offs within 5 days of ``now``), each with a 20-quote board."""
    now = require_aware(now, "now")
    if n_events < 0:
        raise ValueError("n_events must be >= 0")
    rng = random.Random(f"oddstream-world:{seed}")
    betpawa_ids = _distinct_ids(rng, n_events, 30_000_000, 40_000_000)
    sportradar_ids = _distinct_ids(rng, n_events, 60_000_000, 70_000_000)
    genius_ids = _distinct_ids(rng, n_events, 13_000_000, 14_000_000)
    teams = [f"{place} {suffix}" for place in _PLACES for suffix in _SUFFIXES]
    base = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
    events = []
    for i in range(n_events):
        home, away = rng.sample(teams, 2)
        comp_index = rng.randrange(len(_COMPETITIONS))
        tournament, region = _COMPETITIONS[comp_index]
        kickoff = base + timedelta(minutes=15 * rng.randrange(0, 4 * 24 * 5))
        lam_home = rng.uniform(0.6, 2.4)
        lam_away = rng.uniform(0.4, 2.0)
        markets = []
        for spec in BOARD:
            margin = rng.uniform(*MARGIN_RANGE)
            n_out = 9 if spec.kind == "htft" else 3 if spec.kind in ("1x2", "1x2_1h", "dc") else 2
            suspended = tuple(rng.random() < SUSPENDED_SHARE for _ in range(n_out))
            markets.append(WorldMarket.priced(spec, lam_home, lam_away, margin, suspended))
        events.append(
            WorldEvent(
                betpawa_id=betpawa_ids[i],
                sportradar_id=sportradar_ids[i],
                genius_id=genius_ids[i],
                home_team=home,
                away_team=away,
                home_id=str(600_000 + teams.index(home)),
                away_id=str(600_000 + teams.index(away)),
                tournament=tournament,
                competition_id=str(11_000 + comp_index),
                region=region,
                region_id=str(200 + comp_index),
                kickoff_at=kickoff,
                markets=tuple(markets),
            )
        )
    events.sort(key=lambda e: (e.kickoff_at, e.betpawa_id))
    return World(seed=seed, step=0, now=now, events=tuple(events))
