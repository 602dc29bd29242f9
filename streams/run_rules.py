"""Pure logic of scrape runs: folding run events into a run's state, and deciding staleness.

No Faust, no SQLAlchemy, no clock. The runs table, the stale watchdog and the ``scrape_runs``
projection all use these, so they can never disagree about what a run's status is. Staleness is
decided in two steps: ``stale_candidates`` (any worker's watchdog, over the runs it holds) and
``stale_verdict`` (the one agent owning the run's partition, against its authoritative state).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from streams.clock import format_ts, parse_ts, require_aware
from streams.events import (
    BaseEvent,
    RunCompleted,
    RunFailed,
    RunHeartbeat,
    RunStale,
    RunStarted,
    ScrapeRequested,
    derive_id,
)

__all__ = [
    "FINAL",
    "MAX_HEARTBEATS",
    "RunState",
    "apply_run_event",
    "bookmaker_summary",
    "duration_s",
    "is_stale",
    "new_run",
    "stale_candidates",
    "stale_verdict",
]

RunState = dict[str, Any]
"""A run as JSON-able data: run_id, status, trigger, timestamps (RFC 3339), counts, errors, late events."""

FINAL = frozenset({"completed", "failed", "stale"})
MAX_HEARTBEATS = 120
"""The timeline keeps a run's first heartbeats and its latest, this many in all (10 minutes at 5 s)."""


def new_run(run_id: str) -> RunState:
    return {
        "run_id": run_id,
        "status": "requested",
        "trigger": None,
        "bookmakers": [],
        "events": [],
        "requested_at": None,
        "started_at": None,
        "last_heartbeat_at": None,
        "finished_at": None,
        "stale_detected_at": None,
        "observed": 0,
        "failed": 0,
        "errors": [],
        "late_events": [],
        "retry_of": None,
        "per_bookmaker": {},
        "heartbeats": [],
        "coalesced_into": None,
    }


def _later(a: str | None, b: datetime) -> str:
    """The later of a stored timestamp and a new one (heartbeats may arrive out of order)."""
    b_text = format_ts(b)
    if a is None:
        return b_text
    return a if parse_ts(a) >= b else b_text


def apply_run_event(state: Mapping[str, Any] | None, event: BaseEvent) -> tuple[RunState, str | None]:
    """Fold one run event into the run's state.

    Returns the new state and, for an event that arrived after the run was final, a note saying
    so (the caller logs it): a late heartbeat or outcome is recorded under ``late_events`` but
    never silently turns a stale or finished run back into a running one.
    """
    run_id = str(getattr(event, "run_id"))  # noqa: B009 - every run event has it
    run: RunState = dict(state) if state is not None else new_run(run_id)
    run["errors"] = list(run.get("errors", []))
    run["late_events"] = list(run.get("late_events", []))
    at = event.occurred_at
    final = run["status"] in FINAL

    if isinstance(event, ScrapeRequested):
        run["requested_at"] = run["requested_at"] or format_ts(at)
        run["trigger"] = run["trigger"] or event.trigger
        run["bookmakers"] = run["bookmakers"] or list(event.bookmakers)
        run["events"] = run["events"] or list(event.events)
        run["retry_of"] = event.retry_of
        return run, None

    if final and not (isinstance(event, RunStale) and run["status"] == "stale"):
        if isinstance(event, RunStale):  # a finished run cannot go stale: ignore
            return run, None
        # the run keeps the heartbeat its verdict was based on; the late one is listed
        run["late_events"].append({"event_type": event.event_type, "occurred_at": format_ts(at)})
        note = f"{event.event_type} arrived after the run was {run['status']}; recorded, status kept"
        return run, note

    if isinstance(event, RunStarted | RunHeartbeat):
        run["heartbeats"] = _beat(
            run.get("heartbeats", []), at, getattr(event, "observed", 0), getattr(event, "failed", 0)
        )
    if isinstance(event, RunStarted):
        run["coalesced_into"] = event.coalesced_into
        run["status"] = "running"
        run["trigger"] = event.trigger
        run["bookmakers"] = list(event.bookmakers) or run["bookmakers"]
        run["events"] = list(event.events) or run["events"]
        run["started_at"] = run["started_at"] or format_ts(at)
        run["last_heartbeat_at"] = _later(run["last_heartbeat_at"], at)
    elif isinstance(event, RunHeartbeat):
        if run["status"] == "requested":
            run["status"] = "running"
        run["last_heartbeat_at"] = _later(run["last_heartbeat_at"], at)
        if event.observed is not None:
            run["observed"] = max(run["observed"], event.observed)
        if event.failed is not None:
            run["failed"] = max(run["failed"], event.failed)
        if event.per_bookmaker:
            run["per_bookmaker"] = _counts(event.per_bookmaker)
    elif isinstance(event, RunCompleted):
        run.update(status="completed", finished_at=format_ts(at), observed=event.observed, failed=event.failed)
        run["errors"] = list(event.errors)
        run["per_bookmaker"] = _counts(event.per_bookmaker) or run.get("per_bookmaker", {})
        run["coalesced_into"] = event.coalesced_into or run.get("coalesced_into")
    elif isinstance(event, RunFailed):
        run.update(status="failed", finished_at=format_ts(at), observed=event.observed, failed=event.failed)
        run["errors"] = [*run["errors"], event.error]
        run["per_bookmaker"] = _counts(event.per_bookmaker) or run.get("per_bookmaker", {})
    elif isinstance(event, RunStale):
        if run["status"] == "stale":
            return run, None  # already stale: a second verdict changes nothing
        run.update(status="stale", stale_detected_at=format_ts(event.detected_at))
    return run, None


def _counts(per_bookmaker: Mapping[str, Mapping[str, int]] | None) -> dict[str, dict[str, int]]:
    return {bm: dict(c) for bm, c in (per_bookmaker or {}).items()}


def _beat(
    timeline: list[dict[str, Any]], at: datetime, observed: int | None, failed: int | None
) -> list[dict[str, Any]]:
    """The timeline with one more sign of life, in time order; the same instant twice (a redelivered
    event) is kept once; past ``MAX_HEARTBEATS`` the middle gives way."""
    stamp = format_ts(at)
    if any(b["at"] == stamp for b in timeline):
        return list(timeline)
    out = sorted(
        [*timeline, {"at": stamp, "observed": observed or 0, "failed": failed or 0}], key=lambda b: parse_ts(b["at"])
    )
    if len(out) > MAX_HEARTBEATS:
        head = MAX_HEARTBEATS // 4
        out = out[:head] + out[len(out) - (MAX_HEARTBEATS - head) :]
    return out


def duration_s(run: Mapping[str, Any], now: datetime) -> float | None:
    """Seconds from the run's start to its end (finished, or found stale), or to ``now`` while it runs."""
    if not run.get("started_at"):
        return None
    end = run.get("finished_at") or run.get("stale_detected_at")
    if end is None and run.get("status") in FINAL:
        return None
    stop = parse_ts(end) if end else require_aware(now, "now")
    return round(max((stop - parse_ts(run["started_at"])).total_seconds(), 0.0), 3)


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def bookmaker_summary(runs: Iterable[Mapping[str, Any]], now: datetime, days: int) -> dict[str, Any]:
    """Per bookmaker, over the finished runs started in the last ``days``: how many took part, the share
    that succeeded (the run completed and the book had no errors) and how long the book took
    (median and 90th percentile of its ``ms``); and the runs by status."""
    since = require_aware(now, "now") - timedelta(days=days)
    by_status: dict[str, int] = {}
    books: dict[str, dict[str, Any]] = {}
    for run in runs:
        started = run.get("started_at") or run.get("requested_at")
        if not started or parse_ts(started) < since:
            continue
        by_status[run["status"]] = by_status.get(run["status"], 0) + 1
        if run["status"] not in FINAL or run.get("coalesced_into"):
            continue
        for bm, counts in (run.get("per_bookmaker") or {}).items():
            book = books.setdefault(bm, {"runs": 0, "succeeded": 0, "ms": []})
            book["runs"] += 1
            book["succeeded"] += run["status"] == "completed" and not counts.get("errors", 0)
            if counts.get("ms"):
                book["ms"].append(float(counts["ms"]))
    out: dict[str, Any] = {}
    for bm, book in sorted(books.items()):
        ms: list[float] = book["ms"]
        out[bm] = {
            "runs": book["runs"],
            "succeeded": book["succeeded"],
            "success_rate": round(book["succeeded"] / book["runs"], 4),
            "median_s": round(statistics.median(ms) / 1000, 3) if ms else None,
            "p90_s": round(_quantile(ms, 0.9) / 1000, 3) if ms else None,
        }
    return {"days": days, "since": format_ts(since), "runs_by_status": by_status, "bookmakers": out}


def is_stale(last_heartbeat_at: datetime, now: datetime, stale_after_s: float) -> bool:
    """True when the last sign of life is older than the threshold.

    Both instants must be aware (any offset; compared as instants). A heartbeat from the future
    (clock skew) is never stale.
    """
    last = require_aware(last_heartbeat_at, "last_heartbeat_at")
    current = require_aware(now, "now")
    return current - last > timedelta(seconds=stale_after_s)


def stale_candidates(runs: Iterable[Mapping[str, Any]], now: datetime, stale_after_s: float) -> list[str]:
    """Run ids whose state says running and whose last heartbeat is older than the threshold."""
    out = []
    for run in runs:
        if run.get("status") != "running" or not run.get("last_heartbeat_at"):
            continue
        if is_stale(parse_ts(run["last_heartbeat_at"]), now, stale_after_s):
            out.append(str(run["run_id"]))
    return out


def stale_verdict(state: Mapping[str, Any] | None, now: datetime, stale_after_s: int) -> RunStale | None:
    """The ``RunStale`` a run has earned at ``now``, or None: it is not running, or it is alive.

    Its id derives from the run, so however many workers and checks reach the verdict, the event
    is one fact; a run already stale (or finished) earns nothing more.
    """
    if state is None or state["status"] != "running" or not state["last_heartbeat_at"]:
        return None
    last = parse_ts(state["last_heartbeat_at"])
    if not is_stale(last, now, stale_after_s):
        return None
    run_id = str(state["run_id"])
    return RunStale(
        event_id=derive_id("run-stale", run_id),
        occurred_at=now,
        run_id=run_id,
        last_heartbeat_at=last,
        stale_after_s=stale_after_s,
        detected_at=now,
    )
