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
    ["double_chance", ["1X", "X2", "12"]],
  ];
  const FEATURED_LABEL = { "1x2": "1X2", over_under_2_5: "O/U 2.5", btts: "BTTS", double_chance: "Double Chance" };
  const STALE_FEED_S = 600; // a feed older than this (or missing) is stale
  const EVENTS_EVERY_MS = 4000;
  const EVENTS_STREAMING_EVERY_MS = 30000; // with /odds/stream open: changes are pushed (stream.js)
  // the featured markets of the list by (market id, line), as agents/board_view.FEATURED has them
  const FEATURED_KEY = { "3743|": "1x2", "5000|2.5": "over_under_2_5", "3795|": "btts", "4693|": "double_chance" };
  const FAIR_TOTAL = { double_chance: 2 }; // a Double Chance's outcomes cover every result twice
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

  // ---- column choices (kept in localStorage): bookmakers and featured markets shown
  const COLUMNS_KEY = "oddstream.columns";
  const columns = (() => {
    try {
      const saved = JSON.parse(localStorage.getItem(COLUMNS_KEY) || "{}");
      return { hiddenBooks: new Set(saved.hiddenBooks || []), hiddenMarkets: new Set(saved.hiddenMarkets || []) };
    } catch (_) {
      return { hiddenBooks: new Set(), hiddenMarkets: new Set() };
    }
  })();
  const saveColumns = () => {
    try {
      localStorage.setItem(COLUMNS_KEY, JSON.stringify({ hiddenBooks: [...columns.hiddenBooks], hiddenMarkets: [...columns.hiddenMarkets] }));
    } catch (_) {
      /* private mode: choices last this page only */
    }
  };
  const visibleBooks = () => BOOKMAKERS.filter((bm) => !columns.hiddenBooks.has(bm));
  const visibleFeatured = () => FEATURED.filter(([market]) => !columns.hiddenMarkets.has(market));
  // the best price of an outcome over the bookmakers shown (suspended and missing prices are no offer)
  function bestOver(books, priceOf) {
    let best = null;
    for (const bm of books) {
      const p = priceOf(bm);
      if (typeof p === "number" && (best === null || p > best.price)) best = { price: p, bookmakers: [bm] };
      else if (best && p === best.price) best.bookmakers.push(bm);
    }
    return best;
  }

  function buildColumnChoices() {
    const books = $("#columns-books");
    const markets = $("#columns-markets");
    const box = (name, label, on, change) => {
      const input = el("input", { type: "checkbox", name });
      input.checked = on;
      input.addEventListener("change", () => change(input.checked));
      return el("label", {}, input, label);
    };
    books.replaceChildren(
      ...BOOKMAKERS.map((bm) =>
        box(`show-${bm}`, BM_LABEL[bm], !columns.hiddenBooks.has(bm), (on) => {
          on ? columns.hiddenBooks.delete(bm) : columns.hiddenBooks.add(bm);
          saveColumns();
          rebuildBoard();
        }),
      ),
    );
    markets.replaceChildren(
      ...FEATURED.map(([market]) =>
        box(`show-${market}`, FEATURED_LABEL[market], !columns.hiddenMarkets.has(market), (on) => {
          on ? columns.hiddenMarkets.delete(market) : columns.hiddenMarkets.add(market);
          saveColumns();
          rebuildBoard();
        }),
      ),
    );
  }

  // ---- events list: one page at a time, filtered and sorted by the server
  const eventsTable = $("#events");
  const eventBodies = new Map(); // sportradar_id -> {tbody, rows: {bm: {cells}}, data}
  const filtersForm = $("#filters");
  let eventsSeq = 0;
  let page = 1;
  let lastEvents = null;

  const selected = (select) => [...select.selectedOptions].map((o) => o.value).filter(Boolean);
  function filterQuery() {
    const params = new URLSearchParams();
    const f = filtersForm.elements;
    if (f.q.value.trim()) params.set("q", f.q.value.trim());
    for (const c of selected(f.country)) params.append("country", c);
    for (const t of selected(f.tournament)) params.append("tournament", t);
    for (const name of ["kickoff", "min_bookmakers", "availability", "sort"]) {
      if (f[name].value && !(name === "availability" && f[name].value === "all") && !(name === "sort" && f[name].value === "kickoff")) {
        params.set(name, f[name].value);
      }
    }
    if (f.include_started.checked) params.set("include_started", "true");
    for (const name of ["kickoff_from", "kickoff_to"]) {
      const v = f[name].value; // local wall time; the API wants RFC 3339 with an offset
      if (v) {
        const d = new Date(v);
        if (!Number.isNaN(d.getTime())) params.set(name, d.toISOString());
      }
    }
    params.set("page", String(page));
    params.set("page_size", $("#page-size").value);
    return `?${params.toString()}`;
  }

  function buildHead() {
    const thead = $("thead", eventsTable);
    const featured = visibleFeatured();
    const group = el("tr", { class: "group" });
    for (const t of ["Kickoff", "Event", "Bookmaker"]) group.append(el("th", { scope: "col", rowspan: "2" }, t));
    const names = el("tr");
    for (const [market, outcomes] of featured) {
      group.append(el("th", { scope: "colgroup", colspan: String(outcomes.length + 1), dataset: { market } }, FEATURED_LABEL[market]));
      for (const o of outcomes) names.append(el("th", { scope: "col" }, o));
      names.append(el("th", { scope: "col", class: "m" }, "Margin"));
    }
    group.append(el("th", { scope: "col", rowspan: "2" }, "Updated"));
    thead.replaceChildren(group, names);
  }

  function buildEventBody(ev) {
    const tbody = el("tbody", { class: "event", dataset: { eventId: ev.sportradar_id } });
    const rows = {};
    const books = visibleBooks();
    books.forEach((bm, i) => {
      const tr = el("tr", { class: `bm bm-${bm}`, dataset: { bookmaker: bm } });
      const cells = {};
      if (i === 0) {
        cells.kickoff = el("td", { class: "kickoff", rowspan: String(books.length) });
        cells.kickoffTime = el("time");
        cells.kickoff.append(cells.kickoffTime);
        const btn = el("button", { type: "button", class: "event-link" });
        cells.teams = el("span", { class: "teams" });
        cells.tournament = el("span", { class: "tournament" });
        btn.append(cells.teams, cells.tournament);
        btn.addEventListener("click", () => openDetail(ev.sportradar_id));
        cells.event = el("th", { scope: "rowgroup", class: "event-cell", rowspan: String(books.length) }, btn);
        tr.append(cells.kickoff, cells.event);
      }
      tr.append(el("th", { scope: "row", class: "bm-name" }, BM_LABEL[bm]));
      cells.prices = {};
      cells.margins = {};
      for (const [market, names] of visibleFeatured()) {
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
    return { tbody, rows, books, data: ev };
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
    const first = entry.rows[entry.books[0]].cells;
    setText(first.kickoffTime, localTime(ev.kickoff_at, kickoffFmt));
    setAttr(first.kickoffTime, "datetime", ev.kickoff_at);
    setText(first.teams, `${ev.home_team} – ${ev.away_team}`);
    setText(first.tournament, ev.country ? `${ev.tournament} · ${ev.country}` : ev.tournament);
    const homeShown = entry.books.includes(HOME);
    const home = homeShown ? (ev.bookmakers[HOME] || {}).markets || {} : {};
    const priceOf = (bm, market, name) => {
      const q = ((ev.bookmakers[bm] || {}).markets || {})[market];
      return q && q.prices ? q.prices[name] : undefined;
    };
    for (const bm of entry.books) {
      const { tr, cells } = entry.rows[bm];
      const b = ev.bookmakers[bm];
      if (b) learnClock(b.observed_at, b.age_s);
      for (const [market, names] of visibleFeatured()) {
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
          // the best price over the bookmakers shown (recomputed when one is hidden)
          const best = entry.books.length > 1 ? bestOver(entry.books, (x) => priceOf(x, market, name)) : null;
          setClass(td, "best-visible", !!(best && best.bookmakers.includes(bm)));
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
    for (const bm of entry.books) {
      const { tr, cells } = entry.rows[bm];
      const observed = cells.freshTime.dataset.observedAt;
      const age = ageSeconds(observed || null);
      setText(cells.freshTime, observed ? ago(observed) : "no feed");
      setClass(tr, "stale", age === null || age > STALE_FEED_S);
    }
  }

  function rebuildBoard() {
    for (const entry of eventBodies.values()) entry.tbody.remove();
    eventBodies.clear();
    buildHead();
    if (lastEvents) renderEvents(lastEvents, eventsSeq);
  }

  // a page answered before a pushed change arrives after it: per bookmaker, the newer observation wins,
  // so a late answer never puts an older price back over a pushed one
  function newest(shown, ev) {
    if (!shown || !shown.bookmakers) return ev;
    let bookmakers = ev.bookmakers;
    for (const [bm, book] of Object.entries(shown.bookmakers)) {
      const answered = (ev.bookmakers || {})[bm];
      if (answered && book.observed_at && answered.observed_at && Date.parse(book.observed_at) > Date.parse(answered.observed_at)) {
        bookmakers = { ...bookmakers, [bm]: book };
      }
    }
    return bookmakers === ev.bookmakers ? ev : { ...ev, bookmakers };
  }

  function renderEvents(body, seq) {
    if (seq !== eventsSeq) return; // an older answer arriving late: ignore
    lastEvents = body;
    const events = body.events || [];
    const seen = new Set();
    let anchor = null;
    for (const ev of events) {
      seen.add(ev.sportradar_id);
      let entry = eventBodies.get(ev.sportradar_id);
      if (!entry) {
        entry = buildEventBody(ev);
        eventBodies.set(ev.sportradar_id, entry);
      }
      updateEventBody(entry, newest(entry.data, ev));
      const want = anchor ? anchor.nextSibling : $("thead", eventsTable).nextSibling;
      if (want !== entry.tbody) (anchor || $("thead", eventsTable)).after(entry.tbody); // move only when out of order
      anchor = entry.tbody;
    }
    for (const [id, entry] of eventBodies) {
      if (!seen.has(id)) {
        entry.tbody.remove();
        eventBodies.delete(id);
      }
    }
    const total = body.count || 0;
    const pages = Math.max(1, Math.ceil(total / (body.page_size || 1)));
    setText($("#event-count"), `${total}${body.partial ? " (partial)" : ""}`);
    setText($("#page-info"), `Page ${body.page} of ${pages}`);
    $("#pager").dataset.page = String(body.page);
    $("#pager").dataset.pages = String(pages);
    $("#page-prev").disabled = body.page <= 1;
    $("#page-next").disabled = body.page >= pages;
    $("#events-empty").hidden = events.length > 0;
    if (body.facets) syncFacets(body.facets);
    if (body.page > pages && total > 0) goToPage(pages); // the list shrank under this page
    followShown([...eventBodies.keys()]);
  }

  // the country and tournament choices: every listable event's, whatever the filters
  function syncOptions(select, wanted) {
    const keep = new Set(selected(select));
    const have = [...select.options].map((o) => `${o.value}\u0000${o.textContent}`).join("\u0001");
    if (have === wanted.map(([v, t]) => `${v}\u0000${t}`).join("\u0001")) return;
    select.replaceChildren(
      ...wanted.map(([value, text]) => {
        const o = el("option", { value }, text);
        o.selected = keep.has(value);
        return o;
      }),
    );
  }
  function syncFacets(facets) {
    const f = filtersForm.elements;
    syncOptions(f.country, facets.countries.map((c) => [c.country, `${c.country || "(none)"} (${c.events})`]));
    const byName = new Map();
    for (const t of facets.tournaments) {
      const e = byName.get(t.tournament) || { countries: [], events: 0 };
      if (t.country) e.countries.push(t.country);
      e.events += t.events;
      byName.set(t.tournament, e);
    }
    const names = [...byName.keys()].sort((a, b) => a.localeCompare(b));
    syncOptions(
      f.tournament,
      names.map((n) => [n, `${n}${byName.get(n).countries.length ? ` · ${byName.get(n).countries.join(", ")}` : ""} (${byName.get(n).events})`]),
    );
  }

  // ---- pushed changes (stream.js): an OddsChanged applied to the rows shown, no refetch
  const lineKey = (marketId, line) => `${marketId}|${line === null || line === undefined ? "" : Number(line)}`;
  function featuredQuote(label, outcomes, at) {
    if (!outcomes.length) return null; // withdrawn
    const prices = {};
    for (const o of outcomes) prices[o.name] = o.suspended || typeof o.price !== "number" ? null : o.price;
    const names = FEATURED.find(([m]) => m === label)[1];
    const offered = names.map((n) => prices[n]);
    const complete = offered.every((p) => typeof p === "number" && p > 1);
    const margin = complete ? offered.reduce((acc, p) => acc + 1 / p, 0) / (FAIR_TOTAL[label] || 1) - 1 : null;
    return { prices, margin, last_changed_at: at };
  }
  function applyChange(change) {
    if (detailId) {
      if (change.sportradar_id === detailId) refreshSoon();
      return false;
    }
    const entry = eventBodies.get(change.sportradar_id);
    if (!entry) return false; // not on this page: the next poll of the page has it
    const ev = entry.data;
    const book = ev.bookmakers[change.bookmaker] || { markets: {} };
    if (book.observed_at && Date.parse(change.observed_at) < Date.parse(book.observed_at)) return false; // older
    const markets = { ...book.markets };
    for (const c of change.changes || []) {
      const label = FEATURED_KEY[lineKey(c.market_id, c.line)];
      if (label) markets[label] = featuredQuote(label, c.outcomes || [], change.observed_at);
    }
    ev.bookmakers = { ...ev.bookmakers, [change.bookmaker]: { ...book, markets, observed_at: change.observed_at, age_s: 0 } };
    if (!entry.books.includes(change.bookmaker)) return false; // hidden bookmaker: kept for when it is shown
    updateEventBody(entry, ev);
    entry.tbody.dataset.pushedAt = change.observed_at;
    return true;
  }
  let refreshTimer = null;
  function refreshSoon() {
    if (refreshTimer) return;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      detailId ? pollDetail() : pollEvents();
    }, 300);
  }
  let streaming = false;
  // stream.js follows the events on screen (it loads after this file)
  const followShown = (ids) => window.oddstream && window.oddstream.stream && window.oddstream.stream.follow(ids);
  let lastListPoll = 0;

  async function pollEvents() {
    lastListPoll = Date.now();
    const seq = ++eventsSeq;
    try {
      renderEvents(await getJSON(`/odds/events${filterQuery()}`), seq);
      report("events", null);
    } catch (err) {
      report("events", err);
    }
  }
  function goToPage(n) {
    page = Math.max(1, n);
    pollEvents();
  }

  let filterTimer = null;
  filtersForm.addEventListener("input", () => {
    clearTimeout(filterTimer);
    page = 1; // a new filter starts at its first page
    filterTimer = setTimeout(pollEvents, 250);
  });
  filtersForm.addEventListener("reset", () => {
    page = 1;
    setTimeout(pollEvents, 0);
  });
  filtersForm.addEventListener("submit", (e) => {
    e.preventDefault();
    pollEvents();
  });
  $("#page-prev").addEventListener("click", () => goToPage(page - 1));
  $("#page-next").addEventListener("click", () => goToPage(page + 1));
  $("#page-size").addEventListener("change", () => goToPage(1));
  buildColumnChoices();
  buildHead();

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
      groupSections.clear();
      lastDetail = null;
      marketSearch.value = "";
      $("#detail-summary tbody").replaceChildren();
      $("#detail-fresh tbody").replaceChildren();
      setText($("#detail-title"), "Loading…");
      setText($("#detail-meta"), "");
      resetBoardAt(id);
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
  const GROUP_LABEL = {
    popular: "Popular",
    goals: "Goals",
    handicaps: "Handicaps",
    halves: "Halves",
    combos: "Combos",
    corners: "Corners",
    cards: "Cards",
    other: "Other",
  };
  const marketKey = (m) => `${m.market_id}|${m.line === null ? "" : m.line}`;
  const marketName = (m) => m.name || m.market_name;
  const marketTitle = (m) => (m.line === null || m.line === undefined ? marketName(m) : `${marketName(m)} · ${m.line}`);
  const groupSections = new Map(); // group -> {section, cards}
  const marketSearch = $("#market-search");
  const compareWith = $("#compare-with");
  for (const bm of BOOKMAKERS) if (bm !== HOME) compareWith.append(el("option", { value: bm }, BM_LABEL[bm]));
  let lastDetail = null;
  // the competitors BetPawa is compared with: the one chosen, else every competitor shown
  const compared = () => (compareWith.value ? [compareWith.value] : visibleBooks().filter((bm) => bm !== HOME));
  const offeredPrice = (q, name) => {
    if (!q || q.unavailable_since) return undefined;
    const o = q.outcomes.find((x) => x.name === name);
    return o && !o.suspended && typeof o.price === "number" ? o.price : undefined;
  };

  function groupSection(group) {
    let g = groupSections.get(group);
    if (!g) {
      const cards = el("div", { class: "group-cards" });
      const section = el("section", { class: "group-section", dataset: { group } }, el("h3", {}, GROUP_LABEL[group] || group), cards);
      g = { section, cards };
      groupSections.set(group, g);
    }
    return g;
  }

  function renderSummary(d) {
    const tbody = $("#detail-summary tbody");
    const rival = compareWith.value;
    setText($("#summary-versus"), rival ? BM_LABEL[rival] : "the best competitor");
    const rows = [["all", "All markets", d.summary.all], ...Object.entries(d.summary.groups).map(([g, c]) => [g, GROUP_LABEL[g] || g, c])];
    tbody.replaceChildren(
      ...rows.map(([key, label, card]) => {
        const c = rival ? card.competitors[rival] : null;
        const share = c ? c.best_or_tied_share : card.best_share;
        const gap = c ? c.margin_gap : card.margin_gap;
        const priced = rival
          ? pct(c.prices_share)
          : Object.entries(card.competitors)
              .map(([bm, x]) => `${BM_LABEL[bm] || bm} ${pct(x.prices_share)}`)
              .join(" · ");
        const tr = el("tr", { dataset: { group: key } }, el("th", { scope: "row" }, label), el("td", {}, String(card.markets)), el("td", { class: "share" }, pct(share)), el("td", { class: "gap" }, signedPct(gap)), el("td", {}, priced));
        setClass(tr.children[3], "worse", typeof gap === "number" && gap > 0);
        setClass(tr.children[3], "better", typeof gap === "number" && gap < 0);
        return tr;
      }),
    );
  }

  function applyMarketSearch() {
    const words = marketSearch.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const t of marketTables.values()) {
      const hay = `${t.title} ${t.group}`.toLowerCase();
      const ok = words.every((w) => hay.includes(w));
      t.section.hidden = !ok;
      shown += ok;
    }
    for (const g of groupSections.values()) g.section.hidden = ![...g.cards.children].some((c) => !c.hidden);
    setText($("#market-search-count"), words.length ? `${shown} of ${marketTables.size} markets` : "");
  }
  marketSearch.addEventListener("input", applyMarketSearch);
  compareWith.addEventListener("change", () => {
    if (lastDetail) renderDetail(lastDetail, detailSeq);
  });

  function renderDetail(d, seq) {
    if (seq !== detailSeq || d.sportradar_id !== detailId) return;
    followShown([d.sportradar_id]);
    lastDetail = d;
    setText($("#detail-title"), `${d.home_team} – ${d.away_team}`);
    setText($("#detail-meta"), `${d.tournament}${d.country ? ` · ${d.country}` : ""} · kickoff ${localTime(d.kickoff_at, fullFmt)} · SportRadar ${d.sportradar_id}`);
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
    if (d.summary) renderSummary(d);

    const seen = new Set();
    const anchors = new Map(); // group -> last card placed
    let groupAnchor = null;
    for (const group of d.groups || [...new Set(d.markets.map((m) => m.group || "other"))]) {
      const g = groupSection(group);
      const want = groupAnchor ? groupAnchor.nextSibling : detailMarkets.firstChild;
      if (want !== g.section) (groupAnchor ? groupAnchor.after(g.section) : detailMarkets.prepend(g.section));
      groupAnchor = g.section;
    }
    for (const [group, g] of groupSections) {
      if (!(d.groups || []).includes(group)) {
        g.section.remove();
        groupSections.delete(group);
      }
    }
    for (const m of d.markets) {
      const key = marketKey(m);
      seen.add(key);
      let t = marketTables.get(key);
      if (!t) {
        t = buildMarketTable(m);
        marketTables.set(key, t);
      }
      updateMarketTable(t, m);
      const g = groupSection(m.group || "other");
      const anchor = anchors.get(m.group || "other") || null;
      const want = anchor ? anchor.nextSibling : g.cards.firstChild;
      if (want !== t.section) (anchor ? anchor.after(t.section) : g.cards.prepend(t.section));
      anchors.set(m.group || "other", t.section);
    }
    for (const [key, t] of marketTables) {
      if (!seen.has(key)) {
        t.section.remove();
        marketTables.delete(key);
      }
    }
    applyMarketSearch();
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
    const books = visibleBooks();
    const table = el("table", { class: "grid market", dataset: { market: marketKey(m), group: m.group || "other" } });
    const caption = el("caption", {}, marketTitle(m));
    const unavailable = el("span", { class: "unavailable" });
    caption.append(unavailable);
    table.append(caption);
    const head = el("tr", {}, el("th", { scope: "col" }, "Outcome"));
    for (const bm of books) head.append(el("th", { scope: "col", class: `bm-${bm}` }, BM_LABEL[bm]));
    head.append(
      el("th", { scope: "col" }, "Best"),
      el("th", { scope: "col", class: "fair-col", title: "Fair odds: the book's own probabilities where it gives them, else the de-vigged prices" }, "Fair"),
      el("th", { scope: "col", title: "BetPawa minus the compared competitor's best (price; margin in points)" }, "BetPawa Δ"),
    );
    table.append(el("thead", {}, head));
    const tbody = el("tbody");
    const tfoot = el("tfoot");
    table.append(tbody, tfoot);
    const marginRow = el("tr", { class: "margin-row" }, el("th", { scope: "row" }, "Margin"));
    const marginCells = {};
    for (const bm of books) {
      marginCells[bm] = el("td", { class: "margin" });
      marginRow.append(marginCells[bm]);
    }
    const bestMargin = el("td", { class: "margin" });
    const fairSource = el("td", { class: "fair-source" });
    const marginDelta = el("td", { class: "delta" });
    marginRow.append(bestMargin, fairSource, marginDelta);
    tfoot.append(marginRow);
    const section = el("section", { class: "market-card", dataset: { market: marketKey(m) } }, table);
    return { section, table, tbody, books, unavailable, title: marketTitle(m), group: m.group || "other", rows: new Map(), marginCells, bestMargin, fairSource, marginDelta };
  }

  function updateMarketTable(t, m) {
    const books = t.books;
    const names = [];
    for (const bm of books) {
      const q = m.bookmakers[bm];
      for (const o of q ? q.outcomes : []) if (!names.includes(o.name)) names.push(o.name);
    }
    names.sort((a, b) => outcomeRank(a) - outcomeRank(b) || a.localeCompare(b));
    const rivals = compared();
    const gone = m.unavailable_since || null;
    setClass(t.section, "withdrawn", !!gone);
    setText(t.unavailable, gone ? `unavailable since ${localTime(gone, fullFmt)}` : "");
    let anchor = null;
    for (const name of names) {
      let row = t.rows.get(name);
      if (!row) {
        const tr = el("tr", {}, el("th", { scope: "row" }, name));
        const cells = {};
        for (const bm of books) {
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
      // best price and BetPawa's delta over the bookmakers shown (and the competitor compared with)
      const best = bestOver(books, (bm) => offeredPrice(m.bookmakers[bm], name));
      const homePrice = offeredPrice(m.bookmakers[HOME], name);
      const theirs = bestOver(rivals, (bm) => offeredPrice(m.bookmakers[bm], name));
      for (const bm of books) {
        const td = row.cells[bm];
        const q = m.bookmakers[bm];
        const o = q ? q.outcomes.find((x) => x.name === name) : null;
        const withdrawn = !!(q && q.unavailable_since);
        const before = td.dataset.price === undefined ? undefined : Number(td.dataset.price);
        // never offered: a dash; withdrawn: its last price, struck through; suspended: "susp."
        setText(td, !o ? "—" : withdrawn ? price(o.price) : o.suspended ? "susp." : price(o.price));
        setClass(td, "never", !q);
        setClass(td, "withdrawn", withdrawn);
        setClass(td, "suspended", !!(o && o.suspended && !withdrawn));
        if (o && !withdrawn && !o.suspended && typeof o.price === "number") {
          tick(td, before, o.price);
          td.dataset.price = String(o.price);
        } else delete td.dataset.price;
        setClass(td, "best", !!(best && best.bookmakers.includes(bm)));
        setCompare(td, bm === HOME || !o || o.suspended || withdrawn ? null : versus(o.price, homePrice), "price");
        if (withdrawn) setAttr(td, "title", `unavailable since ${localTime(q.unavailable_since, fullFmt)}`);
        else if (!q) setAttr(td, "title", `${BM_LABEL[bm]} has not offered this market`);
        else setAttr(td, "title", fairTitle(q.fair && q.fair.outcomes[name], q.fair));
      }
      const ref = m.fair && m.fair.outcomes[name];
      setText(row.fair, ref ? price(ref.fair_odds) : "—");
      setAttr(row.fair, "title", ref ? `${pct(ref.probability)} (${fairOrigin(m.fair)})` : null);
      setText(row.best, best ? `${price(best.price)} ${best.bookmakers.map((b) => BM_LABEL[b] || b).join(", ")}` : "—");
      const delta = typeof homePrice === "number" && theirs ? homePrice - theirs.price : null;
      setText(row.delta, typeof delta === "number" ? signed(delta) : "—");
      setAttr(row.delta, "title", theirs && typeof delta === "number" ? `BetPawa ${price(homePrice)} vs ${price(theirs.price)} (${theirs.bookmakers.map((b) => BM_LABEL[b] || b).join(", ")})` : null);
      setClass(row.delta, "worse", typeof delta === "number" && delta < 0); // BetPawa pays less than a competitor
      setClass(row.delta, "better", typeof delta === "number" && delta > 0);
    }
    for (const [name, row] of t.rows) {
      if (!names.includes(name)) {
        row.tr.remove();
        t.rows.delete(name);
      }
    }
    const liveMargin = (bm) => {
      const q = m.bookmakers[bm];
      return q && !q.unavailable_since && typeof q.margin === "number" ? q.margin : null;
    };
    for (const bm of books) setText(t.marginCells[bm], pct(liveMargin(bm)));
    const margins = rivals.map(liveMargin).filter((x) => x !== null);
    const lowest = margins.length ? Math.min(...margins) : null;
    const homeMargin = books.includes(HOME) ? liveMargin(HOME) : null;
    const gap = homeMargin !== null && lowest !== null ? homeMargin - lowest : null;
    setText(t.bestMargin, lowest !== null ? `comp. ${pct(lowest)}` : "");
    setAttr(t.bestMargin, "title", lowest !== null ? "lowest margin of the competitors compared" : null);
    setText(t.fairSource, m.fair ? fairOrigin(m.fair) : "");
    setText(t.marginDelta, gap !== null ? signedPct(gap) : "—");
    setAttr(t.marginDelta, "title", gap !== null ? "BetPawa margin minus the lowest compared competitor margin" : null);
    // BetPawa taking a bigger margin than the best competitor is worse for the punter
    setClass(t.marginDelta, "worse", gap !== null && gap > 0);
    setClass(t.marginDelta, "better", gap !== null && gap < 0);
  }

  // ---- the board at a past moment: a slider from the event's first stored change to the moment the
  // detail was opened; its right end is the live board. The detail is then asked with ?at=T.
  const atSlider = $("#detail-at");
  const atLabel = $("#detail-at-label");
  const atLive = $("#detail-live");
  let detailAt = null; // ISO time shown, or null for the live board

  async function resetBoardAt(id) {
    detailAt = null;
    atSlider.value = atSlider.max;
    atSlider.disabled = true;
    atLive.hidden = true;
    setText(atLabel, "live");
    setClass(detailView, "past", false);
    try {
      const body = await getJSON(`/odds/events/${encodeURIComponent(id)}/history/markets`);
      const firsts = body.markets.map((m) => Date.parse(m.first_at)).filter((t) => !Number.isNaN(t));
      if (id !== detailId || !firsts.length) return;
      atSlider.dataset.from = String(Math.min(...firsts));
      atSlider.dataset.to = String(Date.now());
      atSlider.disabled = false;
    } catch (err) {
      atSlider.title = `no stored history: ${err.message}`;
    }
  }

  // the moment a slider position stands for; null at its right end (live)
  function momentAt(value) {
    const from = Number(atSlider.dataset.from);
    const to = Number(atSlider.dataset.to);
    const v = Number(value);
    if (v >= Number(atSlider.max) || !(to > from)) return null;
    return new Date(from + ((to - from) * v) / Number(atSlider.max)).toISOString();
  }

  function showBoardAt(value) {
    detailAt = momentAt(value);
    if (detailAt === null) {
      atSlider.value = atSlider.max;
      atSlider.dataset.to = String(Date.now());
      setText(atLabel, "live");
    } else {
      setText(atLabel, localTime(detailAt, fullFmt));
    }
    atLive.hidden = detailAt === null;
    setClass(detailView, "past", detailAt !== null);
    pollDetail();
  }
  atSlider.addEventListener("change", () => showBoardAt(atSlider.value));
  atSlider.addEventListener("input", () => {
    const at = momentAt(atSlider.value);
    setText(atLabel, at === null ? "live" : localTime(at, fullFmt));
  });
  atLive.addEventListener("click", () => showBoardAt(atSlider.max));

  async function pollDetail() {
    if (!detailId) return;
    const seq = ++detailSeq;
    try {
      const at = detailAt ? `?at=${encodeURIComponent(detailAt)}` : "";
      renderDetail(await getJSON(`/odds/events/${encodeURIComponent(detailId)}${at}`), seq);
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
  every(EVENTS_EVERY_MS, () => {
    // while the stream is open, the board is asked again only for new events and freshness
    if (streaming && Date.now() - lastListPoll < EVENTS_STREAMING_EVERY_MS) return null;
    lastListPoll = Date.now();
    return detailId ? pollDetail() : pollEvents();
  });
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
  window.oddstream = {
    $, el, setText, setClass, setAttr, getJSON, localTime, fullFmt, ago, report, pollRuns, BM_LABEL,
    board: {
      applyChange,
      refresh: refreshSoon,
      setStreaming: (on) => {
        streaming = on;
      },
    },
  };
})();
