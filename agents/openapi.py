"""``GET /openapi.json``: an OpenAPI 3.1 document of every route the worker serves.

The document is data: one operation per (path, method), its parameters, body, answers and errors,
with the answers' JSON Schemas (2020-12, as OpenAPI 3.1 has them) under ``components``. Objects are
open (new fields may appear); what a client relies on is required. ``tests/integration/test_http_api.py``
checks the document is valid, that it names exactly the routes the composition root mounted, and
that live answers of every route match their schemas.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from faust.web import Request, Response, View

from agents.dashboard import ASSETS
from streams.events import TRIGGERS
from streams.sources.registry import NAMES

__all__ = ["OPERATIONS", "document", "openapi"]

JSON: Final = "application/json"

# -- schema helpers ---------------------------------------------------------------------------------


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _obj(required: Iterable[str] = (), **props: Any) -> dict[str, Any]:
    return {"type": "object", "required": list(required), "properties": props}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _map(values: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "additionalProperties": values}


STR: Final = {"type": "string"}
INT: Final = {"type": "integer"}
NUM: Final = {"type": "number"}
BOOL: Final = {"type": "boolean"}
TS: Final = {"type": "string", "format": "date-time"}
TS_OR_NULL: Final = _nullable(TS)
NUM_OR_NULL: Final = _nullable(NUM)
BOOKMAKER: Final = {"type": "string", "enum": list(NAMES)}

PARTIAL: Final = _obj(["workers_not_answering"], workers_not_answering={"type": "array", "items": STR})

SCHEMAS: Final[dict[str, Any]] = {
    "Error": _obj(["error"], error=STR),
    "Health": _obj(
        ["status", "worker", "partitions", "ready", "checked_at"],
        status={"enum": ["ok", "down"]},
        broker=STR,
        app_id=STR,
        worker=STR,
        partitions={"type": "array", "items": INT},
        ready=BOOL,
        checked_at=TS,
        down=_map(STR),
    ),
    "Outcome": _obj(["name", "price"], name=STR, price=NUM_OR_NULL),
    "FeaturedQuote": _nullable(
        _obj(["prices", "margin", "last_changed_at"], prices=_map(NUM_OR_NULL), margin=NUM_OR_NULL, last_changed_at=TS)
    ),
    "EventSummary": _obj(
        ["sportradar_id", "home_team", "away_team", "tournament", "country", "kickoff_at", "bookmakers"],
        sportradar_id=STR,
        home_team=STR,
        away_team=STR,
        tournament=STR,
        country=_nullable(STR),
        kickoff_at=TS,
        bookmakers=_map(
            _obj(
                ["markets", "observed_at", "age_s"],
                markets=_map(_ref("FeaturedQuote")),
                observed_at=TS_OR_NULL,
                age_s=NUM_OR_NULL,
            )
        ),
    ),
    "EventList": _obj(
        ["count", "page", "page_size", "events", "facets"],
        count={"type": "integer", "description": "every event matching the filters, on all pages"},
        page=INT,
        page_size=INT,
        events={"type": "array", "items": _ref("EventSummary")},
        facets=_obj(
            ["countries", "tournaments"],
            countries={"type": "array", "items": _obj(["country", "events"], country=_nullable(STR), events=INT)},
            tournaments={
                "type": "array",
                "items": _obj(["country", "tournament", "events"], country=_nullable(STR), tournament=STR, events=INT),
            },
        ),
        partial=PARTIAL,
    ),
    "SummaryCard": _obj(["markets", "outcomes", "best_or_tied", "best_share", "margin_gap"]),
    "Freshness": _obj(["observed_at", "age_s"], observed_at=TS_OR_NULL, age_s=NUM_OR_NULL),
    "MarketQuote": _obj(
        ["outcomes", "margin", "observed_at", "last_changed_at"],
        outcomes={"type": "array", "items": _ref("Outcome")},
        margin=NUM_OR_NULL,
        fair=_nullable({"type": "object"}),
        observed_at=TS_OR_NULL,
        last_changed_at=TS,
        unavailable_since=TS_OR_NULL,
    ),
    "Market": _obj(
        ["market_id", "market_name", "name", "group", "line", "bookmakers", "best", "unavailable_since"],
        market_id=STR,
        market_name=STR,
        name={"type": "string", "description": "the display name"},
        group={"enum": ["popular", "goals", "handicaps", "halves", "combos", "corners", "cards", "other"]},
        unavailable_since={**TS_OR_NULL, "description": "set once no bookmaker offers the market"},
        line=NUM_OR_NULL,
        bookmakers=_map(_ref("MarketQuote")),
        best=_map(_obj(["price", "bookmakers"], price=NUM, bookmakers={"type": "array", "items": BOOKMAKER})),
        betpawa_vs_best_competitor=_nullable({"type": "object"}),
        fair=_nullable({"type": "object"}),
    ),
    "EventDetail": _obj(
        ["sportradar_id", "home_team", "away_team", "tournament", "kickoff_at", "bookmakers", "markets", "summary"],
        sportradar_id=STR,
        home_team=STR,
        away_team=STR,
        tournament=STR,
        country=_nullable(STR),
        kickoff_at=TS,
        bookmakers=_map(_ref("Freshness")),
        groups={"type": "array", "items": STR},
        markets={"type": "array", "items": _ref("Market")},
        summary=_obj(["all", "groups"], all=_ref("SummaryCard"), groups=_map(_ref("SummaryCard"))),
        at=TS,
    ),
    "HistoryPoint": _obj(["at", "price"], at=TS, price=NUM_OR_NULL),
    "MarginPoint": _obj(["at", "margin"], at=TS, margin=NUM_OR_NULL),
    "History": _obj(
        ["sportradar_id", "market_id", "line", "series", "margins"],
        sportradar_id=STR,
        market_id=STR,
        line=NUM_OR_NULL,
        series={
            "type": "array",
            "items": _obj(
                ["bookmaker", "outcome", "points", "confirmed_until"],
                bookmaker=BOOKMAKER,
                outcome=STR,
                points={"type": "array", "items": _ref("HistoryPoint")},
                confirmed_until=TS,
            ),
        },
        margins={
            "type": "array",
            "items": _obj(
                ["bookmaker", "points"], bookmaker=BOOKMAKER, points={"type": "array", "items": _ref("MarginPoint")}
            ),
        },
    ),
    "HistoryMarkets": _obj(
        ["sportradar_id", "count", "markets"],
        sportradar_id=STR,
        count=INT,
        markets={
            "type": "array",
            "items": _obj(
                ["market_id", "line", "bookmakers", "changes", "first_at", "last_at"],
                market_id=STR,
                line=NUM_OR_NULL,
                bookmakers={"type": "array", "items": BOOKMAKER},
                changes=INT,
                first_at=TS,
                last_at=TS,
            ),
        },
    ),
    "BookCounts": _map(INT),
    "Run": _obj(
        ["run_id", "status", "trigger", "bookmakers", "events", "requested_at", "errors", "per_bookmaker"],
        run_id=STR,
        status={"enum": ["requested", "running", "completed", "failed", "stale"]},
        trigger=_nullable({"enum": list(TRIGGERS)}),
        bookmakers={"type": "array", "items": STR},
        events={"type": "array", "items": STR},
        requested_at=TS_OR_NULL,
        started_at=TS_OR_NULL,
        last_heartbeat_at=TS_OR_NULL,
        finished_at=TS_OR_NULL,
        stale_detected_at=TS_OR_NULL,
        observed=INT,
        failed=INT,
        errors={"type": "array", "items": STR},
        retry_of=_nullable(STR),
        coalesced_into=_nullable(STR),
        per_bookmaker=_map(_ref("BookCounts")),
        duration_s=NUM_OR_NULL,
    ),
    "RunInList": {
        "allOf": [_ref("Run"), _obj(["heartbeats"], heartbeats={"type": "integer", "description": "how many"})]
    },
    "RunDetail": {
        "allOf": [_ref("Run"), _obj(["heartbeats"], heartbeats={"type": "array", "items": {"type": "object"}})]
    },
    "RunList": _obj(["count", "runs"], count=INT, runs={"type": "array", "items": _ref("RunInList")}, partial=PARTIAL),
    "RunStats": _obj(
        ["days", "since", "runs_by_status", "bookmakers"],
        days=INT,
        since=TS,
        runs_by_status=_map(INT),
        bookmakers=_map(
            _obj(
                ["runs", "succeeded", "success_rate", "median_s", "p90_s"],
                runs=INT,
                succeeded=INT,
                success_rate=NUM,
                median_s=NUM_OR_NULL,
                p90_s=NUM_OR_NULL,
            )
        ),
        partial=PARTIAL,
    ),
    "ScrapeBody": {
        **_obj(
            (),
            bookmakers={"type": "array", "items": BOOKMAKER},
            events={"type": "array", "items": STR, "description": "SportRadar ids"},
        ),
        "additionalProperties": False,
    },
    "Accepted": _obj(["run_id"], run_id=STR, retry_of=STR),
    "Schedule": _obj(
        ["paused", "interval_s", "next_run_at", "changed_at", "changed_by"],
        paused=BOOL,
        interval_s=INT,
        next_run_at=TS_OR_NULL,
        changed_at=TS_OR_NULL,
        changed_by=_nullable(STR),
    ),
    "ScheduleBody": {
        **_obj((), paused=BOOL, interval_s={"type": "integer", "minimum": 10, "maximum": 86400}),
        "additionalProperties": False,
    },
    "DeadLetter": _obj(
        ["event_id", "occurred_at", "source_topic", "partition", "offset", "error", "original"],
        event_id=STR,
        occurred_at=TS,
        source_topic=STR,
        partition=_nullable(INT),
        offset=_nullable(INT),
        source_key=_nullable(STR),
        error=STR,
        original={"type": "string", "contentEncoding": "base64"},
        original_truncated=BOOL,
        dead_letter_partition=INT,
        dead_letter_offset=INT,
    ),
    "DeadLetters": _obj(
        ["count", "limit", "dead_letters"],
        count=INT,
        limit=INT,
        dead_letters={"type": "array", "items": _ref("DeadLetter")},
        partial=PARTIAL,
    ),
}

# -- operations -------------------------------------------------------------------------------------


def _query(name: str, schema: dict[str, Any], doc: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": doc}


def _path(name: str, doc: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": STR, "description": doc}


def _answer(doc: str, schema: str) -> dict[str, Any]:
    return {"description": doc, "content": {JSON: {"schema": _ref(schema)}}}


def _text(doc: str, media: str) -> dict[str, Any]:
    return {"description": doc, "content": {media: {"schema": {"type": "string"}}}}


def _error(doc: str) -> dict[str, Any]:
    return _answer(doc, "Error")


BAD: Final = _error("a bad parameter or body")
DOWN: Final = _error("a part is down, or the worker that owns the key is not answering")
UNKNOWN: Final = _error("unknown")
TOKEN: Final = _error("no bearer token, or a wrong one, while ODDSTREAM_API_TOKEN is set")
SECURED: Final[list[dict[str, list[str]]]] = [{"bearer": []}]


def _op(summary: str, ok: dict[str, Any], *, status: str = "200", **more: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: ok}}
    responses = more.pop("errors", {})
    op["responses"].update(responses)
    op.update(more)
    return op


def _body(schema: str) -> dict[str, Any]:
    return {"required": False, "content": {JSON: {"schema": _ref(schema)}}}


OPERATIONS: Final[dict[str, dict[str, dict[str, Any]]]] = {
    "/health": {
        "get": _op(
            "Whether this worker's broker and database answer, its partitions, and whether it is ready",
            _answer("every part answers", "Health"),
            errors={"503": _answer("a part is down (listed in `down`)", "Health")},
        )
    },
    "/odds/events": {
        "get": _op(
            "The board: upcoming events with the featured prices, margins and freshness per bookmaker",
            {
                **_answer("one page of the events", "EventList"),
                "content": {JSON: {"schema": _ref("EventList")}, "text/csv": {"schema": {"type": "string"}}},
            },
            parameters=[
                _query("page", {"type": "integer", "minimum": 1}, "the page, from 1"),
                _query("page_size", {"type": "integer", "minimum": 1, "maximum": 100}, "events per page (50)"),
                _query("country", {"type": "array", "items": STR}, "only these countries (repeatable)"),
                _query("tournament", {"type": "array", "items": STR}, "only these tournaments (repeatable)"),
                _query("kickoff", {"enum": ["today", "tomorrow", "weekend", "7d"]}, "in the trader's zone"),
                _query("kickoff_from", TS, "kickoff at or after (ISO 8601 with a zone)"),
                _query("kickoff_to", TS, "kickoff at or before (ISO 8601 with a zone)"),
                _query("q", STR, "teams, tournament or country containing this text"),
                _query("min_bookmakers", {"type": "integer", "minimum": 0, "maximum": 3}, "listed by at least"),
                _query("availability", {"enum": ["all", "matched", "betpawa-only", "competitor-only"]}, "who lists it"),
                _query("include_started", BOOL, "started events too (hidden by default)"),
                _query("sort", {"enum": ["kickoff", "tournament"]}, "the order"),
                _query("format", {"enum": ["json", "csv"]}, "csv: a row per event and bookmaker"),
            ],
            errors={"400": BAD},
        )
    },
    "/odds/events/{sportradar_id}": {
        "get": _op(
            "One event: every canonical market and line side by side for the three bookmakers",
            _answer("the event (with ``at``: as it stood then)", "EventDetail"),
            parameters=[
                _path("sportradar_id", "the SportRadar id"),
                _query("at", TS, "the board as it stood at this time, rebuilt from the stored history"),
            ],
            errors={"400": BAD, "404": UNKNOWN, "503": DOWN},
        )
    },
    "/odds/events/{sportradar_id}/history": {
        "get": _op(
            "Line movement of one market and line: each outcome's price change points per bookmaker, and the margin",
            {
                **_answer("the history (null price: suspended or withdrawn)", "History"),
                "content": {
                    JSON: {"schema": _ref("History")},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            parameters=[
                _path("sportradar_id", "the SportRadar id"),
                {**_query("market_id", STR, "the canonical market id (required)"), "required": True},
                _query("line", NUM, "the line; omitted: the market's null line"),
                _query("bookmaker", {"type": "array", "items": BOOKMAKER}, "only these (repeatable)"),
                _query("from", TS, "window start: the series starts with the price then current"),
                _query("to", TS, "window end"),
                _query("format", {"enum": ["json", "csv"]}, "csv: one row per point"),
            ],
            errors={"400": BAD, "404": UNKNOWN, "503": _error("no database, or it is not answering")},
        )
    },
    "/odds/events/{sportradar_id}/history/markets": {
        "get": _op(
            "The markets and lines of an event that have line movement",
            _answer("the markets", "HistoryMarkets"),
            parameters=[_path("sportradar_id", "the SportRadar id")],
            errors={"404": UNKNOWN, "503": _error("no database, or it is not answering")},
        )
    },
    "/odds/stream": {
        "get": _op(
            "Every board change as it happens (Server-Sent Events), resumable from the last message's id",
            _text(
                "an endless text/event-stream: `event: change` messages whose `data` is the OddsChanged as on"
                " odds.changes and whose `id` is the resume cursor (`p0:123.p1:456...`, the next offset per"
                " partition); `event: reset` when the cursor can no longer be resumed exactly (reload the"
                " board); `: keepalive` comments every 15 s",
                "text/event-stream",
            ),
            parameters=[
                _query("cursor", STR, "resume after this cursor (a first connect); the Last-Event-ID header wins"),
                _query("sportradar_id", {"type": "array", "items": STR}, "only these events (repeatable)"),
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": STR,
                    "description": "the id of the last message received (a browser's reconnect sends it)",
                },
            ],
            errors={
                "400": BAD,
                "503": _error("over ODDSTREAM_STREAM_MAX_CLIENTS open streams on this worker, or no broker"),
            },
        )
    },
    "/runs": {
        "get": _op(
            "Scrape runs, newest first, with their per-bookmaker counts and errors",
            _answer("the runs", "RunList"),
            parameters=[
                _query("status", {"enum": ["requested", "running", "completed", "failed", "stale"]}, "only these"),
                _query("limit", {"type": "integer", "minimum": 0}, "at most this many (100)"),
            ],
            errors={"400": BAD},
        )
    },
    "/runs/stats": {
        "get": _op(
            "Per bookmaker over the last days: runs, success rate, median and 90th percentile duration",
            _answer("the figures", "RunStats"),
            parameters=[_query("days", {"type": "integer", "minimum": 1, "maximum": 90}, "the period (7)")],
            errors={"400": BAD},
        )
    },
    "/runs/{run_id}": {
        "get": _op(
            "One run, with its heartbeat timeline",
            _answer("the run", "RunDetail"),
            parameters=[_path("run_id", "the run")],
            errors={"404": UNKNOWN, "503": DOWN},
        )
    },
    "/runs/{run_id}/retry": {
        "post": _op(
            "Request a new run of the same bookmakers and events",
            _answer("the new run is requested", "Accepted"),
            status="202",
            parameters=[_path("run_id", "the finished run to retry")],
            security=SECURED,
            errors={
                "401": TOKEN,
                "404": UNKNOWN,
                "409": _error("the run has not finished"),
                "503": DOWN,
            },
        )
    },
    "/scrape": {
        "post": _op(
            "Request a scrape now (all bookmakers and events unless narrowed)",
            _answer("the run is requested", "Accepted"),
            status="202",
            requestBody=_body("ScrapeBody"),
            security=SECURED,
            errors={"400": BAD, "401": TOKEN},
        )
    },
    "/schedule": {
        "get": _op(
            "The scrape schedule every worker follows, and the next scheduled run",
            _answer("the schedule", "Schedule"),
            errors={"503": _error("odds.control is still being read")},
        ),
        "post": _op(
            "Pause, resume or change the interval (kept on odds.control, for every worker and restart)",
            _answer("the new schedule, acknowledged by the broker", "Schedule"),
            status="202",
            requestBody=_body("ScheduleBody"),
            security=SECURED,
            errors={"400": BAD, "401": TOKEN, "503": _error("odds.control is still being read")},
        ),
    },
    "/dead-letters": {
        "get": _op(
            "The latest dead letters of every worker",
            _answer("the letters", "DeadLetters"),
            parameters=[_query("limit", {"type": "integer", "minimum": 1}, "at most this many (50)")],
            errors={"400": BAD},
        )
    },
    "/metrics": {
        "get": _op("Prometheus series of this worker", _text("the exposition", "text/plain")),
    },
    "/openapi.json": {
        "get": _op("This document", {"description": "OpenAPI 3.1", "content": {JSON: {"schema": {"type": "object"}}}})
    },
    **{
        path: {"get": _op(f"The dashboard: {name}", _text(name, content_type))}
        for path, (name, content_type) in ASSETS.items()
    },
}


def document(version: str, token_required: bool) -> dict[str, Any]:
    """The OpenAPI 3.1 document; ``token_required`` says whether this worker enforces the token."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "oddstream",
            "version": version,
            "description": (
                "The live odds board of BetPawa, SportyBet and Bet9ja, its runs and schedule. Errors are "
                '`{"error": "..."}`. Mutating routes need `Authorization: Bearer <token>` when the worker '
                f"has ODDSTREAM_API_TOKEN set (this one: {'yes' if token_required else 'no'})."
            ),
        },
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "paths": OPERATIONS,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }


async def openapi(view: View, request: Request, doc: dict[str, Any]) -> Response:
    return view.json(doc)
