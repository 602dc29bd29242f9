// oddstream dashboard: changes pushed as they happen. An EventSource on /odds/stream follows the
// events on screen (?sportradar_id= for each: a page of the list, or the event of the detail view);
// each "change" (an OddsChanged) is applied to the rows shown (dashboard.js's board.applyChange), so
// the list is not polled every few seconds while the stream is open. The browser resumes a dropped
// stream by itself with Last-Event-ID; when the events on screen change, the stream is opened again
// from the last cursor (?cursor=), so nothing between the two is missed. A "reset" (what was missed
// is past the topic's retention) asks the board again.
"use strict";

(() => {
  const { board, setText, setClass, $ } = window.oddstream;
  const status = $("#stream-status");
  let source = null;
  let followed = "";
  let cursor = null; // the id of the last message: where a new stream takes over
  let applied = 0;
  let retryTimer = null;

  function show(state, text) {
    status.dataset.state = state;
    setText(status, text);
    setClass(status, "live", state === "open");
  }

  function open() {
    if (source) source.close();
    clearTimeout(retryTimer);
    if (!followed) {
      source = null;
      board.setStreaming(false);
      return show("idle", "push: nothing shown");
    }
    const q = new URLSearchParams(followed.split(",").map((id) => ["sportradar_id", id]));
    if (cursor) q.set("cursor", cursor);
    const es = new EventSource(`/odds/stream?${q}`);
    source = es;
    const remember = (e) => {
      if (e.lastEventId) cursor = e.lastEventId;
    };
    es.addEventListener("open", () => {
      board.setStreaming(true);
      show("open", "live");
    });
    es.addEventListener("message", remember); // the opening id-only block
    es.addEventListener("change", (e) => {
      remember(e);
      let change;
      try {
        change = JSON.parse(e.data);
      } catch (_) {
        return;
      }
      if (board.applyChange(change)) status.dataset.applied = String((applied += 1));
    });
    es.addEventListener("reset", (e) => {
      remember(e);
      board.refresh();
    });
    es.addEventListener("error", () => {
      if (source !== es) return;
      // the browser retries by itself; the board is polled meanwhile so nothing waits on the stream
      board.setStreaming(false);
      if (es.readyState === EventSource.CLOSED) {
        show("retrying", "push closed: polling");
        retryTimer = setTimeout(open, 5000);
      } else show("retrying", "reconnecting…");
    });
  }

  // the events on screen; the stream is opened again only when they changed
  function follow(ids) {
    const wanted = [...new Set(ids)].sort().join(",");
    if (wanted === followed && source) return;
    followed = wanted;
    open();
  }

  if (!window.EventSource) show("off", "push unavailable: polling");
  window.oddstream.stream = { follow: window.EventSource ? follow : () => {}, close: () => source && source.close() };
})();
