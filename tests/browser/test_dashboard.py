"""The dashboard in headless Chromium: events, "Scrape now", the run completing, freshness moving.

Needs Debian's ``chromium`` (``.ci/run`` installs it) and the ``playwright`` Python package (its
own browser downloads are never used: Playwright drives ``/usr/bin/chromium``). Locally the test
skips with the reason when either is missing; with ``CI`` set it fails instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from streams.settings import Settings
from tests.integration.conftest import IN_CI, Processes, get_json

pytestmark = pytest.mark.integration

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def chromium() -> str:
    """The path of Debian's chromium; skip (fail in CI) when it or Playwright is missing.

    First in the test's signature, so a skip comes before the broker and database start.
    """
    problems = []
    path = os.environ.get("ODDSTREAM_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.access(path, os.X_OK):
        problems.append(f"no chromium at {path} (apt-get install -y chromium)")
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        problems.append("the playwright package is not installed (pip install -e '.[dev]')")
    if problems:
        reason = "browser test cannot run: " + "; ".join(problems)
        if IN_CI:
            pytest.fail(f"{reason}, and CI must run it")
        pytest.skip(reason)
    return path


TOKEN = "desk-token-for-the-browser-test"


def _post(url: str, body: Any) -> tuple[int, Any]:
    headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, json.loads(resp.read())


async def _until(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.3)
    return False


async def test_dashboard_shows_events_scrapes_and_freshness(
    chromium: str, procs: Processes, settings: Settings, tmp_path: Path
) -> None:
    from playwright.async_api import async_playwright, expect

    sim = procs.simulator(events=30, tick_s=1)
    settings = settings.with_(bookmaker_urls={"betpawa": sim}, api_token=TOKEN)  # every POST needs it
    procs.settings = settings
    procs.worker()
    base = f"http://127.0.0.1:{settings.web_port}"

    status, body = _post(f"{base}/scrape", {})
    assert status == 202
    first_run = body["run_id"]
    assert await _until(lambda: get_json(f"{base}/runs/{first_run}")[1].get("status") == "completed", 60)
    assert await _until(lambda: get_json(f"{base}/odds/events")[1]["count"] == 30, 30)

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1600, "height": 1000})
            page_errors: list[str] = []
            page.on("pageerror", lambda exc: page_errors.append(str(exc)))
            console: list[str] = []
            page.on("console", lambda msg: console.append(f"{msg.type}: {msg.text}"))
            await page.goto(f"{base}/")

            # the events, three bookmakers each, BetPawa priced
            events = page.locator("#events tbody.event")
            try:
                await expect(events).to_have_count(30, timeout=20_000)
            except AssertionError as exc:
                raise AssertionError(f"{exc}\npage errors: {page_errors}\nconsole: {console[-20:]}") from None
            await expect(page.locator("#event-count")).to_have_text("30")
            first = events.first
            await expect(first.locator("tr[data-bookmaker]")).to_have_count(3)
            await expect(first.locator("tr.bm-betpawa td.price").first).to_have_text(re.compile(r"^\d+\.\d\d$"))
            event_id = await first.get_attribute("data-event-id")
            fresh = page.locator(f'#events tbody[data-event-id="{event_id}"] tr.bm-betpawa td.fresh time')
            observed_before = await fresh.get_attribute("datetime")
            assert observed_before
            # competitors are not simulated here: their feeds are missing, so flagged stale
            await expect(first.locator("tr.bm-sportybet")).to_have_class(re.compile(r"\bstale\b"))
            # the "ago" text ticks in the browser: let it age past "just now"
            await expect(fresh).to_have_text(re.compile(r"^\d+ s ago$"), timeout=15_000)

            # the button: a new run appears, runs and completes
            runs_before = set(await page.locator("#runs tbody tr").evaluate_all("rs => rs.map(r => r.dataset.runId)"))
            assert first_run in runs_before
            await page.get_by_role("button", name="Scrape now").click()
            # the worker asks for its token: given once, kept for the session (the schedule and the
            # retry below post without asking again)
            token_dialog = page.locator("#token-dialog")
            await expect(token_dialog).to_be_visible()
            await token_dialog.locator("#token-input").fill("a-wrong-token-of-the-right-size")
            await token_dialog.get_by_role("button", name="Use token").click()
            await expect(token_dialog.locator("#token-why")).to_contain_text("refused")
            await token_dialog.locator("#token-input").fill(TOKEN)
            await token_dialog.get_by_role("button", name="Use token").click()
            await expect(token_dialog).to_be_hidden()
            progress = page.locator("#scrape-progress")
            await expect(progress).to_have_attribute("data-run-id", re.compile(r".+"), timeout=5_000)
            run_id = await progress.get_attribute("data-run-id")
            assert run_id and run_id not in runs_before
            row = page.locator(f'#runs tbody tr[data-run-id="{run_id}"]')
            await expect(row).to_be_visible(timeout=10_000)
            await expect(row.locator(".badge")).to_have_text("completed", timeout=60_000)
            await expect(progress).to_have_attribute("data-status", "completed")
            await expect(page.get_by_role("button", name="Scrape now")).to_be_enabled()

            # the schedule panel: paused by the environment here; resume, set the interval, pause
            state = page.locator("#schedule-state")
            await expect(state).to_have_text("Paused: no scheduled scrapes")
            await page.locator("#schedule-toggle").click()
            await expect(state).to_have_text(re.compile(r"^Every 5 min 00 s · next scrape in \d:\d\d$"))
            assert get_json(f"{base}/schedule")[1]["paused"] is False
            await page.locator('#schedule-form input[name="interval_s"]').fill("600")
            await page.locator("#schedule-form").get_by_role("button", name="Set").click()
            await expect(state).to_have_text(re.compile(r"^Every 10 min 00 s · next scrape in \d+:\d\d$"))
            await page.get_by_role("button", name="Pause").click()
            await expect(state).to_have_text("Paused: no scheduled scrapes")
            assert get_json(f"{base}/schedule")[1] == {
                **get_json(f"{base}/schedule")[1],
                "paused": True,
                "interval_s": 600,
            }

            # a run's detail: per bookmaker, heartbeats, and a retry that runs
            await row.click()
            dialog = page.locator("#run-dialog")
            await expect(dialog).to_be_visible()
            await expect(dialog).to_have_attribute("data-status", "completed")
            book = dialog.locator('#run-books tr[data-bookmaker="betpawa"] td')
            await expect(book.nth(1)).to_have_text("30")  # boards observed
            await expect(book.nth(5)).to_have_text(re.compile(r"^\d+(\.\d)? s$"))  # how long BetPawa took
            assert await dialog.locator("#run-beats li").count() >= 1
            await dialog.get_by_role("button", name="Retry").click()
            await expect(dialog.locator("#run-retry-said")).to_contain_text("retry requested")
            await expect(dialog).not_to_have_attribute("data-run-id", run_id)
            retried = await dialog.get_attribute("data-run-id")
            await expect(dialog).to_have_attribute("data-status", "completed", timeout=60_000)
            assert get_json(f"{base}/runs/{retried}")[1]["retry_of"] == run_id
            await dialog.get_by_role("button", name="Close").click()
            await expect(dialog).to_be_hidden()
            stats = page.locator('#run-stats tr[data-bookmaker="betpawa"] td')
            await page.reload()  # the stats poll every 30 s: a reload asks at once
            await expect(stats.nth(0)).to_have_text(re.compile(r"^[3-9]$"))
            await expect(stats.nth(1)).to_have_text("100%")
            await expect(events).to_have_count(30, timeout=20_000)

            # the freshness of the event moved: a later observed time, and the "ago" text reset
            await expect(fresh).not_to_have_attribute("datetime", observed_before, timeout=15_000)
            observed_after = await fresh.get_attribute("datetime")
            assert observed_after and observed_after > observed_before
            await expect(fresh).to_have_text(re.compile(r"^(just now|\d{1,2} s ago)$"), timeout=5_000)
            await page.screenshot(path=str(tmp_path / "dashboard.png"), full_page=False)

            # an event's detail: every market side by side, then back to the list
            await first.get_by_role("button").click()
            await expect(page.locator("#detail-view")).to_be_visible()
            await expect(page.locator("#detail-markets table.market").first).to_be_visible(timeout=10_000)
            assert await page.locator("#detail-markets table.market").count() >= 3
            await expect(page.locator("#detail-markets td.best").first).to_be_visible()
            # 1X2 with fair odds from BetPawa's own probabilities, and each price's fair odds and edge
            one_x_two = page.locator('#detail-markets table.market[data-market="3743|"]')
            await expect(one_x_two.locator("tbody td.fair-col")).to_have_count(3)
            for text in await one_x_two.locator("tbody td.fair-col").all_inner_texts():
                assert re.fullmatch(r"\d+\.\d\d", text), text
            await expect(one_x_two.locator("tfoot td.fair-source")).to_have_text("BetPawa")
            home_price = one_x_two.locator('tbody td.price[data-bookmaker="betpawa"]').first
            await expect(home_price).to_have_attribute("title", re.compile(r"^fair \d+\.\d\d \(book\) · edge \u2212\d"))
            await page.screenshot(path=str(tmp_path / "dashboard-detail.png"), full_page=False)
            await page.get_by_role("button", name="← All events").click()
            await expect(events).to_have_count(30)
            await expect(token_dialog).to_be_hidden()  # asked once only
            assert page_errors == []
        finally:
            await browser.close()
    print(f"screenshots: {tmp_path / 'dashboard.png'}, {tmp_path / 'dashboard-detail.png'}")
