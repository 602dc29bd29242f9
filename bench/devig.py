"""How close each de-vig method comes to the books' own fair probabilities, on the real captures.

BetPawa and SportyBet publish per outcome the probability they take as fair (markets.md §7). This
reads those numbers straight from the captured JSON (the parsers are not relied on for them):
SportyBet ``data.markets[].outcomes[].probability`` / ``voidProbability`` (decimal strings), BetPawa
v3 ``markets[].row[].prices[].probability`` (an obfuscated base64 blob, decoded below) and BetPawa v4
(a plain ``{"win", "refund"}`` object). Each raw outcome is put in canonical terms (market id, line,
outcome name, price) by the book's own parser, run on a copy of the event holding that one outcome.

For every market with a known fair total (``streams.sources.mapping.fair_total``) whose outcome set
is complete and active (``streams.markets.market_margin`` is not None) and carries the book's numbers
on every outcome, each method's de-vig of the offered prices (``streams.markets.devig``) is compared
with the book's probability conditional on no push, ``win / (1 - refund)``. It prints the mean and
max absolute error per book and method, and how many markets and outcomes were compared. A
measurement on fixed files: the same numbers on every run.

    .venv/bin/python -m bench.devig [--markets]
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import math
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Final

from streams.markets import DEVIG_METHODS, devig, market_margin
from streams.sources import mapping
from streams.sources.registry import bookmaker

FIXTURES: Final = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
CAPTURES: Final[tuple[tuple[str, str, str], ...]] = (
    ("BetPawa v3", "betpawa", "betpawa.event.v3.real.json"),
    ("BetPawa v4", "betpawa", "betpawa.event.v4.json"),
    ("SportyBet", "sportybet", "sportybet.event.real.json"),
)
"""(label, book, fixture): the real captures that carry the book's own probabilities (Bet9ja has none)."""
ALL: Final = "all"
ALL_TOTAL_1: Final = "all, total 1"  # the markets every method, Shin's too, is compared on
_MASK: Final = 0x9E3779B97F4A7C15  # markets.md §7, step 3
_U64: Final = 1 << 64


def decode_betpawa_blob(blob: object) -> tuple[float, float] | None:
    """BetPawa v3's ``probability`` string as ``(win, refund)`` (markets.md §7), None if it does not decode.

    base64 (standard or URL-safe, padding optional) -> JSON integers ``win``, ``refund``, ``key`` ->
    each reduced to unsigned 64 bits -> ``x ^ key ^ 0x9E3779B97F4A7C15`` -> a big-endian IEEE double.
    """
    if not isinstance(blob, str) or not 0 < len(blob) <= 1000:
        return None
    text = blob.strip().replace("-", "+").replace("_", "/")
    try:
        fields = json.loads(base64.b64decode(text + "=" * (-len(text) % 4), validate=True))
        key = fields["key"]
        values = [fields["win"], fields["refund"]]
    except (binascii.Error, ValueError, TypeError, KeyError):
        return None
    if not all(type(v) is int for v in (key, *values)):
        return None
    doubles = [struct.unpack(">d", ((v % _U64) ^ (key % _U64) ^ _MASK).to_bytes(8, "big"))[0] for v in values]
    if not all(math.isfinite(d) and 0 <= d <= 1 for d in doubles):
        return None
    return doubles[0], doubles[1]


def _decimal(raw: object) -> float | None:
    if not isinstance(raw, str | int | float) or isinstance(raw, bool):
        return None
    try:
        value = Decimal(str(raw))
    except InvalidOperation:
        return None
    return float(value) + 0.0 if value.is_finite() and 0 <= value <= 1 else None


def _betpawa_chances(price: Mapping[str, Any]) -> tuple[float, float] | None:
    raw = price.get("probability")
    if isinstance(raw, Mapping):  # v4: {"win": 0.2007, "refund": 0.0}
        win, refund = _decimal(raw.get("win")), _decimal(raw.get("refund", 0.0))
        return None if win is None or refund is None else (win, refund)
    return decode_betpawa_blob(raw)


def _sportybet_chances(outcome: Mapping[str, Any]) -> tuple[float, float] | None:
    win, void = _decimal(outcome.get("probability")), _decimal(outcome.get("voidProbability", "0"))
    return None if win is None or void is None else (win, void)


def _raw_outcomes(book: str, payload: dict[str, Any]) -> Iterator[tuple[dict[str, Any], tuple[float, float] | None]]:
    """Per raw outcome: a copy of the event holding only it, and the book's (win, refund) of it."""
    if book == "betpawa":
        for market in payload.get("markets", []):
            for row in market.get("row", []):
                for price in row.get("prices", []):
                    one = {**market, "row": [{**row, "prices": [price]}]}
                    yield {**payload, "markets": [one]}, _betpawa_chances(price)
    elif book == "sportybet":
        data = payload["data"]
        for market in data.get("markets", []):
            for outcome in market.get("outcomes", []):
                one = {**market, "outcomes": [outcome]}
                yield {**payload, "data": {**data, "markets": [one]}}, _sportybet_chances(outcome)
    else:
        raise ValueError(f"{book} publishes no probabilities")


@dataclass(frozen=True)
class BookMarket:
    """One market of a capture in canonical terms, each outcome with the book's own numbers."""

    market_id: str
    line: float | None
    outcomes: tuple[dict[str, Any], ...]  # {name, price, suspended, probability, refund_probability}


def book_markets(book: str, fixture: str) -> list[BookMarket]:
    """Every market of a capture the parser maps, its outcomes carrying the book's ``probability``
    (``win``) and ``refund_probability`` as read from the JSON (absent when they do not decode)."""
    payload = json.loads((FIXTURES / fixture).read_text(encoding="utf-8"))
    parse = bookmaker(book).parse
    grouped: dict[tuple[str, float | None], dict[str, dict[str, Any]]] = {}
    for single, chances in _raw_outcomes(book, payload):
        for quote in parse(single, None).markets:
            for o in quote.outcomes:
                out: dict[str, Any] = {"name": o.name, "price": o.price, "suspended": o.suspended}
                if chances is not None:
                    out["probability"], out["refund_probability"] = chances
                grouped.setdefault((quote.market_id, quote.line), {}).setdefault(o.name, out)
    return [
        BookMarket(mid, line, tuple(outcomes.values()))
        for (mid, line), outcomes in sorted(grouped.items(), key=lambda kv: (kv[0][0], kv[0][1] is None, kv[0][1]))
    ]


def comparable(market: BookMarket) -> bool:
    """A known fair total, a complete and active set, and the book's numbers on every outcome."""
    return market_margin(market.market_id, market.outcomes) is not None and all(
        "probability" in o for o in market.outcomes
    )


@dataclass
class Errors:
    markets: int = 0
    outcomes: int = 0
    total_error: float = 0.0
    max_error: float = 0.0

    def add(self, errors: list[float]) -> None:
        self.markets += 1
        self.outcomes += len(errors)
        self.total_error += math.fsum(errors)
        self.max_error = max(self.max_error, *errors)

    @property
    def mean(self) -> float:
        return self.total_error / self.outcomes if self.outcomes else math.nan


def measure(show_markets: bool = False) -> dict[tuple[str, str], Errors]:
    table: dict[tuple[str, str], Errors] = {}
    for label, book, fixture in CAPTURES:
        for market in book_markets(book, fixture):
            if not comparable(market):
                continue
            total = mapping.fair_total(market.market_id)
            assert total is not None
            prices = [float(o["price"]) for o in market.outcomes]
            truth = [o["probability"] / (1 - o["refund_probability"]) for o in market.outcomes]
            for method in DEVIG_METHODS:
                if method == "shin" and total != 1:
                    continue  # Shin's model is for a total of 1 only
                estimate = devig(prices, total, method)
                errors = [abs(e - t) for e, t in zip(estimate, truth, strict=True)]
                groups = [label, ALL] + ([ALL_TOTAL_1] if total == 1 else [])
                for group in groups:
                    table.setdefault((group, method), Errors()).add(errors)
                if show_markets:
                    print(
                        f"{label:11} {market.market_id:>9} {market.line!s:>5} {method:15}"
                        f" book sum {math.fsum(truth):.6f}/{total:g}  max err {max(errors):.5f}"
                    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--markets", action="store_true", help="also print every market compared")
    args = parser.parse_args()
    table = measure(args.markets)
    print(f"{'book':12} {'method':15} {'markets':>7} {'outcomes':>8} {'mean |err|':>11} {'max |err|':>10}")
    order = [label for label, _, _ in CAPTURES] + [ALL, ALL_TOTAL_1]
    for (label, method), e in sorted(table.items(), key=lambda kv: (order.index(kv[0][0]), kv[0][1])):
        print(f"{label:12} {method:15} {e.markets:7d} {e.outcomes:8d} {e.mean:11.5f} {e.max_error:10.5f}")


if __name__ == "__main__":
    main()
