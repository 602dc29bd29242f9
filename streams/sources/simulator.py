"""Fake BetPawa, SportyBet and Bet9ja APIs over one generated world, for tests, benchmarks and local runs.

All three answer on one port (their paths do not overlap); the competitors' views of the world are
rendered by ``books.py``. Each request waits a latency drawn from its bookmaker's distribution and
may meet a fault switched on by ``Faults``; ``GET /_simulator/stats`` says what was served.

BetPawa's v4 API:

It mimics what the real API is known to do (bookmakers.md §1): ``x-pawa-brand`` is required (403
otherwise), a client that does not ask for ``application/json`` gets protobuf bytes, an
``events/lists/by-queries`` query lacking ``zones``/``view``/``skip``/``take`` is a 400, ``take`` is
capped at 100, unknown event ids are 404, and event details use the v4 shape of the real capture
(defaults omitted, ``odds``, ``row.handicap`` = line x 4, SPORTRADAR widget twice), each price
with the world's fair ``probability: {"win": ..., "refund": ...}``.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

import structlog
from aiohttp import web

from streams.clock import require_aware, utc_now
from streams.sources.bet9ja import EVENT_PATH as B9_EVENT_PATH
from streams.sources.bet9ja import EVENTS_PATH as B9_EVENTS_PATH
from streams.sources.bet9ja import SPORTS_PATH as B9_SPORTS_PATH
from streams.sources.betpawa import EVENT_PATH, LIST_PATH, LIST_TAKE
from streams.sources.books import (
    EXTRA_SHARE,
    BookView,
    render_bet9ja_event,
    render_bet9ja_group,
    render_bet9ja_sports,
    render_sportybet_event,
    render_sportybet_events,
    render_sportybet_tournaments,
    unit,
)
from streams.sources.sportybet import EVENT_PATH as SB_EVENT_PATH
from streams.sources.sportybet import EVENTS_PATH as SB_EVENTS_PATH
from streams.sources.sportybet import TOURNAMENTS_PATH as SB_TOURNAMENTS_PATH
from streams.sources.world import World, WorldEvent, WorldMarket, build_world

__all__ = [
    "DEFAULT_LATENCY",
    "NO_LATENCY",
    "PROTOBUF_CONTENT_TYPE",
    "Faults",
    "Latency",
    "RunningSimulator",
    "SimulatedBooks",
    "TickingWorld",
    "create_betpawa_app",
    "create_simulator_app",
    "parse_faults",
    "parse_latency",
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
            if outcome.probability is not None:
                price["probability"] = {"win": outcome.probability, "refund": outcome.refund_probability or 0.0}
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


# --------------------------------------------------------------------------------------------------
# the three bookmakers on one port: latency, faults, header checks, stats
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Latency:
    """A log-normal per-request latency, given by its median and 95th percentile (ms)."""

    median_ms: float
    p95_ms: float

    def draw_s(self, rng: random.Random) -> float:
        if self.median_ms <= 0:
            return 0.0
        sigma = math.log(max(self.p95_ms, self.median_ms) / self.median_ms) / 1.645
        return self.median_ms * math.exp(sigma * rng.gauss(0.0, 1.0)) / 1000


# figures.md §3, sequential detail latency of the reference: avg (~median) and p95
DEFAULT_LATENCY: Final[Mapping[str, Latency]] = {
    "betpawa": Latency(380, 517),
    "sportybet": Latency(589, 979),
    "bet9ja": Latency(641, 841),
}
NO_LATENCY: Final[Mapping[str, Latency]] = {bm: Latency(0, 0) for bm in DEFAULT_LATENCY}


def parse_latency(spec: str) -> dict[str, Latency]:
    """``ODDSTREAM_SIMULATOR_LATENCY``: ``default``, ``0`` (none) or ``bm=median[:p95],...`` in ms.

    Bookmakers not named keep their default.
    """
    text = spec.strip().lower()
    if text in ("", "default"):
        return dict(DEFAULT_LATENCY)
    if text in ("0", "off", "none"):
        return dict(NO_LATENCY)
    out = dict(DEFAULT_LATENCY)
    for part in text.split(","):
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULT_LATENCY:
            raise ValueError(f"latency part {part!r}: expected <betpawa|sportybet|bet9ja>=median_ms[:p95_ms]")
        median, _, p95 = value.partition(":")
        try:
            m = float(median)
            out[name] = Latency(m, float(p95) if p95 else m)
        except ValueError as exc:
            raise ValueError(f"latency part {part!r}: not a number") from exc
        if m < 0 or out[name].p95_ms < m:
            raise ValueError(f"latency part {part!r}: need 0 <= median <= p95")
    return out


@dataclass(frozen=True, slots=True)
class Faults:
    """Switchable faults, as the probability of each per request (decided by seed, never by chance).

    ``timeout``, ``server_error`` (5xx) hit every endpoint and are what clients retry; ``malformed``
    (truncated JSON) and ``missing`` (a required field removed) hit event details only.
    ``bet9ja_limit``: Bet9ja answers 403 while more than this many requests are in flight (0: off).
    """

    timeout: float = 0.0
    server_error: float = 0.0
    malformed: float = 0.0
    missing: float = 0.0
    bet9ja_limit: int = 15
    hang_s: float = 30.0

    @property
    def any(self) -> bool:
        return self.timeout + self.server_error + self.malformed + self.missing > 0


_FAULT_KEYS: Final = {"timeout": "timeout", "5xx": "server_error", "malformed": "malformed", "missing": "missing"}


def parse_faults(spec: str) -> Faults:
    """``ODDSTREAM_SIMULATOR_FAULTS``, e.g. ``timeout=0.02,5xx=0.03,malformed=0.01,missing=0.01``.

    Also ``bet9ja_limit=N`` (default 15; 0 = off) and ``hang_s=S`` (how long a timeout hangs, 30).
    """
    values: dict[str, Any] = {}
    for part in (p for p in spec.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        try:
            number = float(value)
        except ValueError as exc:
            raise ValueError(f"fault {part!r}: not a number") from exc
        if not sep or number < 0:
            raise ValueError(f"fault {part!r}: expected name=value >= 0")
        if name in _FAULT_KEYS:
            if number > 1:
                raise ValueError(f"fault {part!r}: a probability is at most 1")
            values[_FAULT_KEYS[name]] = number
        elif name == "bet9ja_limit":
            values["bet9ja_limit"] = int(number)
        elif name == "hang_s":
            values["hang_s"] = number
        else:
            raise ValueError(f"unknown fault {name!r} (timeout, 5xx, malformed, missing, bet9ja_limit, hang_s)")
    faults = Faults(**values)
    if faults.timeout + faults.server_error + faults.malformed + faults.missing > 1:
        raise ValueError("fault probabilities add up to more than 1")
    return faults


class SimulatedBooks:
    """The current state of all three bookmakers: BetPawa's ticking world, the competitors' extra one."""

    def __init__(self, seed: int, n_events: int, *, tick_s: float, now: datetime) -> None:
        self.seed = seed
        self.world = TickingWorld(build_world(seed, n_events, now=now), tick_s=tick_s)
        n_extra = round(n_events * EXTRA_SHARE)
        self.extra = TickingWorld(build_world(seed + 1_000_003, n_extra, now=now), tick_s=tick_s)
        self._view: BookView | None = None

    def advance(self, steps: int = 1) -> None:
        self.world.advance(steps)
        self.extra.advance(steps)

    def view(self) -> BookView:
        main = self.world.current()
        extra = self.extra.current()
        if self._view is None or self._view.main is not main or self._view.extra is not extra:
            taken = {e.sportradar_id for e in main.events}
            if any(e.sportradar_id in taken for e in extra.events):
                extra = World(
                    seed=extra.seed,
                    step=extra.step,
                    now=extra.now,
                    events=tuple(e for e in extra.events if e.sportradar_id not in taken),
                )
            self._view = BookView(self.seed, main, extra)
        return self._view


BOOKS_KEY: Final[web.AppKey[SimulatedBooks]] = web.AppKey("books")
STATE_KEY: Final[web.AppKey[_ServerState]] = web.AppKey("state")
STATS_PATH: Final = "/_simulator/stats"


@dataclass
class _BookStats:
    requests: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    throttled: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    served_events: set[str] = field(default_factory=set)  # detail ids answered with a usable event
    failed_events: dict[str, str] = field(default_factory=dict)  # detail id -> fault that reached the client

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "max_in_flight": self.max_in_flight,
            "throttled": self.throttled,
            "faults": dict(self.faults),
            "served_events": sorted(self.served_events),
            "failed_events": dict(self.failed_events),
        }


class _ServerState:
    def __init__(self, seed: int, latency: Mapping[str, Latency], faults: Faults) -> None:
        self.seed = seed
        self.latency = dict(latency)
        self.faults = faults
        self.rng = {bm: random.Random(f"oddstream-latency:{seed}:{bm}") for bm in DEFAULT_LATENCY}
        self.attempts: dict[tuple[str, str], int] = {}
        self.stats = {bm: _BookStats() for bm in DEFAULT_LATENCY}

    def fault(self, bm: str, key: str, detail: bool) -> str | None:
        """The fault of this request (by seed and attempt number of ``key``), or None."""
        if not self.faults.any:
            return None
        attempt = self.attempts[(bm, key)] = self.attempts.get((bm, key), 0) + 1
        u = unit(self.seed, "fault", bm, key, attempt)
        f = self.faults
        for name, p in (("timeout", f.timeout), ("5xx", f.server_error)):
            if u < p:
                return name
            u -= p
        if detail:
            for name, p in (("malformed", f.malformed), ("missing", f.missing)):
                if u < p:
                    return name
                u -= p
        return None


_PREFIXES: Final = (
    ("/api/sportsbook/", "betpawa"),
    ("/api/ng/", "sportybet"),
    ("/desktop/feapi/", "bet9ja"),
)
_DETAIL_PATHS: Final = (EVENT_PATH.split("{")[0], SB_EVENT_PATH, B9_EVENT_PATH)
_AKAMAI_403: Final = (
    "<HTML><HEAD>\n<TITLE>Access Denied</TITLE>\n</HEAD><BODY>\nReference #18.deadbeef\n</BODY></HTML>\n"
)


def _bookmaker_of(path: str) -> str | None:
    for prefix, bm in _PREFIXES:
        if path.startswith(prefix):
            return bm
    return None


def _request_key(request: web.Request) -> tuple[str, bool]:
    """(fault key, is an event detail): the event id for details, else the path and query."""
    q = request.query
    path = request.path
    if path.startswith(_DETAIL_PATHS[0]) and path.rstrip("/").split("/")[-1].isdigit():
        return f"event:{path.rstrip('/').split('/')[-1]}", True
    if path == SB_EVENT_PATH:
        return f"event:{q.get('eventId', '')}", True
    if path == B9_EVENT_PATH:
        return f"event:{q.get('EVENTID', '')}", True
    stable = "&".join(f"{k}={v}" for k, v in sorted(q.items()) if k != "_t")
    return f"{path}?{stable}", False


def _headers_refused(bm: str, request: web.Request) -> web.Response | None:
    headers = request.headers
    if bm == "betpawa" and not headers.get("x-pawa-brand"):
        return web.Response(status=403, text="Forbidden", content_type="text/html")
    if bm == "sportybet" and not (headers.get("clientid") and headers.get("operid")):
        return web.json_response({"bizCode": 19000, "message": "clientid and operid are required", "data": None})
    if bm == "bet9ja" and not headers.get("user-agent", "").startswith("Mozilla/"):
        return web.Response(status=403, text=_AKAMAI_403, content_type="text/html")
    return None


def _damaged(bm: str, fault: str, payload: Any) -> bytes:
    """The bytes of ``payload`` with ``fault`` applied (``malformed`` or ``missing``)."""
    if fault == "malformed":
        raw = json.dumps(payload, separators=(",", ":")).encode()
        return raw[: max(1, len(raw) // 2)]
    if bm == "betpawa":
        payload = {k: v for k, v in payload.items() if k != "participants"}
    elif bm == "sportybet":
        payload = {**payload, "data": {k: v for k, v in payload["data"].items() if k != "homeTeamName"}}
    else:
        payload = {**payload, "D": {k: v for k, v in payload["D"].items() if k != "DS"}}
    return json.dumps(payload, separators=(",", ":")).encode()


@web.middleware
async def _bookmaker_gate(request: web.Request, handler: Callable[[web.Request], Any]) -> web.StreamResponse:
    bm = _bookmaker_of(request.path)
    state = request.app[STATE_KEY]
    if bm is None:
        response: web.StreamResponse = await handler(request)
        return response
    stats = state.stats[bm]
    stats.requests += 1
    stats.in_flight += 1
    stats.max_in_flight = max(stats.max_in_flight, stats.in_flight)
    try:
        if bm == "bet9ja" and 0 < state.faults.bet9ja_limit < stats.in_flight:
            stats.throttled += 1
            return web.Response(status=403, text=_AKAMAI_403, content_type="text/html")
        refused = _headers_refused(bm, request)
        if refused is not None:
            return refused
        key, detail = _request_key(request)
        fault = state.fault(bm, key, detail)
        delay = state.latency[bm].draw_s(state.rng[bm])
        if fault is not None:
            stats.faults[fault] = stats.faults.get(fault, 0) + 1
        if fault == "timeout":
            await asyncio.sleep(state.faults.hang_s)
            return web.Response(status=504, text="upstream timeout")
        if delay > 0:
            await asyncio.sleep(delay)
        if fault == "5xx":
            return web.Response(status=503, text="Service Unavailable", content_type="text/html")
        response = await handler(request)
        if detail and isinstance(response, web.Response) and response.status == 200 and response.body is not None:
            event_key = key.removeprefix("event:")
            if fault in ("malformed", "missing"):
                payload = json.loads(bytes(response.body))  # type: ignore[arg-type]
                stats.failed_events[event_key] = fault
                return web.Response(body=_damaged(bm, fault, payload), content_type="application/json")
            stats.served_events.add(event_key)
        return response
    finally:
        stats.in_flight -= 1


# -- SportyBet handlers ---------------------------------------------------------------------------


def _sb_error(message: str) -> web.Response:
    return web.json_response({"bizCode": 4000, "message": message, "data": None})


async def _sb_tournaments(request: web.Request) -> web.Response:
    if request.query.get("sportId", "sr:sport:1") != "sr:sport:1" or "productId" not in request.query:
        return _sb_error("sportId sr:sport:1 and productId are required")
    return web.json_response(render_sportybet_tournaments(request.app[BOOKS_KEY].view().listings["sportybet"]))


async def _sb_events(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        tournament = body[0]["tournamentId"][0][0]
    except (ValueError, KeyError, IndexError, TypeError):
        return _sb_error("body must be [{sportId, marketId, tournamentId: [[id]]}]")
    view = request.app[BOOKS_KEY].view()
    return web.json_response(render_sportybet_events(view.seed, view.listings["sportybet"], str(tournament), view.step))


async def _sb_event(request: web.Request) -> web.Response:
    event_id = request.query.get("eventId", "")
    if not event_id.startswith("sr:match:") or request.query.get("productId") != "3":
        return _sb_error("eventId must be sr:match:<n> and productId 3")
    view = request.app[BOOKS_KEY].view()
    listing = view.by_id["sportybet"].get(event_id)
    if listing is None:
        return web.json_response({"bizCode": 19999, "message": "event not found", "data": None})
    return web.json_response(render_sportybet_event(view.seed, listing.event, view.step))


# -- Bet9ja handlers ------------------------------------------------------------------------------


async def _b9_sports(request: web.Request) -> web.Response:
    return web.json_response(render_bet9ja_sports(request.app[BOOKS_KEY].view().listings["bet9ja"]))


async def _b9_group(request: web.Request) -> web.Response:
    view = request.app[BOOKS_KEY].view()
    group = request.query.get("GROUPID", "")
    return web.json_response(render_bet9ja_group(view.seed, view.listings["bet9ja"], group, view.step))


async def _b9_event(request: web.Request) -> web.Response:
    view = request.app[BOOKS_KEY].view()
    listing = view.by_id["bet9ja"].get(request.query.get("EVENTID", ""))
    if listing is None:
        return web.json_response({"R": "E", "D": None})
    return web.json_response(render_bet9ja_event(view.seed, listing, view.step))


async def _stats(request: web.Request) -> web.Response:
    state = request.app[STATE_KEY]
    view = request.app[BOOKS_KEY].view()
    listed = {
        "betpawa": len(view.main.events),
        **{bm: len(ls) for bm, ls in view.listings.items()},
    }
    return web.json_response(
        {
            "step": view.step,
            "listed": listed,
            "bookmakers": {bm: s.to_json() for bm, s in state.stats.items()},
        }
    )


def create_simulator_app(
    books: SimulatedBooks,
    *,
    latency: Mapping[str, Latency] = NO_LATENCY,
    faults: Faults | None = None,
) -> web.Application:
    """One aiohttp app answering the BetPawa, SportyBet and Bet9ja APIs (their paths do not overlap)."""
    app = web.Application(middlewares=[_bookmaker_gate])
    provider: WorldProvider = books.world
    app[WORLD_KEY] = provider
    app[BOOKS_KEY] = books
    app[STATE_KEY] = _ServerState(books.seed, latency, faults or Faults())
    app.router.add_get(LIST_PATH, _list_events)
    app.router.add_get(EVENT_PATH.replace("{event_id}", "{event_id:[0-9]+}"), _event_detail)
    app.router.add_get(SB_TOURNAMENTS_PATH, _sb_tournaments)
    app.router.add_post(SB_EVENTS_PATH, _sb_events)
    app.router.add_get(SB_EVENT_PATH, _sb_event)
    app.router.add_get(B9_SPORTS_PATH, _b9_sports)
    app.router.add_get(B9_EVENTS_PATH, _b9_group)
    app.router.add_get(B9_EVENT_PATH, _b9_event)
    app.router.add_get(STATS_PATH, _stats)
    return app


@dataclass
class RunningSimulator:
    url: str
    world: TickingWorld
    runner: web.AppRunner
    books: SimulatedBooks

    @property
    def urls(self) -> dict[str, str]:
        """The base URL of each bookmaker (all three answer on the same port)."""
        return {bm: self.url for bm in DEFAULT_LATENCY}

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
    latency: Mapping[str, Latency] = NO_LATENCY,
    faults: Faults | None = None,
) -> RunningSimulator:
    """Start the three simulated bookmakers on ``host:port`` (0 = a free port); ``stop()`` shuts them down."""
    books = SimulatedBooks(seed, n_events, tick_s=tick_s, now=now or utc_now())
    app = create_simulator_app(books, latency=latency, faults=faults)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, backlog=1024)
    await site.start()
    bound_port = port or int(runner.addresses[0][1])  # port 0: the ephemeral port actually bound
    url = f"http://{host}:{bound_port}"
    log.info(
        "simulator.started",
        url=url,
        n_events=n_events,
        tick_s=tick_s,
        seed=seed,
        latency_ms={bm: lat.median_ms for bm, lat in latency.items()},
        faults=str(faults or Faults()),
    )
    return RunningSimulator(url=url, world=books.world, runner=runner, books=books)
