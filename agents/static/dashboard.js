// oddstream dashboard: vanilla JS over the JSON views. Polls; updates the DOM in place (keyed rows,
// text set only when it changed) so a page left open all day neither flickers nor leaks.
"use strict";

(() => {
  const HOME = "betpawa";
  const BOOKMAKERS = ["betpawa", "sportybet", "bet9ja"];
  const BM_LABEL = { betpawa: "BetPawa", sportybet: "SportyBet", bet9ja: "Bet9ja" };
  const FEATURED = [
    ["1x2", ["1", "X", "2"]],
    ["over_under_2_5", ["Over", "Under"]],
    ["btts", ["Yes", "No"]],
  ];
  const STALE_FEED_S = 600; // a feed older than this (or missing) is stale
  const EVENTS_EVERY_MS = 4000;
  const RUNS_EVERY_MS = 3000;
  const RUN_PROGRESS_EVERY_MS = 1000;
  const TERMINAL = new Set(["completed", "failed", "stale"]);

  const $ = (sel, root = document) => root.querySelector(sel);
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k === "class") node.className = v;
      else if (k === "dataset") Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  };
  // Set text / class / attribute only when different: no needless layout, no flicker.
  const setText = (node, text) => {
    if (node.textContent !== text) node.textContent = text;
  };
  const setClass = (node, cls, on) => {
    if (node.classList.contains(cls) !== on) node.classList.toggle(cls, on);
  };
  const setAttr = (node, name, value) => {
    if (value === null) {
      if (node.hasAttribute(name)) node.removeAttribute(name);
    } else if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  };

  // ---- time: RFC 3339 in, browser-local out. Server "now" = observed_at + age_s gives the skew.
  let clockOffsetMs = 0; // server clock minus browser clock
  const serverNow = () => Date.now() + clockOffsetMs;
  const learnClock = (observedAt, ageS) => {
    if (observedAt && typeof ageS === "number") {
      clockOffsetMs = Date.parse(observedAt) + ageS * 1000 - Date.now();
    }
  };
  const ageSeconds = (iso) => (iso ? Math.max(0, (serverNow() - Date.parse(iso)) / 1000) : null);
  const ago = (iso) => {
    const s = ageSeconds(iso);
    if (s === null) return "never";
    if (s < 5) return "just now";
    if (s < 60) return `${Math.floor(s)} s ago`;
    if (s < 3600) return `${Math.floor(s / 60)} min ago`;
    if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
    return `${Math.floor(s / 86400)} d ago`;
  };
  const timeFmt = new Intl.DateTimeFormat(undefined, { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  const kickoffFmt = new Intl.DateTimeFormat(undefined, {
    weekday: "short",
    day: "numeric",
    month: "short",
    hour: "2-digit",
    minute: "2-digit",
  });
  const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  const localTime = (iso, fmt = timeFmt) => (iso ? fmt.format(new Date(iso)) : "—");

  const price = (p) => (typeof p === "number" ? p.toFixed(2) : "—");
  const pct = (m) => (typeof m === "number" ? `${(m * 100).toFixed(1)}%` : "—");
  const signed = (d, digits = 2) => (typeof d === "number" ? `${d > 0 ? "+" : d < 0 ? "−" : "±"}${Math.abs(d).toFixed(digits)}` : "—");
  const signedPct = (d) => (typeof d === "number" ? `${d > 0 ? "+" : d < 0 ? "−" : "±"}${Math.abs(d * 100).toFixed(1)} pp` : "—");

  async function getJSON(url, options) {
    const resp = await fetch(url, { cache: "no-store", ...options });
    let body = null;
    try {
      body = await resp.json();
    } catch (_) {
      /* not JSON */
    }
    if (!resp.ok) throw new Error((body && body.error) || `${resp.status} ${resp.statusText}`);
    return body;
  }

  // ---- connection status
  const conn = $("#conn");
  const problems = new Map();
  let lastOk = null;
  function report(source, error) {
    if (error) problems.set(source, error.message || String(error));
    else {
      problems.delete(source);
      lastOk = new Date();
    }
    const bad = problems.size > 0;
    setClass(conn, "bad", bad);
    setText(
      conn,
      bad
        ? `⚠ ${[...problems.entries()].map(([k, v]) => `${k}: ${v}`).join(" · ")}`
        : `● live · updated ${lastOk ? timeFmt.format(lastOk) : "—"}`,
    );
  }

  // ---- events list
  const eventsTable = $("#events");
  const eventBodies = new Map(); // sportradar_id -> {tbody, rows: {bm: {cells}}, data}
  const tournaments = new Set();
  const filtersForm = $("#filters");
  const tournamentSelect = filtersForm.elements.tournament;
  let eventsSeq = 0;

  function filterQuery() {
    const params = new URLSearchParams();
    const f = filtersForm.elements;
    if (f.q.value.trim()) params.set("q", f.q.value.trim());
    if (f.tournament.value) params.set("tournament", f.tournament.value);
    for (const name of ["kickoff_from", "kickoff_to"]) {
      const v = f[name].value; // local wall time; the API wants RFC 3339 with an offset
      if (v) {
        const d = new Date(v);
        if (!Number.isNaN(d.getTime())) params.set(name, d.toISOString());
      }
    }
    const s = params.toString();
    return s ? `?${s}` : "";
  }

  function buildEventBody(ev) {
    const tbody = el("tbody", { class: "event", dataset: { eventId: ev.sportradar_id } });
    const rows = {};
    BOOKMAKERS.forEach((bm, i) => {
      const tr = el("tr", { class: `bm bm-${bm}`, dataset: { bookmaker: bm } });
      const cells = {};
      if (i === 0) {
        cells.kickoff = el("td", { class: "kickoff", rowspan: String(BOOKMAKERS.length) });
        cells.kickoffTime = el("time");
        cells.kickoff.append(cells.kickoffTime);
        const btn = el("button", { type: "button", class: "event-link" });
        cells.teams = el("span", { class: "teams" });
        cells.tournament = el("span", { class: "tournament" });
        btn.append(cells.teams, cells.tournament);
        btn.addEventListener("click", () => openDetail(ev.sportradar_id));
        cells.event = el("th", { scope: "rowgroup", class: "event-cell", rowspan: String(BOOKMAKERS.length) }, btn);
        tr.append(cells.kickoff, cells.event);
      }
      tr.append(el("th", { scope: "row", class: "bm-name" }, BM_LABEL[bm]));
      cells.prices = {};
      cells.margins = {};
      for (const [market, names] of FEATURED) {
        cells.prices[market] = {};
        for (const name of names) {
          const td = el("td", { class: "price", dataset: { market, outcome: name } });
          cells.prices[market][name] = td;
          tr.append(td);
        }
        const m = el("td", { class: "margin", dataset: { market } });
        cells.margins[market] = m;
        tr.append(m);
      }
      cells.fresh = el("td", { class: "fresh" });
      cells.freshTime = el("time");
      cells.fresh.append(cells.freshTime);
      tr.append(cells.fresh);
      tbody.append(tr);
      rows[bm] = { tr, cells };
    });
    return { tbody, rows, data: ev };
  }

  // colour of a competitor's price against BetPawa's: from the punter's point of view
  function versus(mine, home) {
    if (typeof mine !== "number" || typeof home !== "number") return null;
    if (mine > home) return "better";
    if (mine < home) return "worse";
    return "equal";
  }

  function setCompare(td, cmp, what) {
    for (const c of ["better", "worse", "equal"]) setClass(td, c, cmp === c);
    setAttr(td, "title", cmp && cmp !== "equal" ? `${what} ${cmp === "better" ? "better" : "worse"} for the punter than BetPawa` : null);
  }

  function tick(td, before, after) {
    if (typeof before === "number" && typeof after === "number" && before !== after) {
      td.classList.remove("up", "down");
      void td.offsetWidth; // restart the highlight
      td.classList.add(after > before ? "up" : "down");
    }
  }

  function updateEventBody(entry, ev) {
    entry.data = ev;
    const first = entry.rows[BOOKMAKERS[0]].cells;
    setText(first.kickoffTime, localTime(ev.kickoff_at, kickoffFmt));
    setAttr(first.kickoffTime, "datetime", ev.kickoff_at);
    setText(first.teams, `${ev.home_team} – ${ev.away_team}`);
    setText(first.tournament, ev.tournament);
    const home = (ev.bookmakers[HOME] || {}).markets || {};
    for (const bm of BOOKMAKERS) {
      const { tr, cells } = entry.rows[bm];
      const b = ev.bookmakers[bm];
      if (b) learnClock(b.observed_at, b.age_s);
      for (const [market, names] of FEATURED) {
        const q = b && b.markets ? b.markets[market] : null;
        const h = home[market];
        for (const name of names) {
          const td = cells.prices[market][name];
          const p = q && q.prices ? q.prices[name] : undefined;
          const before = td.dataset.price === undefined ? undefined : Number(td.dataset.price);
          setText(td, price(p));
          if (typeof p === "number") {
            tick(td, before, p);
            td.dataset.price = String(p);
          } else delete td.dataset.price;
          setCompare(td, bm === HOME ? null : versus(p, h && h.prices ? h.prices[name] : undefined), "price");
        }
        const mtd = cells.margins[market];
        const m = q ? q.margin : null;
        setText(mtd, pct(m));
        // a lower margin than BetPawa's is better for the punter
        const hm = h ? h.margin : null;
        setCompare(mtd, bm === HOME ? null : versus(typeof hm === "number" ? hm : undefined, typeof m === "number" ? m : undefined), "margin");
      }
      const observed = b ? b.observed_at : null;
      cells.freshTime.dataset.observedAt = observed || "";
      setAttr(cells.freshTime, "datetime", observed);
      setAttr(cells.fresh, "title", observed ? `last confirmed ${localTime(observed, fullFmt)}` : "no feed for this event");
      setClass(tr, "missing", !b);
    }
    refreshFreshness(entry);
  }

  function refreshFreshness(entry) {
    for (const bm of BOOKMAKERS) {
      const { tr, cells } = entry.rows[bm];
      const observed = cells.freshTime.dataset.observedAt;
      const age = ageSeconds(observed || null);
      setText(cells.freshTime, observed ? ago(observed) : "no feed");
      setClass(tr, "stale", age === null || age > STALE_FEED_S);
    }
  }

  function renderEvents(body, seq) {
    if (seq !== eventsSeq) return; // an older answer arriving late: ignore
    const events = body.events || [];
    const seen = new Set();
    let anchor = $("thead", eventsTable);
    for (const ev of events) {
      tournaments.add(ev.tournament);
      seen.add(ev.sportradar_id);
      let entry = eventBodies.get(ev.sportradar_id);
      if (!entry) {
        entry = buildEventBody(ev);
        eventBodies.set(ev.sportradar_id, entry);
      }
      updateEventBody(entry, ev);
      if (anchor.nextSibling !== entry.tbody) anchor.after(entry.tbody); // move only when out of order
      anchor = entry.tbody;
    }
    for (const [id, entry] of eventBodies) {
      if (!seen.has(id)) {
        entry.tbody.remove();
        eventBodies.delete(id);
      }
    }
    setText($("#event-count"), `${events.length}${body.partial ? " (partial)" : ""}`);
    $("#events-empty").hidden = events.length > 0;
    syncTournaments();
  }

  function syncTournaments() {
    const have = new Set([...tournamentSelect.options].map((o) => o.value));
    const missing = [...tournaments].filter((t) => !have.has(t));
    if (!missing.length) return;
    const current = tournamentSelect.value;
    const all = [...tournaments].sort((a, b) => a.localeCompare(b));
    for (const t of all) {
      if (!have.has(t)) {
        const before = [...tournamentSelect.options].slice(1).find((o) => o.value.localeCompare(t) > 0);
        tournamentSelect.insertBefore(el("option", { value: t }, t), before || null);
      }
    }
    tournamentSelect.value = current;
  }

  async function pollEvents() {
    const seq = ++eventsSeq;
    try {
      renderEvents(await getJSON(`/odds/events${filterQuery()}`), seq);
      report("events", null);
    } catch (err) {
      report("events", err);
    }
  }

  let filterTimer = null;
  filtersForm.addEventListener("input", () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(pollEvents, 250);
  });
  filtersForm.addEventListener("reset", () => setTimeout(pollEvents, 0));
  filtersForm.addEventListener("submit", (e) => {
    e.preventDefault();
    pollEvents();
  });

  // ---- event detail
  const listView = $("#list-view");
  const detailView = $("#detail-view");
  const detailMarkets = $("#detail-markets");
  const marketTables = new Map(); // market key -> {table, ...}
  let detailId = null;
  let detailSeq = 0;

  function openDetail(id) {
    if (location.hash !== `#event/${id}`) location.hash = `event/${id}`;
    else route();
  }
  function route() {
    const m = location.hash.match(/^#event\/(.+)$/);
    const id = m ? decodeURIComponent(m[1]) : null;
    if (id === detailId) return;
    detailId = id;
    listView.hidden = !!id;
    detailView.hidden = !id;
    if (id) {
      detailMarkets.replaceChildren();
      marketTables.clear();
      $("#detail-fresh tbody").replaceChildren();
      setText($("#detail-title"), "Loading…");
      setText($("#detail-meta"), "");
      pollDetail();
      $("#back").focus();
    } else {
      pollEvents();
    }
  }
  window.addEventListener("hashchange", route);
  $("#back").addEventListener("click", () => {
    history.pushState(null, "", location.pathname + location.search);
    route();
  });

  const OUTCOME_ORDER = ["1", "X", "2", "1X", "12", "X2", "Over", "Under", "Yes", "No", "Odd", "Even"];
  const outcomeRank = (name) => {
    const i = OUTCOME_ORDER.indexOf(name);
    return i < 0 ? OUTCOME_ORDER.length : i;
  };
  const marketKey = (m) => `${m.market_id}|${m.line === null ? "" : m.line}`;
  const marketTitle = (m) => (m.line === null || m.line === undefined ? m.market_name : `${m.market_name} · ${m.line}`);

  function renderDetail(d, seq) {
    if (seq !== detailSeq || d.sportradar_id !== detailId) return;
    setText($("#detail-title"), `${d.home_team} – ${d.away_team}`);
    setText($("#detail-meta"), `${d.tournament} · kickoff ${localTime(d.kickoff_at, fullFmt)} · SportRadar ${d.sportradar_id}`);
    // freshness per bookmaker
    const ftbody = $("#detail-fresh tbody");
    BOOKMAKERS.forEach((bm, i) => {
      let tr = ftbody.children[i];
      if (!tr) {
        tr = el("tr", {}, el("th", { scope: "row" }, BM_LABEL[bm]), el("td", {}, el("time")), el("td", { class: "fresh" }, el("time")));
        ftbody.append(tr);
      }
      const f = d.bookmakers[bm];
      if (f) learnClock(f.observed_at, f.age_s);
      const observed = f ? f.observed_at : null;
      setText(tr.children[1].firstChild, observed ? localTime(observed, fullFmt) : "no feed");
      const t = tr.children[2].firstChild;
      t.dataset.observedAt = observed || "";
      setText(t, observed ? ago(observed) : "no feed");
      const age = ageSeconds(observed);
      setClass(tr, "stale", age === null || age > STALE_FEED_S);
    });

    const seen = new Set();
    let anchor = null;
    for (const m of d.markets) {
      const key = marketKey(m);
      seen.add(key);
      let t = marketTables.get(key);
      if (!t) {
        t = buildMarketTable(m);
        marketTables.set(key, t);
      }
      updateMarketTable(t, m);
      const want = anchor ? anchor.nextSibling : detailMarkets.firstChild;
      if (want !== t.section) (anchor ? anchor.after(t.section) : detailMarkets.prepend(t.section));
      anchor = t.section;
    }
    for (const [key, t] of marketTables) {
      if (!seen.has(key)) {
        t.section.remove();
        marketTables.delete(key);
      }
    }
  }

  // where the fair reference of a market comes from: a book's own probabilities, or a de-vig of its prices
  const fairOrigin = (f) => `${f.method === "book" ? "" : `${f.method} de-vig of `}${BM_LABEL[f.source] || f.source}`;

  // a price cell's tooltip: the book's fair odds for the outcome, the bettor's edge and its share of the margin
  function fairTitle(o, view) {
    if (!o) return null;
    const share = typeof o.margin_share === "number" ? ` · ${pct(o.margin_share)} of the margin` : "";
    return `fair ${price(o.fair_odds)} (${view.method}) · edge ${signedPct(o.edge).replace(" pp", " %")}${share}`;
  }

  function buildMarketTable(m) {
    const table = el("table", { class: "grid market", dataset: { market: marketKey(m) } });
    table.append(el("caption", {}, marketTitle(m)));
    const head = el("tr", {}, el("th", { scope: "col" }, "Outcome"));
    for (const bm of BOOKMAKERS) head.append(el("th", { scope: "col", class: `bm-${bm}` }, BM_LABEL[bm]));
    head.append(
      el("th", { scope: "col" }, "Best"),
      el("th", { scope: "col", class: "fair-col", title: "Fair odds: the book's own probabilities where it gives them, else the de-vigged prices" }, "Fair"),
      el("th", { scope: "col", title: "BetPawa minus the best competitor (price; margin in points)" }, "BetPawa Δ"),
    );
    table.append(el("thead", {}, head));
    const tbody = el("tbody");
    const tfoot = el("tfoot");
    table.append(tbody, tfoot);
    const marginRow = el("tr", { class: "margin-row" }, el("th", { scope: "row" }, "Margin"));
    const marginCells = {};
    for (const bm of BOOKMAKERS) {
      marginCells[bm] = el("td", { class: "margin" });
      marginRow.append(marginCells[bm]);
    }
    const bestMargin = el("td", { class: "margin" });
    const fairSource = el("td", { class: "fair-source" });
    const marginDelta = el("td", { class: "delta" });
    marginRow.append(bestMargin, fairSource, marginDelta);
    tfoot.append(marginRow);
    const section = el("section", { class: "market-card" }, table);
    return { section, table, tbody, rows: new Map(), marginCells, bestMargin, fairSource, marginDelta };
  }

  function updateMarketTable(t, m) {
    const names = [];
    for (const bm of BOOKMAKERS) {
      const q = m.bookmakers[bm];
      for (const o of q ? q.outcomes : []) if (!names.includes(o.name)) names.push(o.name);
    }
    names.sort((a, b) => outcomeRank(a) - outcomeRank(b) || a.localeCompare(b));
    const cmp = m.betpawa_vs_best_competitor;
    let anchor = null;
    for (const name of names) {
      let row = t.rows.get(name);
      if (!row) {
        const tr = el("tr", {}, el("th", { scope: "row" }, name));
        const cells = {};
        for (const bm of BOOKMAKERS) {
          cells[bm] = el("td", { class: "price", dataset: { bookmaker: bm } });
          tr.append(cells[bm]);
        }
        const best = el("td", { class: "best-col" });
        const fair = el("td", { class: "fair-col" });
        const delta = el("td", { class: "delta" });
        tr.append(best, fair, delta);
        row = { tr, cells, best, fair, delta };
        t.rows.set(name, row);
      }
      const want = anchor ? anchor.nextSibling : t.tbody.firstChild;
      if (want !== row.tr) (anchor ? anchor.after(row.tr) : t.tbody.prepend(row.tr));
      anchor = row.tr;
      const best = m.best[name];
      const homeOutcome = ((m.bookmakers[HOME] || {}).outcomes || []).find((o) => o.name === name);
      const homePrice = homeOutcome && !homeOutcome.suspended ? homeOutcome.price : undefined;
      for (const bm of BOOKMAKERS) {
        const td = row.cells[bm];
        const q = m.bookmakers[bm];
        const o = q ? q.outcomes.find((x) => x.name === name) : null;
        const before = td.dataset.price === undefined ? undefined : Number(td.dataset.price);
        setText(td, !o ? "—" : o.suspended ? "susp." : price(o.price));
        setClass(td, "suspended", !!(o && o.suspended));
        if (o && !o.suspended && typeof o.price === "number") {
          tick(td, before, o.price);
          td.dataset.price = String(o.price);
        } else delete td.dataset.price;
        setClass(td, "best", !!(best && best.bookmakers.includes(bm)));
        setCompare(td, bm === HOME || !o || o.suspended ? null : versus(o.price, homePrice), "price");
        setAttr(td, "title", fairTitle(q && q.fair && q.fair.outcomes[name], q && q.fair));
      }
      const ref = m.fair && m.fair.outcomes[name];
      setText(row.fair, ref ? price(ref.fair_odds) : "—");
      setAttr(row.fair, "title", ref ? `${pct(ref.probability)} (${fairOrigin(m.fair)})` : null);
      setText(row.best, best ? `${price(best.price)} ${best.bookmakers.map((b) => BM_LABEL[b] || b).join(", ")}` : "—");
      const c = cmp && cmp.outcomes[name];
      setText(row.delta, c && typeof c.delta === "number" ? signed(c.delta) : "—");
      setAttr(row.delta, "title", c && typeof c.delta === "number" ? `BetPawa ${price(c.betpawa)} vs best competitor ${price(c.best_competitor)} (${c.competitors.map((b) => BM_LABEL[b] || b).join(", ")})` : null);
      setClass(row.delta, "worse", !!(c && c.delta < 0)); // BetPawa pays less than a competitor
      setClass(row.delta, "better", !!(c && c.delta > 0));
    }
    for (const [name, row] of t.rows) {
      if (!names.includes(name)) {
        row.tr.remove();
        t.rows.delete(name);
      }
    }
    for (const bm of BOOKMAKERS) {
      const q = m.bookmakers[bm];
      setText(t.marginCells[bm], q ? pct(q.margin) : "—");
    }
    setText(t.bestMargin, cmp && typeof cmp.best_competitor_margin === "number" ? `comp. ${pct(cmp.best_competitor_margin)}` : "");
    setAttr(t.bestMargin, "title", cmp ? "lowest competitor margin" : null);
    setText(t.fairSource, m.fair ? fairOrigin(m.fair) : "");
    setText(t.marginDelta, cmp && typeof cmp.margin_delta === "number" ? signedPct(cmp.margin_delta) : "—");
    setAttr(t.marginDelta, "title", cmp ? "BetPawa margin minus the lowest competitor margin" : null);
    // BetPawa taking a bigger margin than the best competitor is worse for the punter
    setClass(t.marginDelta, "worse", !!(cmp && cmp.margin_delta > 0));
    setClass(t.marginDelta, "better", !!(cmp && cmp.margin_delta < 0));
  }

  async function pollDetail() {
    if (!detailId) return;
    const seq = ++detailSeq;
    try {
      renderDetail(await getJSON(`/odds/events/${encodeURIComponent(detailId)}`), seq);
      report("event", null);
    } catch (err) {
      if (seq === detailSeq) setText($("#detail-title"), `Event ${detailId}: ${err.message}`);
      report("event", err);
    }
  }

  // ---- runs
  const runsBody = $("#runs tbody");
  const runRows = new Map();
  const progress = $("#scrape-progress");
  const scrapeButton = $("#scrape-now");
  let watchedRun = null; // {run_id, started}

  function runRow(run) {
    let row = runRows.get(run.run_id);
    if (!row) {
      const tr = el("tr", { dataset: { runId: run.run_id } });
      const cells = {
        requested: el("td", {}, el("time")),
        trigger: el("td"),
        status: el("td", {}, el("span", { class: "badge" })),
        observed: el("td", { class: "num" }),
        errors: el("td", { class: "num" }),
      };
      tr.append(...Object.values(cells));
      row = { tr, cells };
      runRows.set(run.run_id, row);
    }
    const c = row.cells;
    const when = run.requested_at || run.started_at;
    setText(c.requested.firstChild, localTime(when));
    setAttr(c.requested.firstChild, "datetime", when || null);
    setAttr(c.requested, "title", `run ${run.run_id}${when ? ` · ${localTime(when, fullFmt)}` : ""}`);
    setText(c.trigger, run.trigger || "—");
    const badge = c.status.firstChild;
    setText(badge, run.status === "stale" ? "⚠ stale" : run.status);
    badge.className = `badge status-${run.status}`;
    setAttr(
      badge,
      "title",
      run.status === "stale" ? `no heartbeat since ${localTime(run.last_heartbeat_at, fullFmt)}; detected ${localTime(run.stale_detected_at, fullFmt)}` : null,
    );
    setText(c.observed, `${run.observed ?? 0}${run.failed ? ` (${run.failed} failed)` : ""}`);
    setText(c.errors, String(Array.isArray(run.errors) ? run.errors.length : 0));
    setAttr(c.errors, "title", Array.isArray(run.errors) && run.errors.length ? run.errors.join("\n") : null);
    setClass(row.tr, "stale", run.status === "stale");
    setClass(row.tr, "failed", run.status === "failed");
    setClass(row.tr, "watched", !!watchedRun && watchedRun.run_id === run.run_id);
    return row;
  }

  function renderRuns(body) {
    const runs = (body.runs || []).slice(0, 25);
    if (watchedRun && !runs.some((r) => r.run_id === watchedRun.run_id) && watchedRun.last) runs.unshift(watchedRun.last);
    const seen = new Set();
    let anchor = null;
    for (const run of runs) {
      seen.add(run.run_id);
      const { tr } = runRow(run);
      const want = anchor ? anchor.nextSibling : runsBody.firstChild;
      if (want !== tr) (anchor ? anchor.after(tr) : runsBody.prepend(tr));
      anchor = tr;
    }
    for (const [id, row] of runRows) {
      if (!seen.has(id)) {
        row.tr.remove();
        runRows.delete(id);
      }
    }
    $("#runs-empty").hidden = runs.length > 0;
  }

  async function pollRuns() {
    try {
      renderRuns(await getJSON("/runs?limit=25"));
      report("runs", null);
    } catch (err) {
      report("runs", err);
    }
  }

  function showProgress(run) {
    progress.hidden = false;
    const short = run.run_id.slice(0, 8);
    const secs = ((Date.now() - watchedRun.started) / 1000).toFixed(0);
    let text;
    if (run.status === "requested") text = `Run ${short} requested, waiting for a worker… (${secs} s)`;
    else if (run.status === "running") text = `Run ${short} running: ${run.observed ?? 0} boards observed (${secs} s)`;
    else if (run.status === "completed") text = `Run ${short} completed: ${run.observed ?? 0} boards observed in ${secs} s`;
    else if (run.status === "failed") text = `Run ${short} failed: ${(run.errors || []).join("; ") || "see runs"}`;
    else if (run.status === "stale") text = `Run ${short} went stale (no heartbeat)`;
    else text = `Run ${short}: ${run.status}`;
    setText(progress, text);
    progress.className = `progress status-${run.status}`;
    progress.dataset.runId = run.run_id;
    progress.dataset.status = run.status;
  }

  async function watchRun() {
    if (!watchedRun) return;
    let run;
    try {
      run = await getJSON(`/runs/${encodeURIComponent(watchedRun.run_id)}`);
    } catch (err) {
      // 404 until the runs agent has folded the request in
      run = { run_id: watchedRun.run_id, status: "requested", observed: 0 };
    }
    watchedRun.last = run;
    showProgress(run);
    runRow(run);
    if (TERMINAL.has(run.status)) {
      scrapeButton.disabled = false;
      setText(scrapeButton, "Scrape now");
      pollRuns();
      pollEvents();
      if (detailId) pollDetail();
      return;
    }
    setTimeout(watchRun, RUN_PROGRESS_EVERY_MS);
  }

  scrapeButton.addEventListener("click", async () => {
    scrapeButton.disabled = true;
    setText(scrapeButton, "Scraping…");
    try {
      const { run_id } = await window.oddstream.mutate("/scrape", {}); // token.js
      watchedRun = { run_id, started: Date.now(), last: null };
      showProgress({ run_id, status: "requested", observed: 0 });
      pollRuns();
      watchRun();
    } catch (err) {
      progress.hidden = false;
      progress.className = "progress status-failed";
      setText(progress, `Scrape request refused: ${err.message}`);
      scrapeButton.disabled = false;
      setText(scrapeButton, "Scrape now");
    }
  });

  // ---- clocks: poll loops that never overlap, and a 1 s tick for "ago" texts
  function every(ms, fn) {
    const loop = async () => {
      if (!document.hidden) await fn();
      setTimeout(loop, ms);
    };
    loop();
  }
  every(EVENTS_EVERY_MS, () => (detailId ? pollDetail() : pollEvents()));
  every(RUNS_EVERY_MS, pollRuns);
  setInterval(() => {
    for (const entry of eventBodies.values()) refreshFreshness(entry);
    for (const tr of $("#detail-fresh tbody").children) {
      const t = tr.children[2].firstChild;
      const observed = t.dataset.observedAt || null;
      setText(t, observed ? ago(observed) : "no feed");
      const age = ageSeconds(observed);
      setClass(tr, "stale", age === null || age > STALE_FEED_S);
    }
  }, 1000);
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden) {
      pollRuns();
      detailId ? pollDetail() : pollEvents();
    }
  });
  route();
  // what the page's other modules (runs.js) share with this one
  window.oddstream = { $, el, setText, setClass, setAttr, getJSON, localTime, fullFmt, ago, report, pollRuns, BM_LABEL };
})();
