"""The event detail's summary card: BetPawa against its competitors, over every market and per group.

Pure: input is the detail's markets (``agents.board_view.event_detail``: each with ``group`` and, per
bookmaker, ``outcomes``, ``margin`` and ``unavailable_since``). Only what is offered counts: a
withdrawn market, a suspended outcome or one without a price is no offer.

Per scope (``all`` and each group present), with BetPawa's offered markets and its priced outcomes:

- ``best_share``: the share of BetPawa's priced outcomes where no competitor pays more (a tie counts
  for BetPawa; an outcome no competitor prices counts too, nobody paying more);
- ``margin_gap``: the mean of BetPawa's margin minus the lowest competitor margin, over the markets
  where both have one (positive: BetPawa takes more);
- per competitor: ``prices_share``, the share of BetPawa's markets it prices; ``best_or_tied_share``,
  over the outcomes both price, the share where it pays no more than BetPawa; and ``margin_gap``
  against it alone. A share or mean of nothing is None.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streams.market_catalog import GROUPS
from streams.sources.registry import HOME, NAMES

__all__ = ["COMPETITORS", "board_summary"]

COMPETITORS: tuple[str, ...] = tuple(n for n in NAMES if n != HOME)


def _price(outcome: Mapping[str, Any]) -> float | None:
    p = outcome.get("price")
    if outcome.get("suspended") or not isinstance(p, int | float) or not math.isfinite(p) or p <= 1:
        return None
    return float(p)


def _offered(quote: Mapping[str, Any] | None) -> dict[str, float] | None:
    """Outcome name -> price of an offered quote with at least one price; None otherwise."""
    if quote is None or quote.get("unavailable_since") is not None:
        return None
    prices = {str(o["name"]): p for o in quote["outcomes"] if (p := _price(o)) is not None}
    return prices or None


@dataclass
class _Versus:
    markets: int = 0
    compared: int = 0
    not_better: int = 0
    gaps: list[float] = field(default_factory=list)


@dataclass
class _Tally:
    markets: int = 0
    outcomes: int = 0
    best_or_tied: int = 0
    gaps: list[float] = field(default_factory=list)
    versus: dict[str, _Versus] = field(default_factory=lambda: {c: _Versus() for c in COMPETITORS})

    def add(self, market: Mapping[str, Any]) -> None:
        books = market["bookmakers"]
        home = _offered(books.get(HOME))
        if home is None:
            return
        self.markets += 1
        theirs = {c: _offered(books.get(c)) for c in COMPETITORS}
        for name, mine in home.items():
            self.outcomes += 1
            if all(p is None or p.get(name, 0.0) <= mine for p in theirs.values()):
                self.best_or_tied += 1
        home_margin = books[HOME].get("margin")
        margins: list[float] = []
        for c, prices in theirs.items():
            if prices is None:
                continue
            v = self.versus[c]
            v.markets += 1
            for name, mine in home.items():
                if name in prices:
                    v.compared += 1
                    v.not_better += prices[name] <= mine
            margin = books[c].get("margin")
            if isinstance(home_margin, float) and isinstance(margin, float):
                v.gaps.append(home_margin - margin)
                margins.append(margin)
        if isinstance(home_margin, float) and margins:
            self.gaps.append(home_margin - min(margins))

    def view(self) -> dict[str, Any]:
        return {
            "markets": self.markets,
            "outcomes": self.outcomes,
            "best_or_tied": self.best_or_tied,
            "best_share": _share(self.best_or_tied, self.outcomes),
            "margin_gap": _mean(self.gaps),
            "competitors": {
                c: {
                    "markets_priced": v.markets,
                    "prices_share": _share(v.markets, self.markets),
                    "outcomes_compared": v.compared,
                    "best_or_tied_share": _share(v.not_better, v.compared),
                    "margin_gap": _mean(v.gaps),
                }
                for c, v in self.versus.items()
            },
        }


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else round(part / whole, 6)


def _mean(values: Sequence[float]) -> float | None:
    return None if not values else round(sum(values) / len(values), 9)


def board_summary(markets: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """``{"all": card, "groups": {group: card}}`` for the groups the markets fall in (see the module)."""
    overall = _Tally()
    groups: dict[str, _Tally] = {}
    for market in markets:
        overall.add(market)
        groups.setdefault(str(market["group"]), _Tally()).add(market)
    order = {g: i for i, g in enumerate(GROUPS)}
    ranked = sorted(groups, key=lambda g: (order.get(g, len(order)), g))
    return {"all": overall.view(), "groups": {g: groups[g].view() for g in ranked}}
