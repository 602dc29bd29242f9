// oddstream dashboard: the API token. When the worker has ODDSTREAM_API_TOKEN set, every POST needs
// "Authorization: Bearer <token>": on a 401 the page asks for the token once, keeps it for this tab's
// session (sessionStorage, never in the page's URL or logs) and sends it with every later change.
// Shares `mutate(url, body)` on window.oddstream; dashboard.js and runs.js post through it.
"use strict";

(() => {
  const KEY = "oddstream.api-token";
  const dialog = document.getElementById("token-dialog");
  const form = document.getElementById("token-form");
  const input = document.getElementById("token-input");
  const why = document.getElementById("token-why");
  let asking = null; // one question at a time, however many buttons were clicked

  function ask(reason) {
    if (asking) return asking;
    asking = new Promise((resolve) => {
      why.textContent = reason;
      input.value = "";
      const done = (value) => {
        dialog.removeEventListener("close", onClose);
        form.removeEventListener("submit", onSubmit);
        asking = null;
        resolve(value);
      };
      const onSubmit = (e) => {
        e.preventDefault();
        const value = input.value.trim();
        dialog.close();
        done(value || null);
      };
      const onClose = () => done(null);
      form.addEventListener("submit", onSubmit);
      dialog.addEventListener("close", onClose);
      dialog.showModal();
      input.focus();
    });
    return asking;
  }

  async function mutate(url, body) {
    for (let attempt = 0; ; attempt += 1) {
      const token = sessionStorage.getItem(KEY);
      const headers = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const resp = await fetch(url, { method: "POST", cache: "no-store", headers, body: JSON.stringify(body ?? {}) });
      let data = null;
      try {
        data = await resp.json();
      } catch (_) {
        /* not JSON */
      }
      if (resp.status === 401 && attempt < 3) {
        sessionStorage.removeItem(KEY);
        const given = await ask(
          token ? "That token was refused: enter the worker's API token." : "This worker asks for its API token before any change."
        );
        if (!given) throw new Error("no API token given");
        sessionStorage.setItem(KEY, given);
        continue;
      }
      if (!resp.ok) throw new Error((data && data.error) || `${resp.status} ${resp.statusText}`);
      return data;
    }
  }

  document.getElementById("token-cancel").addEventListener("click", () => dialog.close());
  window.oddstream.mutate = mutate;
})();
