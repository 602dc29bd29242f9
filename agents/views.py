"""Web views (Faust web, JSON): health and the live board."""

from __future__ import annotations

import asyncio
from typing import Any

import faust
from faust.web import Request, Response, View

from agents.board_view import event_detail, events_list
from projections.writer import check_database
from streams.app import Runtime
from streams.clock import utc_now

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

    def _snapshot() -> tuple[list[Any], dict[str, str]]:
        return list(boards.values()), dict(confirmed.items())

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
                "checked_at": utc_now().isoformat(),
            }
            if down:
                body["down"] = down
            return self.json(body, status=200 if not down else 503)

    @app.page("/odds/events")
    class Events(View):
        async def get(self, request: Request) -> Response:
            flt = {k: v for k in ("tournament", "kickoff_from", "kickoff_to", "q") if (v := request.query.get(k))}
            values, conf = _snapshot()
            try:
                events = events_list(values, conf, utc_now(), flt)
            except ValueError as exc:
                return self.json({"error": str(exc)}, status=400)
            return self.json({"count": len(events), "events": events})

    @app.page("/odds/events/{sportradar_id}")
    class EventDetail(View):
        async def get(self, request: Request, sportradar_id: str) -> Response:
            values, conf = _snapshot()
            detail = event_detail(sportradar_id, values, conf, utc_now())
            if detail is None:
                return self.json({"error": f"unknown event {sportradar_id}"}, status=404)
            return self.json(detail)
