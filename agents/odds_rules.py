"""Pure logic of the live board: a board's stored quotes and change detection against them.

No Faust, no SQLAlchemy, no clock: time arrives as an argument. The board agent calls these with
the previous state *before* replacing it, so competitor history is never lost to an overwrite. The
canonical market model they compare (outcomes, quote identity, margins) is ``streams.markets``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from streams.markets import (
    Fair,
    ObservedMarket,
    Outcomes,
    canonical_fair,
    canonical_outcomes,
    merge_outcomes,
    outcome_dicts,
    quote_key,
)

__all__ = [
    "WITHDRAWN_MAX",
    "BoardUpdate",
    "Quote",
    "Withdrawn",
    "apply_observation",
    "as_quote",
    "quote_view",
    "stored_quotes",
    "stored_withdrawn",
    "withdrawn_after",
]

Quote = tuple[str, str, float | None, Outcomes, str, Fair]
"""One quote of a board: ``(market_id, market_name, line, outcomes, last_changed_at, fair)``; ``fair``
the book's own probabilities of the outcomes (:data:`streams.markets.Fair`), None when it gave none.

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
FAIR: Final = 5


def as_quote(stored: Any) -> Quote:
    """A quote as the boards table holds it, as a :data:`Quote`: the tuple this code writes; the
    JSON list it comes back as from the changelog (five fields before quotes kept the books' fair
    probabilities, six since); or the dict with a dict per outcome that boards written before the
    flat layout hold (``{market_id, market_name, line, outcomes, last_changed_at}``), so a changelog
    of an earlier layout is read, not mistaken for changed quotes."""
    if type(stored) is tuple:
        return stored
    if isinstance(stored, Mapping):
        line = stored.get("line")
        outcomes = stored.get("outcomes", ())
        return (
            str(stored["market_id"]),
            str(stored.get("market_name", "")),
            None if line is None else float(line),
            canonical_outcomes(outcomes),
            str(stored["last_changed_at"]),
            canonical_fair(outcomes),
        )
    fair = stored[5] if len(stored) > 5 and stored[5] is not None else None
    return (stored[0], stored[1], stored[2], tuple(stored[3]), stored[4], None if fair is None else tuple(fair))


def quote_view(stored: Any) -> dict[str, Any]:
    """A stored quote as a dict: ``{market_id, market_name, line, outcomes, last_changed_at}``; each
    outcome with the book's ``probability`` and ``refund_probability`` when it gave them."""
    quote = as_quote(stored)
    return {
        "market_id": quote[MARKET_ID],
        "market_name": quote[MARKET_NAME],
        "line": quote[LINE],
        "outcomes": outcome_dicts(quote[OUTCOMES], quote[FAIR]),
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

    ``markets`` are canonical (:func:`canonical_markets`, or ``streams.wire.read_board``).
    ``observed_at`` values are RFC 3339 UTC strings of the same format, so they order as text.
    A quote seen for the first time has ``previous_outcomes`` None; a quote that disappeared
    appears with empty ``outcomes``. An observation older than the board's is ignored.
    """
    prev = previous or {}
    if previous_observed_at is not None and observed_at < previous_observed_at:
        return BoardUpdate(quotes=dict(prev), changes=[], stale=True)

    quotes: dict[str, Quote] = {}
    for market_id, market_name, line, outcomes, fair in markets:
        key = quote_key(market_id, line)
        if key in quotes:  # the same quote twice in one board: merge its outcomes, last wins per name
            outcomes, fair = merge_outcomes(quotes[key][OUTCOMES], quotes[key][FAIR], outcomes, fair)
        old = prev.get(key)
        last_changed_at = observed_at
        if old is not None and old[OUTCOMES] == outcomes:
            last_changed_at = old[LAST_CHANGED_AT]
        # the fair probabilities follow the latest observation; a change is a change of price or availability
        quotes[key] = (market_id, market_name, line, outcomes, last_changed_at, fair)

    changes: list[dict[str, Any]] = []
    for key, quote in quotes.items():
        old = prev.get(key)
        if old is None or old[OUTCOMES] != quote[OUTCOMES]:
            changes.append(
                {
                    "market_id": quote[MARKET_ID],
                    "line": quote[LINE],
                    "outcomes": outcome_dicts(quote[OUTCOMES], quote[FAIR]),
                    "previous_outcomes": None if old is None else outcome_dicts(old[OUTCOMES], old[FAIR]),
                }
            )
    for key, old in prev.items():
        if key not in quotes and old[OUTCOMES]:
            changes.append(
                {
                    "market_id": old[MARKET_ID],
                    "line": old[LINE],
                    "outcomes": [],
                    "previous_outcomes": outcome_dicts(old[OUTCOMES], old[FAIR]),
                }
            )
    return BoardUpdate(quotes=quotes, changes=changes)


WITHDRAWN_MAX: Final = 64
"""At most this many withdrawn quotes are remembered per board (the most recently withdrawn kept)."""

Withdrawn = dict[str, tuple[str, Quote]]
"""A board's quotes no longer offered: quote key -> ``(unavailable_since, the quote as last offered)``,
``unavailable_since`` the ``observed_at`` of the first board without it."""


def stored_withdrawn(stored: Mapping[str, Any] | None) -> Withdrawn:
    """A board's withdrawn quotes as the table holds them: tuples as written, lists once recovered from
    the changelog, or nothing for a board written before boards remembered them."""
    if not stored:
        return {}
    return {str(key): (str(entry[0]), as_quote(entry[1])) for key, entry in stored.items()}


def withdrawn_after(
    withdrawn: Withdrawn,
    previous: Mapping[str, Quote] | None,
    quotes: Mapping[str, Quote],
    observed_at: str,
    limit: int = WITHDRAWN_MAX,
) -> Withdrawn:
    """The withdrawn quotes once a board observed at ``observed_at`` replaced ``previous`` by ``quotes``.

    A quote of ``previous`` missing from ``quotes`` is withdrawn since ``observed_at``; one offered
    again leaves the list; one still missing keeps its first ``unavailable_since``. Bounded to
    ``limit``: the most recently withdrawn are kept (ties by key, so the cut is deterministic).
    """
    out = {key: entry for key, entry in withdrawn.items() if key not in quotes}
    for key, quote in (previous or {}).items():
        if key not in quotes:
            out[key] = (observed_at, quote)
    if len(out) > limit:
        kept = sorted(out.items(), key=lambda item: (item[1][0], item[0]), reverse=True)[:limit]
        out = dict(sorted(kept))
    return out
