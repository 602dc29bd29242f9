"""Upcasters: pure functions that lift a stored event from one ``schema_version`` to the next.

Topics keep what was written years ago, and replays read it again; the code only knows the current
shape of each event type. The rule (the contract's "Versioning"):

- an **additive** change (a new optional field) keeps the version: readers ignore fields they do not
  know, and a missing optional field takes its default;
- a **breaking** change (a field renamed, removed, retyped or newly required) bumps the event type's
  ``schema_version``, publishes a new ``schemas/<ns>.<Type>.v<N>.json`` beside the old one, and
  registers here one upcaster from ``N - 1`` to ``N``.

``decode`` applies the chain on read, so every agent and projection sees only the current shape; a
record newer than this reader, or one no chain reaches, is an invalid event (dead-lettered with the
reason, never guessed at). An upcaster takes the JSON object of version ``N`` and returns a new
object of version ``N + 1``; it does no I/O, reads no clock and does not mutate its argument (the
registry stamps ``schema_version`` itself). Register one with ``Upcasters.with_step``::

    def _teams_object(old: Mapping[str, Any]) -> dict[str, Any]:
        new = {k: v for k, v in old.items() if k not in ("home_team", "away_team")}
        new["teams"] = {"home": old["home_team"], "away": old["away_team"]}
        return new

    UPCASTERS = Upcasters().with_step("OddsObserved", 1, _teams_object)

Every event type is still at version 1, so ``UPCASTERS`` is empty today.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Final

__all__ = ["UPCASTERS", "UpcastError", "Upcaster", "Upcasters"]

Upcaster = Callable[[Mapping[str, Any]], dict[str, Any]]
"""The JSON object of version N in, a new JSON object of version N + 1 out."""


class UpcastError(ValueError):
    """A stored record could not be brought to the reader's version; the message says why."""


@dataclass(frozen=True, slots=True)
class Upcasters:
    """An immutable registry of upcasters keyed by ``(event_type, from_version)``."""

    steps: Mapping[tuple[str, int], Upcaster] = field(default_factory=lambda: MappingProxyType({}))

    def with_step(self, event_type: str, from_version: int, upcaster: Upcaster) -> Upcasters:
        """A new registry that also lifts ``event_type`` from ``from_version`` to ``from_version + 1``."""
        if from_version < 1:
            raise ValueError("schema versions start at 1")
        if (event_type, from_version) in self.steps:
            raise ValueError(f"{event_type} v{from_version} already has an upcaster")
        return Upcasters(MappingProxyType({**self.steps, (event_type, from_version): upcaster}))

    def reaches(self, event_type: str, from_version: int, to_version: int) -> bool:
        """True when a chain of upcasters lifts ``event_type`` from one version to the other."""
        return all((event_type, v) in self.steps for v in range(from_version, to_version))

    def upcast(self, data: Mapping[str, Any], to_version: int) -> dict[str, Any]:
        """``data`` (carrying ``event_type`` and an int ``schema_version``) lifted to ``to_version``.

        Raises ``UpcastError`` when a step is missing or an upcaster fails on this record.
        """
        event_type = str(data["event_type"])
        version = int(data["schema_version"])
        out = dict(data)
        while version < to_version:
            step = self.steps.get((event_type, version))
            if step is None:
                raise UpcastError(f"no upcaster for {event_type} from schema_version {version} to {version + 1}")
            try:
                out = step(MappingProxyType(out))
            except Exception as exc:  # a malformed old record: say which step refused it
                raise UpcastError(f"upcasting {event_type} v{version} -> v{version + 1} failed: {exc!r}") from exc
            version += 1
            out = {**out, "event_type": event_type, "schema_version": version}
        return out


UPCASTERS: Final = Upcasters()
"""The registry ``decode`` applies: empty while every event type is at version 1."""
