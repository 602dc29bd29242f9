"""The canonical market model every layer shares: outcomes, quote identity, margins and best prices.

Pure: no Faust, no SQLAlchemy, no clock. A market of an ``OddsObserved`` in canonical form is a flat
tuple (:data:`ObservedMarket`) so that comparing, storing and hashing a board of ~170 quotes stays in C;
the margin and best-price rules are the ones the board, its views and every projection apply.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

__all__ = [
    "HOME_BOOKMAKER",
    "ObservedMarket",
    "Outcome",
    "Outcomes",
    "best_prices",
    "canonical_markets",
    "canonical_outcomes",
    "compare_with_competitors",
    "flat_outcomes",
    "margin",
    "outcome_dicts",
    "outcome_triples",
    "quote_key",
]

Outcome = tuple[str, float | None, bool]
"""One outcome of a quote: ``(name, price, suspended)``."""

Outcomes = tuple[Any, ...]
"""A quote's outcomes sorted by name and laid end to end: ``(name, price, suspended, name, ...)``."""

ObservedMarket = tuple[str, str, float | None, Outcomes]
"""One market of an observation, canonical: ``(market_id, market_name, line, outcomes)``."""


def quote_key(market_id: str, line: float | None) -> str:
    """The identity of a quote within one board: market and line (``None`` is a line of its own)."""
    return f"{market_id}|" if line is None else f"{market_id}|{float(line)!r}"


def _name(outcome: Outcome) -> str:
    return outcome[0]


def flat_outcomes(outcomes: Iterable[Outcome]) -> Outcomes:
    """``(name, price, suspended)`` triples sorted by name, laid end to end (:data:`Outcomes`)."""
    return tuple(value for outcome in sorted(outcomes, key=_name) for value in outcome)


def outcome_triples(outcomes: Sequence[Any]) -> Iterator[Outcome]:
    """The ``(name, price, suspended)`` triples of flat outcomes (a tuple, or a list once recovered)."""
    for i in range(0, len(outcomes), 3):
        yield (outcomes[i], outcomes[i + 1], outcomes[i + 2])


def canonical_outcomes(outcomes: Iterable[Mapping[str, Any]]) -> Outcomes:
    """Outcomes in the canonical form, so comparison never depends on the source's order."""
    return flat_outcomes(
        (
            str(o["name"]),
            None if o.get("price") is None else float(o["price"]),
            bool(o.get("suspended", False)),
        )
        for o in outcomes
    )


def canonical_markets(markets: Iterable[Mapping[str, Any]]) -> list[ObservedMarket]:
    """The markets of a decoded ``OddsObserved`` in the form :func:`apply_observation` compares."""
    return [
        (
            str(m["market_id"]),
            str(m.get("market_name", "")),
            None if m.get("line") is None else float(m["line"]),
            canonical_outcomes(m.get("outcomes", ())),
        )
        for m in markets
    ]


def outcome_dicts(outcomes: Sequence[Any]) -> list[dict[str, Any]]:
    """Flat outcomes as the events and the views carry them: ``{name, price, suspended}``."""
    return [{"name": n, "price": p, "suspended": s} for n, p, s in outcome_triples(outcomes)]


def margin(outcomes: Sequence[Mapping[str, Any]], expected: int | None = None) -> float | None:
    """The bookmaker's margin (overround) of one market: ``sum(1/price) - 1``.

    Defined only over a complete, active outcome set: None when any outcome is suspended or has
    no price, when fewer than two outcomes are offered, or fewer than ``expected``.
    """
    if len(outcomes) < 2 or (expected is not None and len(outcomes) < expected):
        return None
    total = 0.0
    for o in outcomes:
        price = o.get("price")
        if o.get("suspended") or price is None or price <= 1:
            return None
        total += 1.0 / float(price)
    return total - 1.0


HOME_BOOKMAKER = "betpawa"


def _offered(outcome: Mapping[str, Any]) -> float | None:
    price = outcome.get("price")
    if outcome.get("suspended") or price is None or price <= 1:
        return None
    return float(price)


def best_prices(by_bookmaker: Mapping[str, Sequence[Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Per outcome name, the highest price offered (suspended and missing prices are not offers)
    and every bookmaker offering it."""
    best: dict[str, dict[str, Any]] = {}
    for bm in sorted(by_bookmaker):
        for outcome in by_bookmaker[bm]:
            price = _offered(outcome)
            if price is None:
                continue
            name = str(outcome["name"])
            current = best.get(name)
            if current is None or price > current["price"]:
                best[name] = {"price": price, "bookmakers": [bm]}
            elif price == current["price"]:
                current["bookmakers"].append(bm)
    return best


def compare_with_competitors(
    by_bookmaker: Mapping[str, Sequence[Mapping[str, Any]]], home: str = HOME_BOOKMAKER
) -> dict[str, Any] | None:
    """The home bookmaker's odds and margin against the best competitor, for one market and line.

    Per outcome: ``delta`` = home price - best competitor price (negative: a competitor pays more).
    ``margin_delta`` = home margin - the lowest competitor margin (positive: home takes more), over
    complete, active outcome sets only. None when home or every competitor is absent.
    """
    home_outcomes = by_bookmaker.get(home)
    competitors = {bm: o for bm, o in by_bookmaker.items() if bm != home}
    if home_outcomes is None or not competitors:
        return None
    best = best_prices(competitors)
    outcomes: dict[str, Any] = {}
    for outcome in home_outcomes:
        name = str(outcome["name"])
        mine = _offered(outcome)
        theirs = best.get(name)
        outcomes[name] = {
            "betpawa": mine,
            "best_competitor": None if theirs is None else theirs["price"],
            "competitors": [] if theirs is None else theirs["bookmakers"],
            "delta": None if mine is None or theirs is None else round(mine - theirs["price"], 6),
        }
    home_margin = margin(home_outcomes)
    competitor_margins = [m for o in competitors.values() if (m := margin(o)) is not None]
    return {
        "outcomes": outcomes,
        "margin": home_margin,
        "best_competitor_margin": min(competitor_margins) if competitor_margins else None,
        "margin_delta": None
        if home_margin is None or not competitor_margins
        else round(home_margin - min(competitor_margins), 9),
    }
