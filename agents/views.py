"""Web views (Faust web, JSON): health and the live board. Any worker answers any request.

Each view is a module-level function of ``(view, request, deps)``; the composition root mounts them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

import faust
import orjson
import structlog
from faust.types import TopicT
from faust.web import Request, Response, View

from agents.board_query import BadParameter, ListQuery, parse_list_query
from agents.board_state import Confirmations
from agents.board_view import IndexedEvent, event_detail, events_csv, index_events, list_events
from agents.routing import gather_json, is_local_request, owned_items, route_by_key
from streams import engine
from streams.clock import format_ts, utc_now
from streams.history import QueryError, parse_at
from streams.sources.registry import NAMES
from streams.topics import BOARDS, board_key

__all__ = ["Boards", "Health", "PastBoards", "ResponseCache", "Snapshot", "SnapshotCache", "event", "events", "health"]

log = structlog.get_logger(__name__)


LIST_MAX_AGE_S = 0.5
"""How old a cached ``/odds/events`` answer may be: lists are rebuilt at most twice a second."""


class ResponseCache:
    """Response bodies by request (path and query), refreshed in the background when stale.

    A request is answered from the cache while its entry is fresh; an entry at most
    ``stale_grace_s`` past that is still answered at once while one refresh runs in the background
    (stale-while-revalidate), so a steady stream of requests never waits for a rebuild; an older
    entry is never served: that request waits for the refresh. Bounded in size.
    """

    def __init__(self, max_age_s: float, stale_grace_s: float = 0.5, max_entries: int = 64) -> None:
        self.max_age_s = max_age_s
        self.stale_grace_s = stale_grace_s
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, int, bytes]] = {}
        self._refreshing: dict[str, asyncio.Task[tuple[int, bytes]]] = {}

    async def get(self, key: str, build: Callable[[], Awaitable[tuple[int, bytes, bool]]]) -> tuple[int, bytes]:
        hit = self._entries.get(key)
        age = time.monotonic() - hit[0] if hit is not None else None
        if hit is not None and age is not None and age <= self.max_age_s:
            return hit[1], hit[2]
        if age is not None and age > self.max_age_s + self.stale_grace_s:
            hit = None  # too old to serve even once more
        task = self._refreshing.get(key)
        if task is None:
            task = asyncio.ensure_future(self._refresh(key, build))
            self._refreshing[key] = task
            task.add_done_callback(lambda _t: self._refreshing.pop(key, None))
        if hit is not None:
            return hit[1], hit[2]
        return await asyncio.shield(task)

    async def _refresh(self, key: str, build: Callable[[], Awaitable[tuple[int, bytes, bool]]]) -> tuple[int, bytes]:
        status, body, cacheable = await build()
        if cacheable:
            if key not in self._entries and len(self._entries) >= self.max_entries:
                self._entries.pop(next(iter(self._entries)))
            self._entries[key] = (time.monotonic(), status, body)
        return status, body


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Every worker's boards as one list request gathered them, indexed once for every query."""

    index: list[IndexedEvent]
    confirmed: dict[str, str]
    failed: list[str]


class SnapshotCache:
    """The one gathered :class:`Snapshot` the list's queries share, at most ``max_age_s`` old.

    Every page and filter is cut from it, so asking for another page costs the page, not a gather
    and an index of every board. Like :class:`ResponseCache`: a snapshot up to ``stale_grace_s`` past
    its age is used once more while one refresh runs in the background; an older one never.
    """

    def __init__(self, max_age_s: float, stale_grace_s: float = 0.5) -> None:
        self.max_age_s = max_age_s
        self.stale_grace_s = stale_grace_s
        self._held: tuple[float, Snapshot] | None = None
        self._refreshing: asyncio.Task[Snapshot] | None = None

    async def get(self, build: Callable[[], Awaitable[Snapshot]]) -> Snapshot:
        held = self._held
        age = time.monotonic() - held[0] if held is not None else None
        if held is not None and age is not None and age <= self.max_age_s:
            return held[1]
        if self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._refresh(build))
        task = self._refreshing
        if held is not None and age is not None and age <= self.max_age_s + self.stale_grace_s:
            return held[1]
        return await asyncio.shield(task)

    async def _refresh(self, build: Callable[[], Awaitable[Snapshot]]) -> Snapshot:
        try:
            snapshot = await build()
            self._held = (time.monotonic(), snapshot)
            return snapshot
        finally:
            self._refreshing = None


@dataclass(frozen=True, slots=True)
class Health:
    """What ``GET /health`` checks: each part by name, a check that raises with the reason when down."""

    app: faust.App
    checks: Mapping[str, Callable[[], Awaitable[None]]]
    observed_topic: str
    """``odds.observed`` (prefixed): the partitions this worker reports as its own."""
    about: Mapping[str, Any] = field(default_factory=dict)
    """Fixed facts added to every answer (broker address, app id)."""


async def health(view: View, request: Request, h: Health) -> Response:
    down: dict[str, str] = {}
    for part, check in h.checks.items():
        try:
            await check()
        except Exception as exc:
            down[part] = str(exc)
    body: dict[str, Any] = {
        "status": "ok" if not down else "down",
        **h.about,
        "worker": engine.worker_url(h.app),
        "partitions": sorted(engine.owned_partitions(h.app, h.observed_topic)),
        # ready: partitions assigned and their tables recovered (no rebalance under way)
        "ready": engine.is_ready(h.app),
        "checked_at": utc_now().isoformat(),
    }
    if down:
        body["down"] = down
    return view.json(body, status=200 if not down else 503)


@dataclass(frozen=True, slots=True)
class Boards:
    """What the board's views work with."""

    app: faust.App
    boards: Any
    """The ``boards`` table."""
    observed: TopicT
    """The Faust topic ``odds.observed``: the table's partitions are its partitions."""
    partitions: int
    cache: ResponseCache = field(default_factory=lambda: ResponseCache(LIST_MAX_AGE_S))
    snapshots: SnapshotCache = field(default_factory=lambda: SnapshotCache(LIST_MAX_AGE_S))
    zone: tzinfo = field(default_factory=lambda: ZoneInfo("Africa/Lagos"))
    """The trader's zone (``ODDSTREAM_TRADER_TZ``): the days of the kickoff presets."""


def _local_rows(b: Boards) -> list[dict[str, Any]]:
    """This worker's boards (of partitions it owns), each with its last confirmation."""
    confirmed = Confirmations(b.boards)
    items = owned_items(b.app, BOARDS, b.boards, b.observed.get_topic_name(), b.partitions)
    return [{"board": board, "observed_at": confirmed.get(key)} for key, board in items]


def _index(rows: list[dict[str, Any]], failed: list[str]) -> Snapshot:
    """The gathered rows indexed for the list (pure CPU: runs in a thread, off the event loop)."""
    conf = {board_key(r["board"]["sportradar_id"], r["board"]["bookmaker"]): r["observed_at"] for r in rows}
    return Snapshot(index_events(r["board"] for r in rows), conf, failed)


def _render_events(snap: Snapshot, query: ListQuery, now: datetime) -> tuple[int, bytes, bool]:
    """One query's body from the shared snapshot (pure CPU; a page is cheap, the CSV of every event is not)."""
    if query.format == "csv":
        return 200, events_csv(snap.index, snap.confirmed, now, query).encode(), not snap.failed
    body = list_events(snap.index, snap.confirmed, now, query)
    if snap.failed:
        body["partial"] = {"workers_not_answering": snap.failed}
    return 200, orjson.dumps(body), not snap.failed  # ~8x the stdlib's speed on a page of 100 events


def _query_params(request: Request) -> dict[str, list[str]]:
    """Every value of each query parameter (``tournament`` and ``country`` repeat)."""
    params: dict[str, list[str]] = {}
    for name, value in request.query.items():  # a multidict: a repeated name comes once per value
        params.setdefault(name, []).append(value)
    return params


async def events(view: View, request: Request, b: Boards) -> Response:
    """``GET /odds/events``: one page of every worker's boards, filtered, at most ``LIST_MAX_AGE_S`` old.

    Other workers answer ``?scope=local`` with their rows unfiltered; filters, sort and pages apply to
    the gathered rows here (``agents.board_view.list_events``).
    """
    local = is_local_request(request)

    async def build() -> tuple[int, bytes, bool]:
        now = utc_now()
        query = ListQuery()
        if not local:
            try:
                query = parse_list_query(_query_params(request), now, b.zone)
            except BadParameter as exc:
                return 400, json.dumps({"error": str(exc)}).encode(), True
        if local:
            rows, _ = await gather_json(view, request, _local_rows(b))
            return 200, json.dumps({"items": rows}, separators=(",", ":")).encode(), True

        async def gather() -> Snapshot:
            rows, failed = await gather_json(view, request, _local_rows(b))
            return await asyncio.to_thread(_index, rows, failed)

        snap = await b.snapshots.get(gather)
        if query.format == "csv":  # every event: in a thread, off the event loop
            return await asyncio.to_thread(_render_events, snap, query, now)
        # a page (at most 100 events, ~1-2 ms): a hop to a thread and back would cost the request two
        # more waits for the event loop, which the ingesting agents hand over only every few ms
        return _render_events(snap, query, now)

    # a local answer does not depend on the list's parameters: one cache entry for every page asked
    key = f"{request.url.path}?scope=local" if local else str(request.url.path_qs)
    status, body = await b.cache.get(key, build)
    if not local and status == 200 and request.query.get("format") == "csv":
        return view.bytes(body, content_type="text/csv", status=status)
    return view.bytes(body, content_type="application/json", status=status)


PastBoards = Callable[[str, datetime], Awaitable[tuple[list[dict[str, Any]], dict[str, str]] | None]]
"""The boards of one event as they stood at a moment and when each last changed, from the stored
history (None: an unknown event); the composition root hands the history reader's in."""

NO_HISTORY = "the board at a past moment is rebuilt from PostgreSQL: this worker has no ODDSTREAM_DATABASE_URL"


async def event(
    view: View, request: Request, b: Boards, past: PastBoards | None = None, *, sportradar_id: str
) -> Response:
    """``GET /odds/events/{sportradar_id}``: answered by the worker owning the event; with ``?at=T``,
    the same shape as the board stood at T, rebuilt from the stored history by any worker."""
    if "at" in request.query:
        return await _event_at(view, request, past, sportradar_id)
    routed = await route_by_key(view, request, b.observed, sportradar_id)
    if routed is not None:
        return routed
    confirmed = Confirmations(b.boards)
    keys = [board_key(sportradar_id, bm) for bm in NAMES]
    values = [board for key in keys if (board := b.boards.get(key)) is not None]
    conf = {key: at for key in keys if (at := confirmed.get(key))}
    # ~10 ms of margins, fair values and the summary card: off the event loop the ingesting agents share
    detail = await asyncio.to_thread(event_detail, sportradar_id, values, conf, utc_now())
    if detail is None:
        return view.json({"error": f"unknown event {sportradar_id}"}, status=404)
    return view.json(detail)


async def _event_at(view: View, request: Request, past: PastBoards | None, sportradar_id: str) -> Response:
    try:
        at = parse_at(request.query)
    except QueryError as exc:
        return view.json({"error": str(exc)}, status=400)
    assert at is not None  # asked only with ``at`` in the query
    if past is None:
        return view.json({"error": NO_HISTORY}, status=503)
    try:
        found = await past(sportradar_id, at)
    except OSError as exc:  # the database is away: say so, never a 500
        log.warning("board_at_database_unavailable", error=repr(exc))
        return view.json({"error": "the database is not answering; try again"}, status=503)
    if found is None:
        return view.json({"error": f"unknown event {sportradar_id}"}, status=404)
    values, conf = found
    detail = await asyncio.to_thread(event_detail, sportradar_id, values, conf, at)
    if detail is None:
        return view.json({"error": f"event {sportradar_id} had no prices at {format_ts(at)}"}, status=404)
    return view.json({**detail, "at": format_ts(at)})
