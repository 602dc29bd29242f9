// Line movement: click a price or a margin of the event detail for that outcome's line (or the
// market's margin) on all three bookmakers, from GET /odds/events/{id}/history. Charts by uPlot
// (vendor/uplot, MIT); "Whole market" draws every outcome as small multiples with one crosshair. Prices are step lines: a price holds until its next change; while a book did
// not offer it (suspended or withdrawn) the line goes on dashed at its last price.
(() => {
  "use strict";

  const BOOKMAKERS = ["betpawa", "sportybet", "bet9ja"];
  const BM_LABEL = { betpawa: "BetPawa", sportybet: "SportyBet", bet9ja: "Bet9ja" };
  const BM_COLOUR = { betpawa: "#1a7f37", sportybet: "#cf222e", bet9ja: "#0969da" };
  const RANGES = [["6 h", 6], ["24 h", 24], ["3 days", 72], ["All", null]];

  const $ = (sel) => document.querySelector(sel);
  const dialog = $("#chart-dialog");
  if (!dialog || typeof uPlot === "undefined") return;
  const plotBox = $("#chart-plot");
  const state = { sr: null, market: null, line: null, outcome: null, tab: "odds", hours: null, plot: null, body: null };
  // what the chart shows, for the tests and for anyone reading the page
  window.oddstreamChart = { state, series: [], points: 0 };

  const seconds = (iso) => Date.parse(iso) / 1000;

  // step-held values of one book's change points at each time of ``xs``; null where it had none
  function held(points, key, xs) {
    const out = [];
    let i = 0;
    let current = null;
    for (const x of xs) {
      while (i < points.length && seconds(points[i].at) <= x) current = points[i++][key];
      out.push(i === 0 ? null : current);
    }
    return out;
  }

  // the spans with no price drawn dashed at the last price before them, joined to both ends
  function unavailable(values) {
    const out = values.map(() => null);
    let last = null;
    for (let i = 0; i < values.length; i++) {
      if (values[i] === null && last !== null) {
        out[i] = last;
        if (i > 0 && values[i - 1] !== null) out[i - 1] = values[i - 1];
      } else if (values[i] !== null && i > 0 && values[i - 1] === null && last !== null) {
        out[i] = last;
      }
      if (values[i] !== null) last = values[i];
    }
    return out;
  }

  // uPlot's columns: times, then per book the offered line and its unavailable spans
  function chartData(body, tab, outcome) {
    const lines = [];
    if (tab === "odds") {
      for (const s of body.series) {
        if (s.outcome !== outcome) continue;
        lines.push({ bm: s.bookmaker, points: s.points, until: s.confirmed_until, key: "price", scale: 1 });
      }
    } else {
      const until = {};
      for (const s of body.series) until[s.bookmaker] = s.confirmed_until;
      for (const m of body.margins) lines.push({ bm: m.bookmaker, points: m.points, until: until[m.bookmaker], key: "margin", scale: 100 });
    }
    lines.sort((a, b) => BOOKMAKERS.indexOf(a.bm) - BOOKMAKERS.indexOf(b.bm));
    const times = new Set();
    for (const l of lines) {
      for (const p of l.points) times.add(seconds(p.at));
      if (l.until) times.add(seconds(l.until));
    }
    const xs = [...times].sort((a, b) => a - b);
    const data = [xs];
    const series = [{}];
    for (const l of lines) {
      const values = held(l.points, l.key, xs).map((v) => (v === null ? null : v * l.scale));
      // after the last confirmation nothing is known: no line
      const end = l.until ? seconds(l.until) : Infinity;
      const shown = values.map((v, i) => (xs[i] > end ? null : v));
      data.push(shown, unavailable(shown));
      const colour = BM_COLOUR[l.bm] || "#666";
      const label = BM_LABEL[l.bm] || l.bm;
      series.push(
        { label, stroke: colour, width: 2, spanGaps: false, paths: uPlot.paths.stepped({ align: 1 }), points: { show: true, size: 5 } },
        { label: `${label} unavailable`, stroke: colour, width: 1, dash: [6, 4], spanGaps: false, paths: uPlot.paths.stepped({ align: 1 }), points: { show: false } },
      );
    }
    return { data, series, lines };
  }

  const multiples = [];
  function clearPlots() {
    if (state.plot) state.plot.destroy();
    state.plot = null;
    while (multiples.length) multiples.pop().destroy();
    plotBox.replaceChildren();
    plotBox.classList.remove("multiples");
  }

  // the whole market: one small chart per outcome, every bookmaker on each, one shared crosshair
  function drawMarket() {
    const body = state.body;
    const outcomes = [...new Set(body.series.map((s) => s.outcome))];
    window.oddstreamChart.multiples = [];
    $("#chart-empty").textContent = outcomes.length ? "" : "No history for this line in the range.";
    plotBox.classList.add("multiples");
    const width = Math.max(240, Math.min(440, ((plotBox.clientWidth || 880) - 16) / 2));
    for (const outcome of outcomes) {
      const { data, series, lines } = chartData(body, "odds", outcome);
      const box = document.createElement("figure");
      box.className = "multiple";
      box.dataset.outcome = outcome;
      const cap = document.createElement("figcaption");
      cap.textContent = outcome;
      box.append(cap);
      plotBox.append(box);
      const opts = { width, height: 170, scales: { x: { time: true } }, series, legend: { show: false }, cursor: { sync: { key: "oddstream-market" } } };
      multiples.push(new uPlot(opts, data, box));
      window.oddstreamChart.multiples.push({ outcome, series: lines.map((l) => ({ bookmaker: l.bm, changes: l.points.length })) });
    }
  }

  function draw() {
    const body = state.body;
    clearPlots();
    if (state.tab === "market") return drawMarket();
    const empty = $("#chart-empty");
    const { data, series, lines } = chartData(body, state.tab, state.outcome);
    window.oddstreamChart.series = lines.map((l) => ({ bookmaker: l.bm, changes: l.points.length }));
    window.oddstreamChart.points = data[0].length;
    if (!lines.length || data[0].length === 0) {
      empty.textContent = "No history for this line in the range.";
      return;
    }
    empty.textContent = "";
    const width = Math.max(320, Math.min(900, plotBox.clientWidth || 720));
    const opts = {
      width,
      height: 300,
      scales: { x: { time: true } },
      series,
      axes: [{}, { label: state.tab === "odds" ? "odds" : "margin %" }],
      cursor: { sync: { key: "oddstream-history" } },
    };
    state.plot = new uPlot(opts, data, plotBox);
    window.oddstreamChart.plot = state.plot;
  }

  async function load() {
    const q = new URLSearchParams({ market_id: state.market });
    if (state.line !== null) q.set("line", state.line);
    if (state.hours) q.set("from", new Date(Date.now() - state.hours * 3600_000).toISOString());
    $("#chart-empty").textContent = "Loading…";
    const resp = await fetch(`/odds/events/${encodeURIComponent(state.sr)}/history?${q}`);
    const body = await resp.json();
    if (!resp.ok) {
      $("#chart-empty").textContent = body.error || `HTTP ${resp.status}`;
      window.oddstreamChart.series = [];
      return;
    }
    state.body = body;
    draw();
  }

  function setTab(tab) {
    state.tab = tab;
    for (const b of dialog.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === tab));
    if (state.body) draw();
  }

  function open(sr, marketKey, outcome, tab, title) {
    const [market, line] = marketKey.split("|");
    Object.assign(state, { sr, market, line: line === "" ? null : line, outcome, body: null });
    $("#chart-title").textContent = title;
    $("#chart-meta").textContent = outcome ? `${outcome} · odds and margin on every bookmaker` : "margin on every bookmaker";
    dialog.querySelector('[data-tab="odds"]').disabled = !outcome;
    if (!dialog.open) dialog.showModal();
    setTab(outcome ? tab : "margin");
    load();
  }

  // a price or a margin of the detail's market cards
  document.addEventListener("click", (ev) => {
    const td = ev.target.closest("#detail-markets td.price, #detail-markets td.margin");
    if (!td) return;
    const table = td.closest("table.market");
    const hash = location.hash.match(/^#event\/(.+)$/);
    if (!table || !hash) return;
    const caption = table.querySelector("caption");
    const title = caption ? caption.firstChild.textContent.trim() : table.dataset.market;
    const row = td.closest("tr");
    const outcome = td.classList.contains("price") ? row.querySelector("th").textContent : null;
    open(decodeURIComponent(hash[1]), table.dataset.market, outcome, td.classList.contains("price") ? "odds" : "margin", title);
  });

  for (const b of dialog.querySelectorAll("[data-tab]")) b.addEventListener("click", () => setTab(b.dataset.tab));
  const presets = $("#chart-ranges");
  for (const [label, hours] of RANGES) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "ghost";
    b.textContent = label;
    b.setAttribute("aria-pressed", String(hours === state.hours));
    b.addEventListener("click", () => {
      state.hours = hours;
      for (const other of presets.children) other.setAttribute("aria-pressed", String(other === b));
      load();
    });
    presets.append(b);
  }
  $("#chart-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", clearPlots);
})();
