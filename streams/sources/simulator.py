"""A fake BetPawa v4 API over a generated ``World``, for tests and local runs (no network beyond loopback).

It mimics what the real API is known to do (bookmakers.md §1): ``x-pawa-brand`` is required (403
otherwise), a client that does not ask for ``application/json`` gets protobuf bytes, an
``events/lists/by-queries`` query lacking ``zones``/``view``/``skip``/``take`` is a 400, ``take`` is
capped at 100, unknown event ids are 404, and event details use the v4 shape of the real capture
(defaults omitted, ``odds``, ``row.handicap`` = line x 4, SPORTRADAR widget twice).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import structlog
from aiohttp import web

from streams.clock import require_aware, utc_now
from streams.sources.betpawa import EVENT_PATH, LIST_PATH, LIST_TAKE
from streams.sources.world import World, WorldEvent, WorldMarket, build_world, fair_total

__all__ = [
    "PROTOBUF_CONTENT_TYPE",
    "RunningSimulator",
    "TickingWorld",
    "create_betpawa_app",
    "render_event",
    "render_list_item",
    "run_simulator",
]

PROTOBUF_CONTENT_TYPE: Final = "application/x-protobuf;charset=UTF-8"
WorldProvider = Callable[[], World]
WORLD_KEY: Final[web.AppKey[WorldProvider]] = web.AppKey("world_provider")

log = structlog.get_logger(__name__)


class TickingWorld:
    """The current world: one ``World.tick`` every ``tick_s`` seconds of ``clock`` (monotonic).

    Advanced lazily when asked, so there is no background task; ``advance`` forces steps.
    """

    def __init__(self, world: World, *, tick_s: float = 60.0, clock: Callable[[], float] = time.monotonic):
        if tick_s <= 0:
            raise ValueError("tick_s must be > 0")
        self._world = world
        self._tick_s = tick_s
        self._clock = clock
        self._started = clock()
        self._forced = 0

    def __call__(self) -> World:
        return self.current()

    def current(self) -> World:
        due = math.floor((self._clock() - self._started) / self._tick_s) + self._forced
        while self._world.step < due:
            self._world = self._world.tick(self._world.step + 1)
        return self._world

    def advance(self, steps: int = 1) -> World:
        self._forced += steps
        return self.current()


# --------------------------------------------------------------------------------------------------
# rendering (v4 shape)
# --------------------------------------------------------------------------------------------------


def _widgets(event: WorldEvent) -> list[dict[str, Any]]:
    return [
        {"id": event.sportradar_id, "type": "SPORTRADAR", "retention": "PREMATCH"},
        {"id": event.genius_id, "type": "GENIUSSPORTS"},
        {"id": event.sportradar_id, "type": "SPORTRADAR", "retention": "INPLAY"},
    ]


def _participants(event: WorldEvent) -> list[dict[str, Any]]:
    return [
        {"id": event.home_id, "name": event.home_team, "position": 1},
        {"id": event.away_id, "name": event.away_team, "position": 2},
    ]


def render_list_item(event: WorldEvent) -> dict[str, Any]:
    """One event summary of ``events/lists/by-queries``."""
    return {
        "id": event.betpawa_id,
        "name": f"{event.home_team} - {event.away_team}",
        "startTime": _wire_ts(event.kickoff_at),
        "widgets": _widgets(event)[:1],
        "participants": _participants(event),
        "competition": {"id": event.competition_id, "name": event.tournament},
        "region": {"id": event.region_id, "name": event.region},
    }


def _wire_ts(value: datetime) -> str:
    return require_aware(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def _fmt_line(value: float) -> str:
    return f"{value:g}"


def _signed(value: float) -> str:
    return f"{value:+g}"


def _rows(ids: _Ids, group: list[WorldMarket]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for market in group:
        quote, spec = market.quote, market.spec
        overround = sum(1 / o.price for o in quote.outcomes if o.price) or 1.0
        scale = fair_total(spec.market_id) / overround
        prices: list[dict[str, Any]] = []
        for i, outcome in enumerate(quote.outcomes):
            price: dict[str, Any] = {
                "id": ids.next_price(),
                "name": outcome.name,
                "typeId": str(int(spec.market_id) + 1 + i),
                "odds": 0.0 if outcome.suspended or outcome.price is None else outcome.price,
            }
            if outcome.suspended:
                price["suspended"] = True
            if spec.line is not None:
                if spec.handicap_type == "ASIAN":
                    price["handicap"] = _signed(spec.line if outcome.name == "1" else -spec.line)
                    price["displayName"] = "{formattedHandicap}"
                else:
                    price["handicap"] = _fmt_line(spec.line)
                    price["displayName"] = f"{outcome.name} {{formattedHandicap}}"
            else:
                price["displayName"] = outcome.name
            price["additionalInfo"] = {"anyUp": "NO_UP"}
            win = (1 / outcome.price) * scale if outcome.price else 0.5
            price["probability"] = {"win": round(win, 6), "refund": 0.0}
            if spec.handicap_type == "ASIAN":
                price["specifier"] = {"hcp": price["handicap"]}
            prices.append(price)
        if spec.kind == "htft":  # three display rows of three, no id / handicap (as captured)
            rows.extend({"prices": prices[start : start + 3]} for start in range(0, len(prices), 3))
            continue
        row: dict[str, Any] = {"id": ids.next_row()}
        if spec.line is not None:
            row["handicap"] = round(spec.line * 4)
        row["prices"] = prices
        if spec.line is not None:
            key = "hcp" if spec.handicap_type == "ASIAN" else "total"
            row["specifier"] = {key: _fmt_line(spec.line)}
        rows.append(row)
    return rows


class _Ids:
    """Deterministic row and price ids, unique within one event (and across events)."""

    def __init__(self, event_id: str) -> None:
        self._base = int(event_id) * 1000
        self._row = 0
        self._price = 0

    def next_row(self) -> str:
        self._row += 1
        return str(self._base + self._row)

    def next_price(self) -> str:
        self._price += 1
        return str(10 * self._base + self._price)


def render_event(event: WorldEvent, *, version: int = 1) -> dict[str, Any]:
    """The v4 event detail (``GET /api/sportsbook/v4/events/{id}``) of one world event."""
    ids = _Ids(event.betpawa_id)
    groups: list[list[WorldMarket]] = []
    for market in event.markets:  # consecutive entries of one market type = one market, one row per line
        if groups and groups[-1][0].spec.market_id == market.spec.market_id:
            groups[-1].append(market)
        else:
            groups.append([market])
    markets: list[dict[str, Any]] = []
    for priority, group in enumerate(groups, start=1):
        spec = group[0].spec
        market_type: dict[str, Any] = {
            "id": spec.market_id,
            "name": spec.name,
            "displayName": spec.display_name,
            "explainer": f"{spec.display_name}.",
            "priority": priority,
            "tabs": list(spec.tabs),
        }
        if spec.handicap_type:
            market_type["handicapType"] = spec.handicap_type
        markets.append(
            {
                "marketType": market_type,
                "row": _rows(ids, group),
                "additionalInfo": {"cashoutable": True},
            }
        )
    return {
        "id": event.betpawa_id,
        "name": f"{event.home_team} - {event.away_team}",
        "widgets": _widgets(event),
        "participants": _participants(event),
        "startTime": _wire_ts(event.kickoff_at),
        "markets": markets,
        "totalMarketCount": str(len(markets) + 40),
        "category": {"id": "2", "name": "Football"},
        "region": {"id": event.region_id, "name": event.region},
        "competition": {"id": event.competition_id, "name": event.tournament},
        "additionalInfo": {"inplayBooked": True, "inplayBookedActual": True},
        "version": str(version),
        "marketCounters": {
            "totalMarketGroupCount": str(len(markets)),
            "marketGroupCountByTab": {"all": str(len(markets))},
        },
    }


# --------------------------------------------------------------------------------------------------
# the app
# --------------------------------------------------------------------------------------------------


def _protobuf_garbage() -> web.Response:
    return web.Response(
        body=b"\x0a\x02\x08\x01\x12\x00\x1a\x04\x08\x96\x01\x10",
        content_type=None,
        headers={"content-type": PROTOBUF_CONTENT_TYPE},
    )


@web.middleware
async def _gatekeeper(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    if not request.headers.get("x-pawa-brand"):
        return web.Response(status=403, text="Forbidden", content_type="text/html")
    response: web.StreamResponse = await handler(request)
    return response


def _wants_json(request: web.Request) -> bool:
    return "application/json" in request.headers.get("accept", "").lower()


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": "BAD_REQUEST", "message": message}, status=400)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


async def _list_events(request: web.Request) -> web.Response:
    try:
        q = json.loads(request.query.get("q", ""))
        query = q["queries"][0]
        inner = query["query"]
    except (ValueError, KeyError, IndexError, TypeError):
        return _bad_request("q must be a JSON object with queries[0].query")
    if not isinstance(query, dict) or not isinstance(inner, dict):
        return _bad_request("queries[0] must be an object")
    missing = [k for k in ("view", "skip", "take") if k not in query]
    if "zones" not in inner:
        missing.insert(0, "zones")
    if missing:
        return _bad_request(f"missing {', '.join(missing)}")
    skip, take, zones = query["skip"], query["take"], inner["zones"]
    if not (_is_int(skip) and _is_int(take)) or skip < 0 or take < 1 or not isinstance(zones, dict):
        return _bad_request("bad skip/take/zones")
    if not _wants_json(request):
        return _protobuf_garbage()
    take = min(take, LIST_TAKE)
    world = request.app[WORLD_KEY]()
    events = list(world.events) if inner.get("eventType", "UPCOMING") == "UPCOMING" else []
    competitions = zones.get("competitions")
    if isinstance(competitions, list):
        wanted = {str(c) for c in competitions}
        events = [e for e in events if e.competition_id in wanted]
    page = [render_list_item(e) for e in events[skip : skip + take]]
    return web.json_response({"responses": [{"responses": page}]})


async def _event_detail(request: web.Request) -> web.Response:
    if not _wants_json(request):
        return _protobuf_garbage()
    world = request.app[WORLD_KEY]()
    event_id = request.match_info["event_id"]
    event = world.by_id.get(event_id)
    if event is None:
        return web.json_response({"error": "NOT_FOUND", "message": f"event {event_id} not found"}, status=404)
    return web.json_response(render_event(event, version=world.step + 1))


def create_betpawa_app(world_provider: Callable[[], World]) -> web.Application:
    """An aiohttp app serving the BetPawa v4 endpoints over ``world_provider()`` (called per request)."""
    app = web.Application(middlewares=[_gatekeeper])
    app[WORLD_KEY] = world_provider
    app.router.add_get(LIST_PATH, _list_events)
    app.router.add_get(EVENT_PATH.replace("{event_id}", "{event_id:[0-9]+}"), _event_detail)
    return app


@dataclass
class RunningSimulator:
    url: str
    world: TickingWorld
    runner: web.AppRunner

    async def stop(self) -> None:
        await self.runner.cleanup()


async def run_simulator(
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    n_events: int = 1300,
    tick_s: float = 60.0,
    seed: int = 7,
    now: datetime | None = None,
) -> RunningSimulator:
    """Start the BetPawa simulator on ``host:port`` (0 = a free port); ``stop()`` shuts it down."""
    world = TickingWorld(build_world(seed, n_events, now=now or utc_now()), tick_s=tick_s)
    runner = web.AppRunner(create_betpawa_app(world), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound_port = port or int(runner.addresses[0][1])  # port 0: the ephemeral port actually bound
    url = f"http://{host}:{bound_port}"
    log.info("betpawa.simulator.started", url=url, n_events=n_events, tick_s=tick_s)
    return RunningSimulator(url=url, world=world, runner=runner)
