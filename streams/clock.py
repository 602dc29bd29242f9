"""The one place that makes "now", and the one parser that turns wire timestamps into datetimes.

Every datetime in oddstream is timezone-aware UTC. Naive values are refused at the boundary
(``NaiveTimestampError``) instead of being guessed at; other offsets are converted to UTC.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["NaiveTimestampError", "format_ts", "parse_ts", "require_aware", "utc_now"]


class NaiveTimestampError(ValueError):
    """A timestamp without a UTC offset: oddstream never guesses its zone."""


_DATE_TIME = r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
_RFC3339 = re.compile(_DATE_TIME + r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
_RFC3339_NAIVE = re.compile(_DATE_TIME.replace("[Tt]", "[Tt ]"))  # to name the fault precisely


def utc_now() -> datetime:
    """The current time, aware, in UTC. Logic takes time as an argument; only edges call this."""
    return datetime.now(UTC)


def require_aware(value: datetime, field: str = "timestamp") -> datetime:
    """Return ``value`` converted to UTC, or raise when it is naive."""
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise NaiveTimestampError(f"{field} has no UTC offset: {value.isoformat()}")
    return value.astimezone(UTC)


def parse_ts(value: object, field: str = "timestamp") -> datetime:
    """Parse an RFC 3339 timestamp (``Z`` or ``+hh:mm``) into an aware UTC datetime."""
    if isinstance(value, datetime):
        return require_aware(value, field)
    if not isinstance(value, str):
        raise ValueError(f"{field} must be an RFC 3339 string, got {type(value).__name__}")
    if not _RFC3339.fullmatch(value):
        if _RFC3339_NAIVE.fullmatch(value):
            raise NaiveTimestampError(f"{field} has no UTC offset: {value}")
        raise ValueError(f"{field} is not an RFC 3339 timestamp: {value!r}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"{field} is not an RFC 3339 timestamp: {value!r}") from exc
    return require_aware(parsed, field)


def format_ts(value: datetime) -> str:
    """RFC 3339 with an explicit offset (always ``+00:00``), microseconds kept."""
    return require_aware(value).isoformat()
