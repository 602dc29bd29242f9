"""Display names and groups of the canonical markets, derived from the market registry.

The registry (``streams.sources.mapping.REGISTRY``, 129 mappings) names each market by a canonical key
(``asian_handicap_1h``); this module turns that key into what a trader reads ("Asian Handicap | 1st
Half") and files it under one group, the first of these that fits:

========== ===========================================================================================
popular    1X2, Double Chance, Both Teams To Score and Over/Under, full time
corners    anything about corners
cards      bookings, cards, sendings-off
combos     two markets in one bet (1X2 & Both Teams To Score, Home or Over 2.5, ...)
handicaps  Asian and 3-way handicaps
halves     a half, the first minutes, or half time against full time
goals      totals, scores, clean sheets, goal counts
other      the rest, and any market id the registry does not know
========== ===========================================================================================

Pure: computed once at import from the registry's data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from streams.sources.mapping import REGISTRY

__all__ = ["GROUPS", "MarketLabel", "group_of", "label", "name_of"]

GROUPS: Final = ("popular", "goals", "handicaps", "halves", "combos", "corners", "cards", "other")
"""Every group, in the order a board shows them."""

MarketLabel = tuple[str, str]
"""``(name, group)`` of one market."""

_POPULAR: Final = frozenset({"1x2_ft", "double_chance_ft", "btts_ft", "over_under_ft"})
_PERIODS: Final = {
    "ft": "Full Time",
    "1h": "1st Half",
    "2h": "2nd Half",
    "10min": "1st 10 Minutes",
    "5min": "1st 5 Minutes",
}
# phrases of the keys that are markets of their own (a key with two of them is a combination)
_MARKETS: Final = (
    ("1x2", "1X2"),
    ("double_chance", "Double Chance"),
    ("btts", "Both Teams To Score"),
    ("over_under", "Over/Under"),
    ("htft", "Half Time/Full Time"),
    ("correct_score", "Correct Score"),
    ("draw_no_bet", "Draw No Bet"),
    ("asian_handicap", "Asian Handicap"),
    ("handicap_3way", "3-Way Handicap"),
    ("corner_handicap", "Corner Handicap"),
    ("odd_even", "Odd/Even"),
    ("exact_goals", "Exact Goals"),
    ("multigoals", "Multigoals"),
    ("multiscores", "Multiscores"),
)
_WORDS: Final = {
    "haou": "Home/Away Over/Under",
    "over": "Over",
    "15": "1.5",
    "25": "2.5",
    "1plus": "1+",
    "2plus": "2+",
    "or": "or",
    "no": "No",
}
_GOALS: Final = (
    "over_under",
    "btts",
    "exact_goals",
    "multigoals",
    "multiscores",
    "odd_even",
    "clean_sheet",
    "win_to_nil",
    "to_score",
    "correct_score",
    "which_team",
    "winning_margin",
    "goal",
    "score",
)


def _words(key: str) -> tuple[str, int]:
    """The display words of a key without its period, and how many market phrases it holds."""
    parts: list[str] = []
    markets = 0
    rest = key
    while rest:
        for phrase, text in _MARKETS:
            if rest == phrase or rest.startswith(phrase + "_"):
                if parts and markets:
                    parts.append("&")
                parts.append(text)
                markets += 1
                rest = rest[len(phrase) + 1 :]
                break
        else:
            word, _, rest = rest.partition("_")
            parts.append(_WORDS.get(word, word.capitalize()))
    return " ".join(parts), markets


def _label(key: str) -> MarketLabel:
    head, _, last = key.rpartition("_")
    period = _PERIODS.get(last) if head else None
    words, markets = _words(head if period else key)
    name = f"{words} | {period}" if period else words
    return name, _group(key, last if period else "", markets)


def _group(key: str, period: str, markets: int) -> str:
    if key in _POPULAR:
        return "popular"
    if "corner" in key:
        return "corners"
    if any(word in key for word in ("booking", "card", "sending_off")):
        return "cards"
    if markets >= 2 or "_or_" in key or key.endswith("_combined") or key.startswith("no_draw"):
        return "combos"
    if "handicap" in key:
        return "handicaps"
    if period in ("1h", "2h", "10min", "5min") or "half" in key or "halves" in key or key.startswith("htft"):
        return "halves"
    if any(word in key for word in _GOALS):
        return "goals"
    return "other"


_BY_ID: Final[Mapping[str, MarketLabel]] = {
    entry.betpawa_id: _label(entry.canonical) for entry in REGISTRY if entry.betpawa_id is not None
}


def label(market_id: str, fallback_name: str = "") -> MarketLabel:
    """``(name, group)`` of a canonical market id; a market the registry does not know is "other",
    named ``fallback_name`` (what the book called it), else its id."""
    known = _BY_ID.get(market_id)
    if known is not None:
        return known
    return (fallback_name or f"Market {market_id}", "other")


def name_of(market_id: str, fallback_name: str = "") -> str:
    return label(market_id, fallback_name)[0]


def group_of(market_id: str) -> str:
    return label(market_id)[1]
