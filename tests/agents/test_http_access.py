"""The token of every mutating route, CORS and the OpenAPI document, on the worker's own web app.

The worker is built by the composition root with twins beyond the process (a recording outbox, the
schedule handed over instead of read from ``odds.control``) and its aiohttp application served
in-process: a request goes through the same mounts, guards and views as on a running worker.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from openapi_spec_validator import validate

from agents.access import MUTATING
from agents.schedule import Scheduler
from oddstream.app import Edges, Worker, create_app
from streams.run_rules import new_run
from streams.settings import Settings
from tests.agents.conftest import close_idle_consumer
from tests.doubles import Journal, RecordingOutbox

TOKEN = "s3cret-token-of-the-desk-0123"
RIGHT = {"Authorization": f"Bearer {TOKEN}"}
WRONG = {"Authorization": "Bearer s3cret-token-of-the-desk-0124"}


@dataclass
class Api:
    worker: Worker
    client: TestClient[Any, Any]
    outbox: RecordingOutbox


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "ODDSTREAM_KAFKA_URL": "kafka://127.0.0.1:9",  # never dialled
        "ODDSTREAM_DATA_DIR": str(tmp_path),
        "ODDSTREAM_SCRAPE_INTERVAL_S": "0",
        "ODDSTREAM_API_TOKEN": TOKEN,
    }


async def _serve(environ: Mapping[str, str]) -> tuple[Api, Any]:
    outbox = RecordingOutbox(Journal())
    held: list[Scheduler] = []
    worker = create_app(Settings.from_env(environ), Edges(outbox=outbox, control=held.append))
    worker.app.finalize()
    held[0].loaded.set()  # as if odds.control had been read
    web = worker.app.web
    web.blueprints.apply(web)
    client: TestClient[Any, Any] = TestClient(TestServer(web.web_app))
    await client.start_server()
    return Api(worker, client, outbox), client


@pytest.fixture
async def api(env: dict[str, str]) -> AsyncIterator[Api]:
    served, client = await _serve(env)
    yield served
    await client.close()
    close_idle_consumer(served.worker)


def _seed_finished_run(worker: Worker) -> str:
    run = {**new_run("run-1"), "status": "failed", "bookmakers": ["betpawa"], "requested_at": "2026-12-01T10:00:00Z"}
    worker.tables.runs.data["run-1"] = run  # as its changelog would have restored it
    return "run-1"


def _calls(worker: Worker) -> dict[tuple[str, str], tuple[str, Any, int]]:
    """Per mutating route: the concrete path, a valid body, and the status the right token gets."""
    run_id = _seed_finished_run(worker)
    return {
        ("/scrape", "post"): ("/scrape", {"bookmakers": ["betpawa"]}, 202),
        ("/runs/{run_id}/retry", "post"): (f"/runs/{run_id}/retry", None, 202),
        ("/schedule", "post"): ("/schedule", {"paused": False, "interval_s": 120}, 202),
    }


def _mutating(worker: Worker) -> set[tuple[str, str]]:
    return {(path, m) for path, methods in worker.routes for m in methods if m in MUTATING}


async def test_every_mutating_route_needs_the_token(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    calls = _calls(api.worker)
    assert set(calls) == _mutating(api.worker), "a mutating route without a case here"
    for (_, method), (path, body, ok) in calls.items():
        for headers, why in (({}, "no Authorization header"), (WRONG, "a wrong token"), ({"Authorization": TOKEN}, "")):
            before = len(api.outbox.published) + len(api.outbox.acked)
            resp = await api.client.request(method, path, json=body, headers=headers)
            assert resp.status == 401, (path, headers)
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")
            assert why in (await resp.json())["error"]
            assert len(api.outbox.published) + len(api.outbox.acked) == before, "a refused request did something"
        resp = await api.client.request(method, path, json=body, headers=RIGHT)
        assert resp.status == ok, (path, await resp.text())
    assert {type(e).__name__ for e in [*api.outbox.published, *api.outbox.acked]} == {
        "ScrapeRequested",
        "ScheduleChanged",
    }
    assert TOKEN not in caplog.text and "0124" not in caplog.text, "a token was logged"
    assert caplog.text.count("request_refused") == 3 * len(calls), "each refusal is logged"


async def test_reading_needs_no_token(api: Api) -> None:
    for path in ("/schedule", "/runs", "/openapi.json", "/"):
        resp = await api.client.get(path)
        assert resp.status == 200, path


async def test_without_a_token_setting_mutating_routes_are_open(env: dict[str, str]) -> None:
    served, client = await _serve({k: v for k, v in env.items() if k != "ODDSTREAM_API_TOKEN"})
    try:
        resp = await client.post("/scrape", json={})
        assert resp.status == 202
    finally:
        await client.close()
        close_idle_consumer(served.worker)


async def _preflight(client: TestClient[Any, Any], origin: str) -> Any:
    return await client.options(
        "/scrape",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


async def test_cors_is_closed_by_default(api: Api) -> None:
    resp = await _preflight(api.client, "https://elsewhere.example")
    assert "Access-Control-Allow-Origin" not in resp.headers
    got = await api.client.get("/runs", headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in got.headers


async def test_cors_opens_to_the_listed_origins_only(env: dict[str, str]) -> None:
    served, client = await _serve({**env, "ODDSTREAM_CORS_ORIGINS": "https://desk.example.com"})
    try:
        allowed = await _preflight(client, "https://desk.example.com")
        assert allowed.headers.get("Access-Control-Allow-Origin") == "https://desk.example.com"
        assert "authorization" in allowed.headers.get("Access-Control-Allow-Headers", "").lower()
        other = await _preflight(client, "https://elsewhere.example")
        assert "Access-Control-Allow-Origin" not in other.headers
        got = await client.get("/runs", headers={"Origin": "https://desk.example.com"})
        assert got.headers.get("Access-Control-Allow-Origin") == "https://desk.example.com"
    finally:
        await client.close()
        close_idle_consumer(served.worker)


async def test_faust_table_and_router_pages_are_not_served(api: Api) -> None:
    for path in ("/table/boards/", "/router/"):
        assert (await api.client.get(path)).status == 404, path


async def test_the_openapi_document_is_valid_and_names_every_route(api: Api) -> None:
    resp = await api.client.get("/openapi.json")
    doc = await resp.json()
    validate(doc)
    documented = {(path, m) for path, ops in doc["paths"].items() for m in ops}
    mounted = {(path, m) for path, methods in api.worker.routes for m in methods}
    assert documented == mounted
    for path, method in _mutating(api.worker):
        op = doc["paths"][path][method]
        assert op["security"] == [{"bearer": []}] and "401" in op["responses"], path
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            params = {p["name"] for p in op.get("parameters", []) if p["in"] == "path"}
            assert params == {seg[1:-1] for seg in path.split("/") if seg.startswith("{")}, (path, method)


def test_a_short_or_spaced_token_is_refused_at_start(env: dict[str, str]) -> None:
    from streams.settings import SettingsError

    for bad in ("short", "has a space in the middle"):
        with pytest.raises(SettingsError, match="ODDSTREAM_API_TOKEN"):
            Settings.from_env({**env, "ODDSTREAM_API_TOKEN": bad})
    shown = repr(Settings.from_env(env)) + Settings.from_env(env).describe()
    assert TOKEN not in shown
