"""Web views (Faust web, JSON): health and the live board. Any worker answers any request."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.web import Request, Response, View

from agents.board_state import Confirmations, board_items
from agents.board_view import event_detail, events_list
from agents.routing import gather_json, is_local_request, owned, owned_partitions, route_by_key
from projections.writer import check_database
from streams import topics
from streams.app import Runtime
from streams.clock import utc_now
from streams.settings import BOOKMAKERS

__all__ = ["broker_reachable", "register"]


async def broker_reachable(bootstrap: str, timeout_s: float = 2.0) -> str | None:
    """None when one bootstrap server accepts a TCP connection, else the reason."""
    errors = []
    for server in bootstrap.split(","):
        host, _, port = server.rpartition(":")
        try:
            async with asyncio.timeout(timeout_s):
                _, writer = await asyncio.open_connection(host, int(port))
            writer.close()
            return None
        except (OSError, TimeoutError) as exc:
            errors.append(f"{server}: {exc!r}")
    return "; ".join(errors)


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


def _recovered(app: faust.App) -> bool:
    """True once the table manager's recovery has completed (Faust types omit ``recovery``)."""
    recovery = getattr(app.tables, "recovery", None)
    return bool(recovery is not None and recovery.completed.is_set())


def register(app: faust.App, rt: Runtime) -> None:
    boards = rt.tables["boards"]
    confirmed = Confirmations(boards)
    observed_topic = rt.topic(topics.OBSERVED)
    observed_name = rt.settings.topic(topics.OBSERVED.name)
    partitions = rt.settings.topic_partitions

    def _local_rows() -> list[dict[str, Any]]:
        """This worker's boards (of partitions it owns), each with its last confirmation."""
        mine = owned_partitions(app, observed_name)
        rows = owned(board_items(boards), lambda k: str(k).split(":", 1)[0], mine, partitions)
        return [{"board": b, "observed_at": confirmed.get(f"{b['sportradar_id']}:{b['bookmaker']}")} for b in rows]

    def _split(rows: list[dict[str, Any]]) -> tuple[list[Any], dict[str, str]]:
        conf = {f"{r['board']['sportradar_id']}:{r['board']['bookmaker']}": r["observed_at"] for r in rows}
        return [r["board"] for r in rows], conf

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            down: dict[str, str] = {}
            broker_error = await broker_reachable(rt.settings.kafka_bootstrap)
            if broker_error:
                down["broker"] = broker_error
            try:
                await check_database(rt.engine, timeout_s=2.0)
            except Exception as exc:
                down["database"] = str(exc)
            body: dict[str, Any] = {
                "status": "ok" if not down else "down",
                "broker": rt.settings.kafka_bootstrap,
                "app_id": rt.settings.app_id,
                "worker": str(app.conf.canonical_url),
                "partitions": sorted(owned_partitions(app, observed_name)),
                # ready: partitions assigned and their tables recovered (no rebalance under way)
                "ready": bool(not app.rebalancing and _recovered(app)),
                "checked_at": utc_now().isoformat(),
            }
            if down:
                body["down"] = down
            return self.json(body, status=200 if not down else 503)

    list_cache = ResponseCache(LIST_MAX_AGE_S)

    def _render_events(rows: list[dict[str, Any]], flt: dict[str, str], failed: list[str]) -> tuple[int, bytes, bool]:
        """The list's body from gathered rows (pure CPU: runs in a thread, off the event loop)."""
        values, conf = _split(rows)
        try:
            events = events_list(values, conf, utc_now(), flt)
        except ValueError as exc:
            return 400, json.dumps({"error": str(exc)}).encode(), True
        body: dict[str, Any] = {"count": len(events), "events": events}
        if failed:
            body["partial"] = {"workers_not_answering": failed}
        return 200, json.dumps(body, separators=(",", ":")).encode(), not failed

    @app.page("/odds/events")
    class Events(View):
        async def get(self, request: Request) -> Response:
            async def build() -> tuple[int, bytes, bool]:
                rows, failed = await gather_json(self, request, _local_rows())
                if is_local_request(request):
                    return 200, json.dumps({"items": rows}, separators=(",", ":")).encode(), True
                flt = {k: v for k in ("tournament", "kickoff_from", "kickoff_to", "q") if (v := request.query.get(k))}
                return await asyncio.to_thread(_render_events, rows, flt, failed)

            status, body = await list_cache.get(str(request.url.path_qs), build)
            return self.bytes(body, content_type="application/json", status=status)

    @app.page("/odds/events/{sportradar_id}")
    class EventDetail(View):
        async def get(self, request: Request, sportradar_id: str) -> Response:
            routed = await route_by_key(self, request, observed_topic, sportradar_id)
            if routed is not None:
                return routed
            values = [b for bm in BOOKMAKERS if (b := boards.get(f"{sportradar_id}:{bm}")) is not None]
            conf = {f"{sportradar_id}:{bm}": c for bm in BOOKMAKERS if (c := confirmed.get(f"{sportradar_id}:{bm}"))}
            detail = event_detail(sportradar_id, values, conf, utc_now())
            if detail is None:
                return self.json({"error": f"unknown event {sportradar_id}"}, status=404)
            return self.json(detail)
