// oddstream dashboard, runs side: the schedule panel (countdown, pause / resume, interval), a run's
// detail dialog (per bookmaker, errors, heartbeats, retry), and each bookmaker's last 7 days.
// Uses what dashboard.js shares on window.oddstream.
"use strict";

(() => {
  const { $, el, setText, setClass, getJSON, localTime, fullFmt, report, pollRuns, BM_LABEL } = window.oddstream;
  const SCHEDULE_EVERY_MS = 5000;
  const STATS_EVERY_MS = 30000;
  const RUN_EVERY_MS = 2000;

  const seconds = (s) => {
    if (typeof s !== "number") return "—";
    if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
    const m = Math.floor(s / 60);
    return `${m} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;
  };
  const post = (url, body) => window.oddstream.mutate(url, body); // token.js: with the API token when asked

  // ---- the schedule
  const state = $("#schedule-state");
  const form = $("#schedule-form");
  const toggle = $("#schedule-toggle");
  const scheduleError = $("#schedule-error");
  let schedule = null;

  function countdown() {
    if (!schedule) return;
    if (schedule.paused) {
      setText(state, "Paused: no scheduled scrapes");
      state.dataset.paused = "true";
      return;
    }
    state.dataset.paused = "false";
    const left = Math.max(0, (Date.parse(schedule.next_run_at) - Date.now()) / 1000);
    const mm = Math.floor(left / 60);
    const ss = String(Math.floor(left % 60)).padStart(2, "0");
    setText(state, `Every ${seconds(schedule.interval_s)} · next scrape in ${mm}:${ss}`);
    state.title = `next at ${localTime(schedule.next_run_at, fullFmt)}`;
  }

  function showSchedule(body) {
    schedule = body;
    if (document.activeElement !== form.elements.interval_s) form.elements.interval_s.value = String(body.interval_s);
    setText(toggle, body.paused ? "Resume" : "Pause");
    setClass(toggle, "primary", body.paused); // "Resume" stands out while paused
    setClass(toggle, "ghost", !body.paused);
    countdown();
  }

  async function pollSchedule() {
    try {
      showSchedule(await getJSON("/schedule"));
      report("schedule", null);
    } catch (err) {
      report("schedule", err);
    }
  }

  async function change(body) {
    scheduleError.hidden = true;
    try {
      showSchedule(await post("/schedule", body));
    } catch (err) {
      scheduleError.hidden = false;
      setText(scheduleError, `Schedule not changed: ${err.message}`);
    }
  }

  toggle.addEventListener("click", () => schedule && change({ paused: !schedule.paused }));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    change({ interval_s: Number(form.elements.interval_s.value) });
  });

  // ---- a run's detail
  const dialog = $("#run-dialog");
  const books = $("#run-books tbody");
  const retryButton = $("#run-retry");
  const retrySaid = $("#run-retry-said");
  let shownRun = null;
  let runTimer = null;

  function renderRun(run) {
    dialog.dataset.runId = run.run_id;
    dialog.dataset.status = run.status;
    setText($("#run-dialog-title"), `Run ${run.run_id.slice(0, 8)} · ${run.status}`);
    const parts = [
      `trigger ${run.trigger || "—"}`,
      `requested ${localTime(run.requested_at, fullFmt)}`,
      `took ${seconds(run.duration_s)}${run.status === "running" ? " so far" : ""}`,
      `${run.observed ?? 0} boards`,
    ];
    if (run.retry_of) parts.push(`retry of ${run.retry_of.slice(0, 8)}`);
    if (run.coalesced_into) parts.push(`shared the run ${run.coalesced_into.slice(0, 8)}`);
    setText($("#run-dialog-meta"), parts.join(" · "));
    books.replaceChildren(
      ...Object.entries(run.per_bookmaker || {}).map(([bm, c]) =>
        el(
          "tr",
          { dataset: { bookmaker: bm }, class: c.errors ? "failed" : "" },
          el("th", { scope: "row" }, BM_LABEL[bm] || bm),
          ...["listed", "events", "markets", "unmapped", "errors"].map((k) => el("td", { class: "num" }, String(c[k] ?? 0))),
          el("td", { class: "num" }, c.ms ? seconds(c.ms / 1000) : "—"),
        ),
      ),
    );
    const errors = run.errors || [];
    $("#run-errors").replaceChildren(...(errors.length ? errors.map((e) => el("li", {}, e)) : [el("li", { class: "empty" }, "none")]));
    $("#run-beats").replaceChildren(
      ...(run.heartbeats || []).map((b) =>
        el("li", {}, el("time", { datetime: b.at }, localTime(b.at)), ` · ${b.observed} boards${b.failed ? `, ${b.failed} failed` : ""}`),
      ),
    );
    retryButton.disabled = !["completed", "failed", "stale"].includes(run.status);
  }

  async function loadRun() {
    clearTimeout(runTimer);
    if (!shownRun || !dialog.open) return;
    try {
      const run = await getJSON(`/runs/${encodeURIComponent(shownRun)}`);
      renderRun(run);
      if (run.status === "running" || run.status === "requested") runTimer = setTimeout(loadRun, RUN_EVERY_MS);
    } catch (err) {
      setText($("#run-dialog-meta"), `Run not found yet: ${err.message}`);
      runTimer = setTimeout(loadRun, RUN_EVERY_MS);
    }
  }

  function openRun(runId, said = "") {
    shownRun = runId;
    setText(retrySaid, said);
    if (!dialog.open) dialog.showModal();
    loadRun();
  }

  $("#runs tbody").addEventListener("click", (e) => {
    const tr = e.target.closest("tr[data-run-id]");
    if (tr) openRun(tr.dataset.runId);
  });
  $("#runs tbody").addEventListener("keydown", (e) => {
    const tr = e.target.closest("tr[data-run-id]");
    if (tr && (e.key === "Enter" || e.key === " ")) {
      e.preventDefault();
      openRun(tr.dataset.runId);
    }
  });
  new MutationObserver(() => {
    for (const tr of $("#runs tbody").children) if (!tr.hasAttribute("tabindex")) tr.setAttribute("tabindex", "0");
  }).observe($("#runs tbody"), { childList: true });
  $("#run-dialog-close").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => clearTimeout(runTimer));

  retryButton.addEventListener("click", async () => {
    retryButton.disabled = true;
    try {
      const { run_id } = await post(`/runs/${encodeURIComponent(shownRun)}/retry`, {});
      pollRuns();
      openRun(run_id, `retry requested: run ${run_id.slice(0, 8)}`);
    } catch (err) {
      setText(retrySaid, `Retry refused: ${err.message}`);
      retryButton.disabled = false;
    }
  });

  // ---- each bookmaker's last 7 days
  async function pollStats() {
    try {
      const body = await getJSON("/runs/stats?days=7");
      $("#run-stats tbody").replaceChildren(
        ...Object.entries(body.bookmakers).map(([bm, s]) =>
          el(
            "tr",
            { dataset: { bookmaker: bm } },
            el("th", { scope: "row" }, BM_LABEL[bm] || bm),
            el("td", { class: "num" }, String(s.runs)),
            el("td", { class: "num" }, `${(s.success_rate * 100).toFixed(0)}%`),
            el("td", { class: "num" }, seconds(s.median_s)),
            el("td", { class: "num" }, seconds(s.p90_s)),
          ),
        ),
      );
      report("stats", null);
    } catch (err) {
      report("stats", err);
    }
  }

  function every(ms, fn) {
    const loop = async () => {
      if (!document.hidden) await fn();
      setTimeout(loop, ms);
    };
    loop();
  }
  every(SCHEDULE_EVERY_MS, pollSchedule);
  every(STATS_EVERY_MS, pollStats);
  setInterval(countdown, 1000);
})();
