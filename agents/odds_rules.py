"""Pure logic of the live board: quote identity, change detection and margins.

No Faust, no SQLAlchemy, no clock: time arrives as an argument. The board agent calls these with
the previous state *before* replacing it, so competitor history is never lost to an overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HOME_BOOKMAKER",
    "BoardUpdate",
    "apply_observation",
    "best_prices",
    "compare_with_competitors",
    "margin",
    "normalise_outcomes",
    "quote_key",
]

Outcomes = list[dict[str, Any]]


def quote_key(market_id: str, line: float | None) -> str:
    """The identity of a quote within one board: market and line (``None`` is a line of its own)."""
    return f"{market_id}|" if line is None else f"{market_id}|{float(line)!r}"


def normalise_outcomes(outcomes: Iterable[Mapping[str, Any]]) -> Outcomes:
    """Outcomes in a canonical order (by name), so comparison never depends on the source's order."""
    return sorted(
        (
            {
                "name": str(o["name"]),
                "price": None if o.get("price") is None else float(o["price"]),
                "suspended": bool(o.get("suspended", False)),
            }
            for o in outcomes
        ),
        key=lambda o: str(o["name"]),
    )


@dataclass(frozen=True, slots=True)
class BoardUpdate:
    """The outcome of applying one observation to one bookmaker's board of one event."""

    quotes: dict[str, dict[str, Any]]
    """The new board: quote key -> {market_id, market_name, line, outcomes, last_changed_at}."""
    changes: list[dict[str, Any]]
    """Changed quotes: {market_id, line, outcomes, previous_outcomes}; empty when nothing changed."""
    stale: bool = False
    """True when the observation is older than what the board already holds (nothing applied)."""


def apply_observation(
    previous: Mapping[str, Mapping[str, Any]] | None,
    previous_observed_at: str | None,
    markets: Sequence[Mapping[str, Any]],
    observed_at: str,
) -> BoardUpdate:
    """Compare an observed board with the previous one and return the new board and its changes.

    ``observed_at`` values are RFC 3339 UTC strings of the same format, so they order as text.
    A quote seen for the first time has ``previous_outcomes`` None; a quote that disappeared
    appears with empty ``outcomes``. An observation older than the board's is ignored.
    """
    prev = previous or {}
    if previous_observed_at is not None and observed_at < previous_observed_at:
        return BoardUpdate(quotes={k: dict(v) for k, v in prev.items()}, changes=[], stale=True)

    quotes: dict[str, dict[str, Any]] = {}
    changes: list[dict[str, Any]] = []
    for market in markets:
        line = market.get("line")
        line = None if line is None else float(line)
        key = quote_key(str(market["market_id"]), line)
        outcomes = normalise_outcomes(market.get("outcomes", ()))
        if key in quotes:  # the same quote twice in one board: merge its outcomes, last wins per name
            merged = {o["name"]: o for o in quotes[key]["outcomes"]}
            merged.update({o["name"]: o for o in outcomes})
            outcomes = normalise_outcomes(merged.values())
        old = prev.get(key)
        last_changed_at = observed_at
        if old is not None and old["outcomes"] == outcomes:
            last_changed_at = str(old["last_changed_at"])
        quotes[key] = {
            "market_id": str(market["market_id"]),
            "market_name": str(market.get("market_name", "")),
            "line": line,
            "outcomes": outcomes,
            "last_changed_at": last_changed_at,
        }

    for key, quote in quotes.items():
        old = prev.get(key)
        if old is None or old["outcomes"] != quote["outcomes"]:
            changes.append(
                {
                    "market_id": quote["market_id"],
                    "line": quote["line"],
                    "outcomes": quote["outcomes"],
                    "previous_outcomes": None if old is None else list(old["outcomes"]),
                }
            )
    for key, old in prev.items():
        if key not in quotes and old["outcomes"]:
            changes.append(
                {
                    "market_id": old["market_id"],
                    "line": old["line"],
                    "outcomes": [],
                    "previous_outcomes": list(old["outcomes"]),
                }
            )
    return BoardUpdate(quotes=quotes, changes=changes)


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
