"""Pure logic of the live board: quote identity, change detection and margins.

No Faust, no SQLAlchemy, no clock: time arrives as an argument. The board agent calls these with
the previous state *before* replacing it, so competitor history is never lost to an overwrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "HOME_BOOKMAKER",
    "BoardUpdate",
    "ObservedMarket",
    "Outcome",
    "Quote",
    "apply_observation",
    "as_quote",
    "best_prices",
    "canonical_markets",
    "canonical_outcomes",
    "compare_with_competitors",
    "flat_outcomes",
    "margin",
    "outcome_dicts",
    "outcome_triples",
    "quote_key",
    "quote_view",
    "stored_quotes",
]

Outcome = tuple[str, float | None, bool]
"""One outcome of a quote: ``(name, price, suspended)``."""

Outcomes = tuple[Any, ...]
"""A quote's outcomes sorted by name and laid end to end: ``(name, price, suspended, name, ...)``."""

ObservedMarket = tuple[str, str, float | None, Outcomes]
"""One market of an observation, canonical: ``(market_id, market_name, line, outcomes)``."""

Quote = tuple[str, str, float | None, Outcomes, str]
"""One quote of a board: ``(market_id, market_name, line, outcomes, last_changed_at)``.

Flat tuples of plain values, not dicts: a board of ~170 quotes is compared, stored and written to
the changelog on every observation. Tuples of strings and numbers compare in C, are half the JSON,
and the garbage collector stops following them after one look; two tuples per quote instead of a
dict per outcome is what keeps a worker's collections short (see bench/README.md)."""

# a quote's fields
MARKET_ID: Final = 0
MARKET_NAME: Final = 1
LINE: Final = 2
OUTCOMES: Final = 3
LAST_CHANGED_AT: Final = 4


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


def as_quote(stored: Any) -> Quote:
    """A quote as the boards table holds it, as a :data:`Quote`: the tuple this code writes; the
    JSON list it comes back as from the changelog; or the dict with a dict per outcome that boards
    written before this layout hold (``{market_id, market_name, line, outcomes, last_changed_at}``),
    so a changelog of the previous layout is read, not mistaken for changed quotes."""
    if type(stored) is tuple:
        return stored
    if isinstance(stored, Mapping):
        line = stored.get("line")
        return (
            str(stored["market_id"]),
            str(stored.get("market_name", "")),
            None if line is None else float(line),
            canonical_outcomes(stored.get("outcomes", ())),
            str(stored["last_changed_at"]),
        )
    return (stored[0], stored[1], stored[2], tuple(stored[3]), stored[4])


def quote_view(stored: Any) -> dict[str, Any]:
    """A stored quote as a dict: ``{market_id, market_name, line, outcomes, last_changed_at}``."""
    quote = as_quote(stored)
    return {
        "market_id": quote[MARKET_ID],
        "market_name": quote[MARKET_NAME],
        "line": quote[LINE],
        "outcomes": outcome_dicts(quote[OUTCOMES]),
        "last_changed_at": quote[LAST_CHANGED_AT],
    }


def stored_quotes(quotes: Mapping[str, Any]) -> Mapping[str, Quote]:
    """A board's quotes as :func:`apply_observation` returned them (see :func:`as_quote`). Tuples
    and lists never compare equal, so a board recovered from the changelog is turned back into
    tuples; once per board, as the next write stores tuples again."""
    for quote in quotes.values():
        if type(quote) is tuple:
            return quotes
        break
    return {key: as_quote(q) for key, q in quotes.items()}


@dataclass(frozen=True, slots=True)
class BoardUpdate:
    """The outcome of applying one observation to one bookmaker's board of one event."""

    quotes: dict[str, Quote]
    """The new board: quote key -> :data:`Quote`."""
    changes: list[dict[str, Any]]
    """Changed quotes: {market_id, line, outcomes, previous_outcomes}; empty when nothing changed."""
    stale: bool = False
    """True when the observation is older than what the board already holds (nothing applied)."""


def apply_observation(
    previous: Mapping[str, Quote] | None,
    previous_observed_at: str | None,
    markets: Sequence[ObservedMarket],
    observed_at: str,
) -> BoardUpdate:
    """Compare an observed board with the previous one and return the new board and its changes.

    ``markets`` are canonical (:func:`canonical_markets`, or ``projections.wire.read_board``).
    ``observed_at`` values are RFC 3339 UTC strings of the same format, so they order as text.
    A quote seen for the first time has ``previous_outcomes`` None; a quote that disappeared
    appears with empty ``outcomes``. An observation older than the board's is ignored.
    """
    prev = previous or {}
    if previous_observed_at is not None and observed_at < previous_observed_at:
        return BoardUpdate(quotes=dict(prev), changes=[], stale=True)

    quotes: dict[str, Quote] = {}
    for market_id, market_name, line, outcomes in markets:
        key = quote_key(market_id, line)
        if key in quotes:  # the same quote twice in one board: merge its outcomes, last wins per name
            merged = {o[0]: o for o in outcome_triples(quotes[key][OUTCOMES])}
            merged.update({o[0]: o for o in outcome_triples(outcomes)})
            outcomes = flat_outcomes(merged.values())
        old = prev.get(key)
        last_changed_at = observed_at
        if old is not None and old[OUTCOMES] == outcomes:
            last_changed_at = old[LAST_CHANGED_AT]
        quotes[key] = (market_id, market_name, line, outcomes, last_changed_at)

    changes: list[dict[str, Any]] = []
    for key, quote in quotes.items():
        old = prev.get(key)
        if old is None or old[OUTCOMES] != quote[OUTCOMES]:
            changes.append(
                {
                    "market_id": quote[MARKET_ID],
                    "line": quote[LINE],
                    "outcomes": outcome_dicts(quote[OUTCOMES]),
                    "previous_outcomes": None if old is None else outcome_dicts(old[OUTCOMES]),
                }
            )
    for key, old in prev.items():
        if key not in quotes and old[OUTCOMES]:
            changes.append(
                {
                    "market_id": old[MARKET_ID],
                    "line": old[LINE],
                    "outcomes": [],
                    "previous_outcomes": outcome_dicts(old[OUTCOMES]),
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
