// The console's progressive enhancement: no build step, no dependency. Every page works without it.
"use strict";
(function () {
  var base = document.body.getAttribute("data-base") || "/console";

  // A select that submits its form when changed (the tenant switch).
  document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
    el.addEventListener("change", function () { el.form.submit(); });
  });

  // Forms that ask before doing something that cannot be undone.
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { ev.preventDefault(); }
    });
  });

  // Live preview: a form with data-preview posts itself there as the operator types, and shows the
  // answer (rendered by the server with the real template engine) in the element data-preview-target names.
  document.querySelectorAll("form[data-preview]").forEach(function (form) {
    var target = document.getElementById(form.getAttribute("data-preview-target"));
    var timer = null;
    function refresh() {
      var body = new URLSearchParams(new FormData(form));
      fetch(form.getAttribute("data-preview"), {method: "POST", body: body, credentials: "same-origin",
        headers: {"Accept": "text/html"}})
        .then(function (r) {
          // A signed-out session answers the sign-in page (a redirect): never put that in the box.
          if (!r.ok || r.redirected) { throw new Error("preview unavailable"); }
          return r.text();
        })
        .then(function (html) { target.innerHTML = html; })
        .catch(function () {
          target.textContent = "Prévia indisponível agora (recarregue a página); salvar continua validando o texto.";
        });
    }
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 250); });
  });

  // Live progress: each queue row follows the event stream; on an event of its queue it asks the console
  // for the queue's progress. Without a stream (or when it drops) it polls active queues every 3 s.
  var rows = Array.prototype.slice.call(document.querySelectorAll("[data-queue-row]"));
  if (!rows.length) { return; }
  var TERMINAL = {completed: 1, cancelled: 1, failed: 1};
  var pending = {};

  function update(id) {
    if (pending[id]) { return; }
    pending[id] = true;
    fetch(base + "/queues/" + id + "/progress", {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (p) {
        pending[id] = false;
        if (!p) { return; }
        document.querySelectorAll("[data-queue-row='" + id + "']").forEach(function (row) {
          // The detail page's fields sit around its bar, in its section; a list row holds its own.
          var scope = row.closest("section[data-live]") || row;
          var bar = row.querySelector(".progress");
          if (bar) {
            bar.setAttribute("aria-valuenow", p.percent);
            bar.setAttribute("data-status", p.status);
            bar.querySelector(".bar").value = p.percent;
          }
          ["percent", "sent", "failed", "unknown", "pending", "eta", "status_words", "reason"].forEach(function (f) {
            scope.querySelectorAll("[data-field='" + f + "']").forEach(function (el) { el.textContent = p[f]; });
          });
          scope.querySelectorAll(".status").forEach(function (el) { el.className = "status s-" + p.status; });
        });
      })
      .catch(function () { pending[id] = false; });
  }

  function active() {
    return rows.filter(function (row) {
      var bar = row.querySelector(".progress");
      return bar && !TERMINAL[bar.getAttribute("data-status")];
    }).map(function (row) { return row.getAttribute("data-queue-row"); });
  }

  var poll = null;
  function startPolling() {
    if (poll) { return; }
    poll = setInterval(function () { active().forEach(update); }, 3000);
  }
  function stopPolling() {
    if (poll) { clearInterval(poll); poll = null; }
  }

  if (!window.EventSource) { startPolling(); return; }
  var ids = {};
  rows.forEach(function (row) { ids[row.getAttribute("data-queue-row")] = true; });
  var live = document.querySelector("[data-after]");
  var url = "/api/v1/billing/events?after=" + encodeURIComponent(live ? live.getAttribute("data-after") : "0");
  if (rows.length === 1) { url += "&queue_id=" + encodeURIComponent(rows[0].getAttribute("data-queue-row")); }
  var stream = new EventSource(url, {withCredentials: true});
  stream.onmessage = function (ev) {
    try {
      var data = JSON.parse(ev.data);
      var id = (data.data && data.data.queue_id) || data.queue_id;
      if (id && ids[id]) { update(id); }
    } catch (e) { /* a heartbeat or an event of another kind */ }
  };
  ["queue.started", "queue.paused", "queue.resumed", "queue.completed", "queue.cancelled", "contact.sent",
   "contact.failed", "contact.unknown", "contact.expired", "contact.skipped", "contact.cancelled",
   "contact.delivered", "contact.read", "contact.replied", "contact.opted_out"].forEach(function (type) {
    stream.addEventListener(type, stream.onmessage);
  });
  // The browser reconnects by itself (from the last id); meanwhile the active rows are polled.
  stream.onerror = function () { startPolling(); };
  stream.onopen = function () { stopPolling(); active().forEach(update); };
  // A stream that opens but says nothing new is still checked now and then (a missed event costs latency).
  setInterval(function () { active().forEach(update); }, 15000);
})();
