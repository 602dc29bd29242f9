"""Web views (Faust web, JSON): health and the live board. Any worker answers any request."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.web import Request, Response, View

from agents.board_view import event_detail, events_list
from agents.routing import gather_json, owned, owned_partitions, route_by_key
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


def register(app: faust.App, rt: Runtime) -> None:
    boards = rt.tables["boards"]
    confirmed = rt.tables["confirmed"]
    observed_topic = rt.topic(topics.OBSERVED)
    observed_name = rt.settings.topic(topics.OBSERVED.name)
    partitions = rt.settings.topic_partitions

    def _local_rows() -> list[dict[str, Any]]:
        """This worker's boards (of partitions it owns), each with its last confirmation."""
        mine = owned_partitions(app, observed_name)
        rows = owned(boards.items(), lambda k: str(k).split(":", 1)[0], mine, partitions)
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
                "checked_at": utc_now().isoformat(),
            }
            if down:
                body["down"] = down
            return self.json(body, status=200 if not down else 503)

    @app.page("/odds/events")
    class Events(View):
        async def get(self, request: Request) -> Response:
            flt = {k: v for k in ("tournament", "kickoff_from", "kickoff_to", "q") if (v := request.query.get(k))}
            rows, failed = await gather_json(self, request, _local_rows())
            if request.query.get("scope") == "local":
                return self.json({"items": rows})
            values, conf = _split(rows)
            try:
                events = events_list(values, conf, utc_now(), flt)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            body: dict[str, Any] = {"count": len(events), "events": events}
            if failed:
                body["partial"] = {"workers_not_answering": failed}
            return self.json(body)

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
