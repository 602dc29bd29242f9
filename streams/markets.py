"""The canonical market model every layer shares: outcomes, quote identity, margins and best prices.

Pure: no Faust, no SQLAlchemy, no clock. A market of an ``OddsObserved`` in canonical form is a flat
tuple (:data:`ObservedMarket`) so that comparing, storing and hashing a board of ~170 quotes stays in C;
the margin and best-price rules are the ones the board, its views and every projection apply.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Literal

from streams.sources import mapping

__all__ = [
    "DEVIG_METHODS",
    "HOME_BOOKMAKER",
    "DevigMethod",
    "Fair",
    "ObservedMarket",
    "Outcome",
    "Outcomes",
    "active_price",
    "best_prices",
    "canonical_fair",
    "canonical_markets",
    "canonical_outcomes",
    "compare_with_competitors",
    "devig",
    "fair_view",
    "flat_outcomes",
    "market_margin",
    "merge_outcomes",
    "outcome_dicts",
    "outcome_triples",
    "quote_key",
    "reference_fair",
]

Outcome = tuple[str, float | None, bool]
"""One outcome of a quote: ``(name, price, suspended)``."""

Outcomes = tuple[Any, ...]
"""A quote's outcomes sorted by name and laid end to end: ``(name, price, suspended, name, ...)``."""

Fair = tuple[Any, ...] | None
"""The book's own probabilities of a quote's outcomes, in the order of :data:`Outcomes`, laid end to end:
``(probability, refund_probability, probability, ...)`` (each may be None); None when the book gave none."""

ObservedMarket = tuple[str, str, float | None, Outcomes, Fair]
"""One market of an observation, canonical: ``(market_id, market_name, line, outcomes, fair)``."""


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


def _chance(value: Any) -> float | None:
    return None if value is None else float(value)


def canonical_fair(outcomes: Iterable[Mapping[str, Any]]) -> Fair:
    """The ``probability`` / ``refund_probability`` of outcomes, in the order of
    :func:`canonical_outcomes` (:data:`Fair`); None when no outcome carries either."""
    chances: list[Any] = []
    for o in sorted(outcomes, key=lambda o: str(o["name"])):
        chances += (_chance(o.get("probability")), _chance(o.get("refund_probability")))
    return tuple(chances) if any(c is not None for c in chances) else None


def canonical_markets(markets: Iterable[Mapping[str, Any]]) -> list[ObservedMarket]:
    """The markets of a decoded ``OddsObserved`` in the form :func:`apply_observation` compares."""
    return [
        (
            str(m["market_id"]),
            str(m.get("market_name", "")),
            None if m.get("line") is None else float(m["line"]),
            canonical_outcomes(m.get("outcomes", ())),
            canonical_fair(m.get("outcomes", ())),
        )
        for m in markets
    ]


def outcome_dicts(outcomes: Sequence[Any], fair: Sequence[Any] | None = None) -> list[dict[str, Any]]:
    """Flat outcomes as the events and the views carry them: ``{name, price, suspended}``, with the
    book's ``probability`` and ``refund_probability`` where ``fair`` has them."""
    out = [{"name": n, "price": p, "suspended": s} for n, p, s in outcome_triples(outcomes)]
    if fair:
        for i, o in enumerate(out):
            for key, value in (("probability", fair[2 * i]), ("refund_probability", fair[2 * i + 1])):
                if value is not None:
                    o[key] = value
    return out


def merge_outcomes(outcomes: Outcomes, fair: Fair, more: Outcomes, more_fair: Fair) -> tuple[Outcomes, Fair]:
    """Two parts of one quote (the same market and line twice in a board) as one: by outcome name,
    the later part winning, with the fair probabilities that came with each outcome."""
    merged: dict[str, tuple[Outcome, tuple[Any, Any]]] = {}
    for flat, chances in ((outcomes, fair), (more, more_fair)):
        for i, o in enumerate(outcome_triples(flat)):
            merged[o[0]] = (o, (chances[2 * i], chances[2 * i + 1]) if chances else (None, None))
    ordered = [merged[name] for name in sorted(merged)]
    chances_out = tuple(c for _, pair in ordered for c in pair)
    return flat_outcomes(o for o, _ in ordered), chances_out if any(c is not None for c in chances_out) else None


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
    market_id: str, by_bookmaker: Mapping[str, Sequence[Mapping[str, Any]]], home: str = HOME_BOOKMAKER
) -> dict[str, Any] | None:
    """The home bookmaker's odds and margin against the best competitor, for one market and line.

    Per outcome: ``delta`` = home price - best competitor price (negative: a competitor pays more).
    ``margin_delta`` = home margin - the lowest competitor margin (positive: home takes more), margins
    by the market's kind (:func:`market_margin`), over complete, active outcome sets only. None when
    home or every competitor is absent.
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
    home_margin = market_margin(market_id, home_outcomes)
    competitor_margins = [m for o in competitors.values() if (m := market_margin(market_id, o)) is not None]
    return {
        "outcomes": outcomes,
        "margin": home_margin,
        "best_competitor_margin": min(competitor_margins) if competitor_margins else None,
        "margin_delta": None
        if home_margin is None or not competitor_margins
        else round(home_margin - min(competitor_margins), 9),
    }


# --------------------------------------------------------------------------------------------------
# Margins over the market's fair total, de-vigging, and the fair view of one quote (markets.md §4, §7)
# --------------------------------------------------------------------------------------------------

DevigMethod = Literal["multiplicative", "power", "shin"]
"""How :func:`devig` removes the margin: proportionally, by a common power, or by Shin's model."""
DEVIG_METHODS: Final[tuple[DevigMethod, ...]] = ("multiplicative", "power", "shin")

_SUM_TOLERANCE: Final = 1e-15  # relative: the solvers stop once the probabilities sum to the total this closely
_MAX_STEPS: Final = 2000


def active_price(outcome: Mapping[str, Any]) -> float | None:
    """The price of an active outcome (not suspended, a finite price > 1), else None."""
    price = outcome.get("price")
    if outcome.get("suspended") or price is None or isinstance(price, bool):
        return None
    value = float(price)
    return value if math.isfinite(value) and value > 1 else None


def _complete_prices(market_id: str, outcomes: Sequence[Mapping[str, Any]]) -> tuple[float, list[float]] | None:
    """The fair total and the prices of a complete, active outcome set, else None."""
    total = mapping.fair_total(market_id)
    names = mapping.canonical_outcomes(market_id)
    if total is None or names is None or len(outcomes) != len(names):
        return None
    if {str(o.get("name")) for o in outcomes} != names:
        return None
    prices = [active_price(o) for o in outcomes]
    if any(p is None for p in prices):
        return None
    return total, [p for p in prices if p is not None]


def market_margin(market_id: str, outcomes: Sequence[Mapping[str, Any]]) -> float | None:
    """The bookmaker's margin of one market over its fair total: ``sum(1/price) / total - 1``.

    ``total`` is :func:`streams.sources.mapping.fair_total` (1 for a partition, 2 for double chance),
    so a Double Chance at 5 % reads 5 %, not 110 %. None unless the total is known, the outcome names
    are exactly the market's complete canonical set and every outcome is active with a price > 1.
    """
    complete = _complete_prices(market_id, outcomes)
    if complete is None:
        return None
    total, prices = complete
    return sum(1.0 / p for p in prices) / total - 1.0


def _solve_decreasing(f: Callable[[float], tuple[float, float]], lo: float, hi: float, target: float) -> float:
    """``x`` in ``[lo, hi]`` with ``f(x) = target`` for ``f`` decreasing, ``f(lo) >= target >= f(hi)``:
    Newton steps kept inside the bracket, bisection when one would leave it."""
    x = (lo + hi) / 2
    for _ in range(_MAX_STEPS):
        value, slope = f(x)
        gap = value - target
        if abs(gap) <= _SUM_TOLERANCE * target:
            return x
        if gap > 0:
            lo = x
        else:
            hi = x
        step = x - gap / slope if slope < 0 else math.nan
        x = step if lo < step < hi else (lo + hi) / 2
        if not lo < x < hi:  # the bracket is down to adjacent floats
            return x
    return x


def _power(inverse: list[float], total: float) -> list[float]:
    logs = [math.log(r) for r in inverse]

    def f(k: float) -> tuple[float, float]:
        terms = [math.exp(k * lr) for lr in logs]
        return math.fsum(terms), math.fsum(t * lr for t, lr in zip(terms, logs, strict=True))

    hi = 1.0
    while f(hi)[0] > total:  # sum of r^k falls from n (k = 0) to 0 as k grows
        hi *= 2
    k = _solve_decreasing(f, 0.0, hi, total)
    return [math.exp(k * lr) for lr in logs]


def _shin(inverse: list[float]) -> list[float]:
    booksum = math.fsum(inverse)
    shares = [r * r / booksum for r in inverse]

    def p(z: float) -> list[float]:
        return [(math.sqrt(z * z + 4 * (1 - z) * a) - z) / (2 * (1 - z)) for a in shares]

    def f(z: float) -> tuple[float, float]:
        return math.fsum(p(z)), math.nan  # no slope: bisection only

    # the sum is sqrt(booksum) at z = 0 and tends to sum(r^2)/booksum < 1 as z -> 1, n as z -> -inf
    if booksum >= 1:
        lo, hi = 0.0, 1.0
    else:
        lo, hi = -1.0, 0.0
        while f(lo)[0] < 1:
            lo *= 2
    if f(lo)[0] <= 1:  # no margin: z = 0, the prices are fair
        return p(lo)
    return p(min(_solve_decreasing(f, lo, hi, 1.0), math.nextafter(1.0, 0.0)))


def devig(prices: Sequence[float], total: float = 1.0, method: DevigMethod = "power") -> list[float]:
    """Fair probabilities from offered decimal prices, scaled to sum to ``total`` (the fair total).

    With ``r_i = 1/price_i``:

    - ``"multiplicative"``: ``p_i = total * r_i / sum(r)``, the margin spread in proportion to ``r``;
    - ``"power"``: ``p_i = r_i ** k`` with ``k`` solved so that ``sum(p) = total`` (to 1e-15 relative);
      ``k > 1`` for a positive margin, which takes relatively more from the longshots;
    - ``"shin"``: Shin's model of insider trading, ``p_i = (sqrt(z^2 + 4(1-z) r_i^2 / sum(r)) - z) /
      (2(1-z))`` with ``z`` solved so that ``sum(p) = 1``; defined for ``total == 1`` only.

    Prices carrying no margin come back as their own fair probabilities under every method. Raises
    ValueError for fewer than two prices, a price that is not a finite number > 1, a ``total`` that no
    set of probabilities below 1 can reach, or an unknown method.
    """
    inverse = [1.0 / float(p) for p in prices if math.isfinite(float(p)) and float(p) > 1]
    if len(inverse) < 2 or len(inverse) != len(prices):
        raise ValueError("devig needs at least two finite prices, each > 1")
    if not 0 < total < len(inverse):
        raise ValueError(f"a total of {total} is out of reach of {len(inverse)} outcomes")
    if method == "multiplicative":
        booksum = math.fsum(inverse)
        return [total * r / booksum for r in inverse]
    if method == "power":
        return _power(inverse, total)
    if method == "shin":
        if total != 1:
            raise ValueError("Shin's model is defined for a total of 1 only")
        return _shin(inverse)
    raise ValueError(f"unknown de-vig method {method!r}")


def _book_chances(outcomes: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]] | None:
    """The book's own ``(win, refund)`` of every outcome, None unless each is a number in [0, 1] (refund < 1)."""
    wins: list[float] = []
    refunds: list[float] = []
    for o in outcomes:
        win, refund = o.get("probability"), o.get("refund_probability")
        if win is None or isinstance(win, bool) or isinstance(refund, bool):
            return None
        w, r = float(win), 0.0 if refund is None else float(refund)
        if not (0 <= w <= 1 and 0 <= r < 1):  # also rejects NaN
            return None
        wins.append(w)
        refunds.append(r)
    return wins, refunds


def fair_view(market_id: str, outcomes: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """One quote's fair probabilities, fair odds, the bettor's edge and each outcome's share of the margin.

    Method ``"book"`` when every outcome carries the book's own ``probability`` (a number in [0, 1],
    with an optional ``refund_probability`` below 1), else the de-vig of the prices over the market's
    fair total (:func:`devig`): ``"shin"`` for a total of 1, ``"power"`` otherwise. Per outcome name:

    - ``probability``: fair, conditional on no push: ``win / (1 - refund)`` (the book's), or the de-vig;
    - ``fair_odds``: ``1 / probability`` (None for probability 0);
    - ``edge``: the bettor's expected return per unit stake at the offered price,
      ``price * win + refund - 1``, with the unconditional ``win`` and ``refund`` where the book gives
      them; a de-vigged (conditional) probability is used as ``win`` with ``refund`` 0;
    - ``margin_share``: ``(1/price - q) / sum_j(1/price_j - q_j)`` over the conditional fair
      probabilities ``q``, the share of the overround the outcome carries; None when the overround is 0.

    With the market's ``margin`` (:func:`market_margin`), ``method`` and fair ``total``. None when the
    fair total is unknown or the outcome set is not complete and active.
    """
    complete = _complete_prices(market_id, outcomes)
    if complete is None:
        return None
    total, prices = complete
    chances = _book_chances(outcomes)
    method: str
    if chances is not None:
        method = "book"
        wins, refunds = chances
        fair = [w / (1 - r) for w, r in zip(wins, refunds, strict=True)]
    else:
        # Shin where the outcomes partition the results: closest to the books' own numbers on the
        # captures (python -m bench.devig); power where Shin's model does not apply (a total of 2)
        method = "shin" if total == 1.0 else "power"
        fair = devig(prices, total, "shin" if total == 1.0 else "power")
        wins, refunds = fair, [0.0] * len(fair)
    excess = [1.0 / p - q for p, q in zip(prices, fair, strict=True)]
    overround = math.fsum(excess)
    view: dict[str, dict[str, Any]] = {}
    for o, price, q, win, refund, extra in zip(outcomes, prices, fair, wins, refunds, excess, strict=True):
        view[str(o["name"])] = {
            "price": price,
            "probability": q,
            "fair_odds": 1.0 / q if q > 0 else None,
            "edge": price * win + refund - 1.0,
            "margin_share": None if abs(overround) <= 1e-12 else extra / overround,
        }
    return {
        "market_id": market_id,
        "method": method,
        "total": total,
        "margin": math.fsum(1.0 / p for p in prices) / total - 1.0,
        "outcomes": view,
    }


def reference_fair(
    market_id: str, by_bookmaker: Mapping[str, Sequence[Mapping[str, Any]]], home: str = HOME_BOOKMAKER
) -> dict[str, Any] | None:
    """One fair reference for a market across books, and every book's offer against it.

    BetPawa and SportyBet take their probabilities from the same upstream feed (markets.md §7), so a
    book's own numbers are the reference: the home book's first, else another book's (by name); with
    none, the de-vig of the home book's prices, else of another book's (:func:`fair_view`). Returns
    ``{"source": bookmaker, "method", "outcomes": {name: {"probability", "fair_odds"}},
    "offered_vs_fair": {bookmaker: {name: price * probability - 1}}}`` (the bettor's expected return
    at each book's active price against the reference, conditional on no push); None when no book's
    set is complete and active.
    """
    views = {bm: view for bm, outcomes in by_bookmaker.items() if (view := fair_view(market_id, outcomes))}
    order = [bm for bm in (home, *sorted(b for b in views if b != home)) if bm in views]
    if not order:
        return None
    source = next((bm for bm in order if views[bm]["method"] == "book"), order[0])
    reference = views[source]
    chances = {name: o["probability"] for name, o in reference["outcomes"].items()}
    offered: dict[str, dict[str, float]] = {}
    for bm, outcomes in sorted(by_bookmaker.items()):
        edges = {
            str(o["name"]): price * chances[str(o["name"])] - 1.0
            for o in outcomes
            if str(o["name"]) in chances and (price := active_price(o)) is not None
        }
        if edges:
            offered[bm] = edges
    return {
        "source": source,
        "method": reference["method"],
        "outcomes": {name: {"probability": q, "fair_odds": 1.0 / q if q > 0 else None} for name, q in chances.items()},
        "offered_vs_fair": offered,
    }
