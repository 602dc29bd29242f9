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
import urllib.parse
import urllib.request
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from streams import topics
from streams.clock import utc_now
from streams.events import OddsObserved, derive_id, encode
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


async def _produce_observed(settings: Settings, events: list[OddsObserved]) -> None:
    """Publish ``OddsObserved`` records as any producer would (keyed by SportRadar id, murmur2)."""
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for ev in events:
            topic = settings.topic(topics.OBSERVED.name)
            await producer.send_and_wait(topic, encode(ev), key=ev.sportradar_id.encode())
    finally:
        await producer.stop()


def _observed(sr_id: str, n: int, at: datetime, market_ids: list[str]) -> OddsObserved:
    outcomes = {"3743": ["1", "X", "2"], "4703": ["1", "2"]}
    return OddsObserved(
        event_id=derive_id("browser-test", sr_id, n),
        occurred_at=at,
        run_id="browser-test",
        bookmaker="betpawa",
        sportradar_id=sr_id,
        bookmaker_event_id=f"bp-{sr_id}",
        home_team="Withdrawn Town",
        away_team="Struck United",
        tournament="Test Cup",
        country="Testland",
        kickoff_at=at + timedelta(days=2),
        observed_at=at,
        markets=[
            {
                "market_id": mid,
                "market_name": mid,
                "line": None,
                "outcomes": [
                    {"name": o, "price": 2.5 + i / 10, "suspended": False} for i, o in enumerate(outcomes[mid])
                ],
            }
            for mid in market_ids
        ],
    )


async def _until(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await asyncio.to_thread(predicate):
            return True
        await asyncio.sleep(0.3)
    return False


async def _chart_matches(page: Any, base: str, event_id: str, outcome: str) -> None:
    """The chart shows BetPawa's line of ``outcome`` with the history route's change points, ending at the
    price the route last gives (a scrape may add a point meanwhile: asked again until both agree)."""
    got: Any = None
    for _ in range(20):
        body = get_json(f"{base}/odds/events/{event_id}/history?market_id=3743")[1]
        want = [s for s in body["series"] if s["outcome"] == outcome]
        got = await page.evaluate(
            "() => { const c = window.oddstreamChart; const d = c.plot ? c.plot.data : [[]];"
            " return { series: c.series, last: d.length > 1 ? d[1].filter((v) => v !== null).pop() : null }; }"
        )
        prices = [p["price"] for p in want[0]["points"] if p["price"] is not None] if want else []
        if (
            got["series"] == [{"bookmaker": s["bookmaker"], "changes": len(s["points"])} for s in want]
            and prices
            and got["last"] == prices[-1]
        ):
            assert len(want[0]["points"]) >= 1
            return
        await page.locator('#chart-ranges button:has-text("All")').click()  # ask the route again
        await asyncio.sleep(0.5)
    raise AssertionError(f"the chart never matched the history route: chart {got}, route {want}")


async def _board_at_shows_its_prices(page: Any, base: str, event_id: str, one_x_two: Any) -> None:
    """The detail's slider set to a moment T between two stored changes of a BetPawa 1X2 price: the
    detail shows the price of T, then "Back to live" the live one."""
    from playwright.async_api import expect

    slider = page.locator("#detail-at")
    await expect(slider).to_be_enabled(timeout=10_000)
    frm, to = float(await slider.get_attribute("data-from")), float(await slider.get_attribute("data-to"))
    body = get_json(f"{base}/odds/events/{event_id}/history?market_id=3743")[1]
    ms = lambda p: datetime.fromisoformat(p["at"]).timestamp() * 1000  # noqa: E731
    candidates = []
    for s in body["series"]:
        pts = [p for p in s["points"] if p["price"] is not None and ms(p) <= to]
        if s["bookmaker"] == "betpawa" and pts:
            candidates.append((len(pts), s["outcome"], pts))
    _, outcome, pts = max(candidates)
    if len(pts) >= 2:  # between the last two changes known when the detail opened: the older price
        at, want = (ms(pts[-2]) + ms(pts[-1])) / 2, pts[-2]["price"]
    else:  # one change only: after it
        at, want = (ms(pts[-1]) + to) / 2, pts[-1]["price"]
    value = round((at - frm) / (to - frm) * 1000)
    assert 0 <= value < 1000, (value, at, frm, to)
    await page.evaluate(
        "v => { const s = document.querySelector('#detail-at'); s.value = String(v);"
        " s.dispatchEvent(new Event('change')); }",
        value,
    )
    row = one_x_two.locator("tbody tr").filter(has=page.locator(f'th:text-is("{outcome}")'))
    cell = row.locator('td.price[data-bookmaker="betpawa"]')
    await expect(page.locator("#detail-live")).to_be_visible()
    await expect(cell).to_have_text(f"{want:.2f}", timeout=10_000)
    await page.locator("#detail-live").click()
    live = get_json(f"{base}/odds/events/{event_id}")[1]
    market = next(m for m in live["markets"] if m["market_id"] == "3743" and m["line"] is None)
    now = next(o["price"] for o in market["bookmakers"]["betpawa"]["outcomes"] if o["name"] == outcome)
    await expect(cell).to_have_text(f"{now:.2f}", timeout=10_000)
    await expect(page.locator("#detail-live")).to_be_hidden()
    print(f"board at T: BetPawa 1X2 {outcome} at {want} then ({len(pts)} changes by then), {now} live")


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

            # a Double Chance column, priced by BetPawa
            dc = first.locator('tr.bm-betpawa td.price[data-market="double_chance"]')
            await expect(dc).to_have_count(3)
            await expect(dc.first).to_have_text(re.compile(r"^\d+\.\d\d$"))

            # filters: one country (the select lists every listable event's), then the server's count
            country_select = page.locator('#filters select[name="country"]')
            await expect(country_select.locator("option")).not_to_have_count(0)
            country = await country_select.locator("option").first.get_attribute("value")
            assert country
            expected = get_json(f"{base}/odds/events?country={urllib.parse.quote(country)}")[1]["count"]
            assert 0 < expected < 30
            await country_select.select_option([country])
            await expect(page.locator("#event-count")).to_have_text(str(expected))
            await expect(events).to_have_count(expected)
            for text in await events.locator(".tournament").all_inner_texts():
                assert text.endswith(f"· {country}"), text
            await page.locator('#filters select[name="availability"]').select_option("competitor-only")
            await expect(page.locator("#events-empty")).to_be_visible()  # only BetPawa is simulated here
            await page.get_by_role("button", name="Clear").click()
            await expect(events).to_have_count(30)

            # pages: 25 a page, then the second page holds the rest
            await page.locator("#page-size").select_option("25")
            await expect(events).to_have_count(25)
            await expect(page.locator("#page-info")).to_have_text("Page 1 of 2")
            page_one = set(await events.evaluate_all("bs => bs.map(b => b.dataset.eventId)"))
            await page.locator("#page-next").click()
            await expect(page.locator("#page-info")).to_have_text("Page 2 of 2")
            await expect(events).to_have_count(5)
            page_two = set(await events.evaluate_all("bs => bs.map(b => b.dataset.eventId)"))
            assert len(page_one | page_two) == 30 and not page_one & page_two
            await expect(page.locator("#page-next")).to_be_disabled()
            await page.locator("#page-size").select_option("50")
            await expect(events).to_have_count(30)

            # hiding a bookmaker: its rows go, the best prices are recomputed over the books shown,
            # and the choice survives a reload (localStorage)
            assert await first.locator("td.best-visible").count() > 0  # BetPawa best among three rows
            await page.locator('#columns input[name="show-sportybet"]').uncheck()
            await page.locator('#columns input[name="show-bet9ja"]').uncheck()
            first = events.first
            await expect(first.locator("tr[data-bookmaker]")).to_have_count(1)
            await expect(page.locator("#events tr.bm-sportybet")).to_have_count(0)
            assert await page.locator("#events td.best-visible").count() == 0  # nobody to be best against
            await page.reload()
            await expect(events).to_have_count(30, timeout=20_000)
            await expect(events.first.locator("tr[data-bookmaker]")).to_have_count(1)
            await page.locator('#columns input[name="show-sportybet"]').check()
            await page.locator('#columns input[name="show-bet9ja"]').check()
            first = events.first
            await expect(first.locator("tr[data-bookmaker]")).to_have_count(3)

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
            try:
                await expect(progress).to_have_attribute("data-status", "completed")
            except AssertionError as exc:
                raise AssertionError(f"{exc}\npage errors: {page_errors}\nconsole: {console[-20:]}") from None
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
            # names and groups from the registry, the summary card, a market search
            await expect(one_x_two.locator("caption")).to_have_text(re.compile(r"^1X2 \| Full Time"))
            await expect(page.locator('#detail-markets section.group-section[data-group="popular"] h3')).to_have_text(
                "Popular"
            )
            await expect(page.locator('#detail-summary tbody tr[data-group="all"] td.share')).to_have_text("100.0%")
            await page.locator("#market-search").fill("1st half")
            shown = page.locator("#detail-markets section.market-card:visible caption")
            await expect(shown.first).to_be_visible()
            for caption in await shown.all_inner_texts():
                assert "1st Half" in caption, caption
            await expect(one_x_two).to_be_hidden()
            await page.locator("#market-search").fill("")
            await expect(one_x_two).to_be_visible()
            await page.screenshot(path=str(tmp_path / "dashboard-detail.png"), full_page=False)

            # a price's line movement: the chart holds the history route's change points, per bookmaker
            outcome = (await one_x_two.locator("tbody tr th").first.inner_text()).strip()
            await home_price.click()
            await expect(page.locator("#chart-dialog")).to_be_visible()
            await expect(page.locator("#chart-plot canvas")).to_have_count(1, timeout=10_000)
            await _chart_matches(page, base, event_id, outcome)
            await page.locator('#chart-dialog [data-tab="margin"]').click()
            chart = await page.evaluate("window.oddstreamChart.series")
            margins = get_json(f"{base}/odds/events/{event_id}/history?market_id=3743")[1]["margins"]
            assert [s["bookmaker"] for s in chart] == [m["bookmaker"] for m in margins] == ["betpawa"], chart
            # the whole market: one small chart per outcome of the history, every bookmaker on each
            await page.locator('#chart-dialog [data-tab="market"]').click()
            history = get_json(f"{base}/odds/events/{event_id}/history?market_id=3743")[1]
            outcomes = list(dict.fromkeys(s["outcome"] for s in history["series"]))
            await expect(page.locator("#chart-plot figure.multiple canvas")).to_have_count(len(outcomes))
            multiples = await page.evaluate("window.oddstreamChart.multiples")
            assert [m["outcome"] for m in multiples] == outcomes and len(outcomes) == 3, multiples
            assert all([s["bookmaker"] for s in m["series"]] == ["betpawa"] for m in multiples), multiples
            await page.screenshot(path=str(tmp_path / "dashboard-chart.png"), full_page=False)
            await page.locator("#chart-close").click()
            await expect(page.locator("#chart-dialog")).to_be_hidden()
            await _board_at_shows_its_prices(page, base, event_id, one_x_two)
            await page.get_by_role("button", name="← All events").click()
            await expect(events).to_have_count(30)
            await expect(token_dialog).to_be_hidden()  # asked once only

            # a market BetPawa stops offering: kept, struck through, "unavailable since"
            at = utc_now().replace(microsecond=0)
            await _produce_observed(
                settings,
                [
                    _observed("99000001", 0, at, ["3743", "4703"]),
                    _observed("99000001", 1, at + timedelta(seconds=1), ["3743"]),
                ],
            )
            assert await _until(
                lambda: (
                    get_json(f"{base}/odds/events/99000001")[0] == 200
                    and any(m["unavailable_since"] for m in get_json(f"{base}/odds/events/99000001")[1]["markets"])
                ),
                30,
            )
            await page.goto(f"{base}/#event/99000001")
            dnb = page.locator('#detail-markets section.market-card[data-market="4703|"]')
            await expect(dnb).to_have_class(re.compile(r"\bwithdrawn\b"), timeout=10_000)
            await expect(dnb.locator("caption .unavailable")).to_have_text(re.compile(r"^unavailable since "))
            struck = dnb.locator('tbody td.price[data-bookmaker="betpawa"]')
            await expect(struck.first).to_have_class(re.compile(r"\bwithdrawn\b"))
            await expect(struck.first).to_have_text("2.50")  # the last price, struck through
            assert await struck.first.evaluate("td => getComputedStyle(td).textDecorationLine") == "line-through"
            never = dnb.locator('tbody td.price[data-bookmaker="sportybet"]').first
            await expect(never).to_have_text("—")
            await expect(never).to_have_class(re.compile(r"\bnever\b"))
            assert await never.evaluate("td => getComputedStyle(td).textDecorationLine") == "none"
            await expect(page.locator('#detail-markets section.market-card[data-market="3743|"]')).not_to_have_class(
                re.compile(r"\bwithdrawn\b")
            )
            await page.screenshot(path=str(tmp_path / "dashboard-withdrawn.png"), full_page=False)

            # a price change pushed by /odds/stream appears on the list without a reload or a poll
            await page.get_by_role("button", name="← All events").click()
            await page.locator('#filters input[name="q"]').fill("Withdrawn Town")
            row = page.locator('#events tbody[data-event-id="99000001"]')
            await expect(row).to_be_visible(timeout=10_000)
            await expect(page.locator("#stream-status")).to_have_attribute("data-state", "open", timeout=10_000)
            home_1 = row.locator("tr.bm-betpawa td.price").first
            await expect(home_1).to_have_text("2.50")
            moved = _observed("99000001", 2, utc_now().replace(microsecond=0), ["3743"])
            markets = [
                {**m, "outcomes": [{**o, "price": o["price"] + 1} for o in m["outcomes"]]} for m in moved.markets
            ]
            moved = replace(moved, markets=markets)
            produced = time.monotonic()
            await _produce_observed(settings, [moved])
            await expect(home_1).to_have_text("3.50", timeout=10_000)
            pushed_s = time.monotonic() - produced
            await expect(row).to_have_attribute("data-pushed-at", moved.observed_at.isoformat())  # applied, not polled
            print(f"observation produced -> price shown in the browser: {pushed_s:.2f} s")
            assert page_errors == []
        finally:
            await browser.close()
    print(f"screenshots: {tmp_path / 'dashboard.png'}, {tmp_path / 'dashboard-detail.png'}")
