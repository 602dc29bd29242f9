"""The board's state as one batch sees and changes it, and its per-partition offset markers.

Pure: plain mappings stand in for the Faust tables, so the batch logic is tested without a broker.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from agents.odds_rules import Quote, Withdrawn, apply_observation, stored_quotes, stored_withdrawn, withdrawn_after
from streams.clock import format_ts
from streams.events import OddsChanged, derive_id
from streams.topics import board_key, is_mark, mark_key
from streams.wire import ObservedBoard, ObservedHead

__all__ = [
    "BoardBatch",
    "Confirmations",
    "applied_offset",
    "board_items",
    "board_record",
    "changed_event",
]


def changed_event(obs: ObservedHead, changes: list[dict[str, Any]]) -> OddsChanged:
    """The ``OddsChanged`` caused by ``obs``; its id derives from the cause."""
    return OddsChanged(
        event_id=derive_id("changed", obs.event_id),
        occurred_at=obs.observed_at,
        sportradar_id=obs.sportradar_id,
        bookmaker=obs.bookmaker,
        observed_at=obs.observed_at,
        caused_by=obs.event_id,
        run_id=obs.run_id,
        changes=changes,
    )


def board_items(table: Mapping[Any, Any]) -> Iterator[tuple[str, Any]]:
    """The ``(key, board)`` pairs of the ``boards`` table, without the offset markers."""
    for key, value in list(table.items()):
        if not is_mark(key):
            yield str(key), value


class Confirmations(Mapping[str, str]):
    """``"<sportradar_id>:<bookmaker>"`` -> when that board was last observed, read from the boards."""

    def __init__(self, boards: Mapping[Any, Any]) -> None:
        self._boards = boards

    def __getitem__(self, key: str) -> str:
        board = self._boards.get(key) if not is_mark(key) else None
        if not board:
            raise KeyError(key)
        return str(board["observed_at"])

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in board_items(self._boards))

    def __len__(self) -> int:
        return sum(1 for _ in board_items(self._boards))


class BoardBatch:
    """One batch's view of the ``boards`` table: what it read, and what it will write.

    A board records where the last observation applied to it was (``partition``, ``offset``), in
    the same record as its quotes and ``observed_at``: one changelog record per key is all or
    nothing, so an observation of that partition at or below that offset is known to be in the
    board and is skipped. (Observations of one board normally share a partition, the key being its
    SportRadar id; one keyed otherwise is compared by ``observed_at`` only.) Re-applying a
    partition from any earlier point therefore gives the same boards and the same ``OddsChanged``.
    """

    def __init__(self, boards: Mapping[str, Any]) -> None:
        self.table = boards
        self.boards: dict[str, tuple[int, dict[str, Any]]] = {}
        self.changes: list[OddsChanged] = []
        self.stale = 0
        self.already = 0
        self.applied = 0

    def board(self, key: str) -> Any:
        mine = self.boards.get(key)
        return mine[1] if mine is not None else self.table.get(key)

    def apply(self, partition: int, offset: int, observed: ObservedBoard) -> None:
        obs = observed.head
        key = board_key(obs.sportradar_id, obs.bookmaker)
        previous = self.board(key)
        if (
            previous is not None
            and previous.get("partition") == partition
            and int(previous.get("offset", -1)) >= offset
        ):
            self.already += 1
            return
        observed_at = format_ts(obs.observed_at)
        before = stored_quotes(previous["quotes"]) if previous else None
        update = apply_observation(before, previous["observed_at"] if previous else None, observed.markets, observed_at)
        if update.stale:
            self.stale += 1
            return
        if update.changes:
            self.changes.append(changed_event(obs, update.changes))
        withdrawn = withdrawn_after(
            stored_withdrawn(previous.get("withdrawn")) if previous else {}, before, update.quotes, observed_at
        )
        self.boards[key] = (partition, board_record(obs, update.quotes, partition, offset, withdrawn))
        self.applied += 1


def board_record(
    obs: ObservedHead, quotes: dict[str, Quote], partition: int, offset: int, withdrawn: Withdrawn | None = None
) -> dict[str, Any]:
    """The ``boards`` table's value for ``obs`` once applied: its event, quotes, when it was
    observed and where the observation was (source partition and offset); and, when there are any,
    the quotes it no longer offers (``agents.odds_rules.Withdrawn``; a board recorded before this
    field existed reads as having none)."""
    record: dict[str, Any] = {
        "sportradar_id": obs.sportradar_id,
        "bookmaker": obs.bookmaker,
        "bookmaker_event_id": obs.bookmaker_event_id,
        "home_team": obs.home_team,
        "away_team": obs.away_team,
        "tournament": obs.tournament,
        "country": obs.country,
        "kickoff_at": format_ts(obs.kickoff_at),
        "quotes": quotes,
        "observed_at": format_ts(obs.observed_at),
        "partition": partition,
        "offset": offset,
    }
    if withdrawn:
        record["withdrawn"] = withdrawn
    return record


def applied_offset(boards: Mapping[str, Any], partition: int) -> int | None:
    """The last offset of ``partition`` whose every observation the boards hold; None if never."""
    mark = boards.get(mark_key(partition))
    return None if mark is None else int(mark)
