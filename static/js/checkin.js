// companion check-in: "How is your skin today?" on recovery days. Every answer is queued on
// this phone (with its own id) before it is sent, and leaves the queue only when the server
// has it; the server keeps one check-in per id, so a resend never counts twice. The server's
// rules decide the outcome; offline, only the warning signs decide what is shown.
(function () {
  "use strict";
  var main = document.getElementById("plan");
  var dataEl = document.getElementById("plan-data");
  var match = /^\/s\/([A-Za-z0-9_-]+)\/?$/.exec(location.pathname);
  if (!main || !dataEl || !match) return;
  var token = match[1];
  var plan = JSON.parse(dataEl.textContent);
  var zone = main.getAttribute("data-timezone");
  var key = main.getAttribute("data-key");
  var QUEUE_KEY = "companion:checkin-queue:" + key;
  var LAST_KEY = "companion:checkin-last:" + key;

  var SYMPTOMS = ["redness", "swelling", "pain", "itch"];
  var EMERGENCY_SIGNS = ["breathing", "facial_swelling"];
  var REQUEST_MS = 15000;
  var RETRY_FIRST_MS = 15000, RETRY_MAX_MS = 300000;

  function $(id) { return document.getElementById(id); }
  var card = $("checkin");  // absent on pages rendered after the recovery time

  // --- Dates in the client's zone, whatever zone the phone is in (as app.js).
  function isoDate(date) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
  }
  function todayNumber() {
    return Math.round((Date.parse(isoDate(new Date())) - Date.parse(plan.timeline[0].date)) / 86400000);
  }
  // The phone's own time with its offset, e.g. 2026-11-25T20:05:13+01:00.
  function localInstant(d) {
    function two(n) { return (n < 10 ? "0" : "") + n; }
    var offset = -d.getTimezoneOffset();
    var sign = offset < 0 ? "-" : "+";
    offset = Math.abs(offset);
    return d.getFullYear() + "-" + two(d.getMonth() + 1) + "-" + two(d.getDate()) + "T" +
      two(d.getHours()) + ":" + two(d.getMinutes()) + ":" + two(d.getSeconds()) +
      sign + two(Math.floor(offset / 60)) + ":" + two(offset % 60);
  }
  function newId() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var b = crypto.getRandomValues(new Uint8Array(16));  // Safari before 15.4
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    var hex = Array.prototype.map.call(b, function (x) { return (x + 256).toString(16).slice(1); }).join("");
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join("-");
  }

  // --- This phone's storage, per plan: the queue of unsent answers and the last outcome.
  // Storage full or blocked: kept in memory instead, so this open still sends it.
  var memory = {};
  function read(name, fallback) {
    if (name in memory) return memory[name] || fallback;
    try { return JSON.parse(localStorage.getItem(name)) || fallback; } catch (e) { return fallback; }
  }
  function write(name, value) {
    try {
      localStorage.setItem(name, JSON.stringify(value));
      delete memory[name];
    } catch (e) {
      memory[name] = value;
    }
  }
  function queue() { return read(QUEUE_KEY, []); }
  function enqueue(entry) { var q = queue(); q.push(entry); write(QUEUE_KEY, q); }
  function updateQueued(entry) {
    write(QUEUE_KEY, queue().map(function (e) { return e.client_id === entry.client_id ? entry : e; }));
  }
  function dequeue(clientId) {
    var q = queue().filter(function (e) { return e.client_id !== clientId; });
    if (q.length) return write(QUEUE_KEY, q);
    delete memory[QUEUE_KEY];
    try { localStorage.removeItem(QUEUE_KEY); } catch (e) { /* storage blocked */ }
  }
  function remember(result) {
    var last = read(LAST_KEY, null);
    if (!last || result.day >= last.day) {
      write(LAST_KEY, { day: result.day, outcome: result.outcome, message: result.message, client_id: result.client_id });
    }
  }

  // --- The JSON API with the plan's token: resolves {status, ok, body}; rejects offline.
  function api(method, path, body) {
    var init = { method: method, cache: "no-store", headers: { Authorization: "Bearer " + token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new Error("timeout")); }, REQUEST_MS);
      fetch("/api/v1" + path, init).then(function (response) {
        return response.text().then(function (text) {
          var data = null;
          try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON */ }
          return { status: response.status, ok: response.ok, body: data };
        });
      }).then(function (res) { clearTimeout(timer); resolve(res); },
        function (error) { clearTimeout(timer); reject(error); });
    });
  }

  // One entry: its result when the server has it (2xx), else null and it stays queued.
  var inFlight = {};
  function send(entry) {
    inFlight[entry.client_id] = true;
    return api("POST", "/me/check-ins", entry.body).then(function (res) {
      if (res.status === 200 || res.status === 201) {
        dequeue(entry.client_id);
        remember(res.body);
        return res.body;
      }
      var fields = (res.body && res.body.fields) || {};
      if (res.status === 422 && entry.body.answered_at && Object.keys(fields).join() === "answered_at"
          && /future/.test(fields.answered_at)) {
        // The phone's clock runs fast: let the server date it, under the same id. (An answer
        // from before the treatment belongs to an earlier session: never re-dated.)
        delete entry.body.answered_at;
        updateQueued(entry);
        return send(entry);
      }
      if (res.status < 500 && res.status !== 408 && res.status !== 429) {
        entry.refused = res.status;  // kept, but not tried again until the next open
        updateQueued(entry);
      }
      return null;
    }, function () { return null; }).then(function (item) {
      delete inFlight[entry.client_id];
      return item;
    });
  }

  // Sends the queue oldest first, one request at a time; a second call joins the first.
  var hooks = { sent: function () {}, done: function () {} };
  var flushing = null;
  var retryTimer = null, retryMs = RETRY_FIRST_MS;
  function flush(all) {
    if (flushing) return flushing;
    clearTimeout(retryTimer);
    var entries = queue().filter(function (e) { return (all || !e.refused) && !inFlight[e.client_id]; });
    flushing = entries.reduce(function (chain, entry) {
      return chain.then(function () {
        return send(entry).then(function (item) { if (item) hooks.sent(entry, item); });
      });
    }, Promise.resolve()).then(function () {
      flushing = null;
      if (queue().some(function (e) { return !e.refused; })) retryLater();
      else retryMs = RETRY_FIRST_MS;
      hooks.done();
    });
    return flushing;
  }
  // Online but the server was unreachable (or busy): try again, less and less often.
  function retryLater() {
    clearTimeout(retryTimer);
    retryTimer = setTimeout(function () { if (navigator.onLine) flush(); }, retryMs);
    retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
  }

  // Only when the phone agrees it is online: an "online" event can come with onLine still false.
  window.addEventListener("online", function () { if (navigator.onLine) flush().then(syncToday); });
  var syncToday = function () {};

  // ----------------------------------------------------------------------------------------
  // The card. A page without it (rendered after the recovery time) still sends the queue.
  if (!card) {
    flush(true);
    return;
  }

  var form = $("checkin-form");
  var result = $("checkin-result");
  var button = $("checkin-send");
  var lastDay = parseInt(card.getAttribute("data-last-day"), 10);
  var view = null;       // what the card shows: "hidden", "form:<day>", "queued:<id>:<refused>", "result:<id>"
  var shown = null;      // the check-in the result panel is about
  var again = null;      // the day the client chose "Answer again" on
  var touched = false;   // the form has answers the client has not sent yet

  // Text of an element; an empty one is hidden (a status region stays, and CSS hides it).
  function say(id, text) {
    var el = $(id);
    el.textContent = text || "";
    if (el.getAttribute("role") !== "status") el.hidden = !text;
  }

  function showForm(day) {
    view = "form:" + day;
    shown = null;
    card.hidden = false;
    form.hidden = false;
    result.hidden = true;
  }

  // The result panel: the server's outcome; for a queued answer, what its signs alone say.
  // Every word comes from the page (the template), so the server can say it in any language.
  function show(id, visible) { var el = $(id); if (el) el.hidden = !visible; }
  function showResult(item, options) {
    options = options || {};
    var queued = !!options.queued;
    view = (queued ? "queued:" + item.client_id + ":" + (item.refused || "") : "result:" + item.client_id);
    shown = item;
    card.hidden = false;
    form.hidden = true;
    result.hidden = false;
    var outcome = item.outcome;
    if (queued) {
      var signs = item.signs || [];
      var urgent = signs.some(function (s) { return EMERGENCY_SIGNS.indexOf(s) >= 0; });
      outcome = urgent ? "emergency" : signs.length ? "contact_clinic" : "queued";
    }
    result.className = "checkin-result is-" + outcome;
    show("checkin-queued", queued && !item.refused);
    $("checkin-outcome").textContent = result.getAttribute("data-" + outcome) || "";
    // For an emergency the server says only "Call emergency services now.": the heading does.
    say("checkin-message", queued || outcome === "emergency" ? "" : item.message);
    show("checkin-offline-contact", queued && outcome === "contact_clinic");
    show("checkin-offline-worried", queued && outcome === "queued");
    show("checkin-call", outcome === "contact_clinic");
    show("checkin-emergency", outcome === "emergency");
    var status = item.refused ? "refused" : options.sentNow ? "sent" : "";
    say("checkin-sent", status && result.getAttribute("data-" + status));
    $("checkin-sent").classList.toggle("is-error", status === "refused");
    if (options.focus) result.focus();
  }

  function showQueued(entry, focus) {
    showResult({ client_id: entry.client_id, signs: entry.body.signs, refused: entry.refused },
      { queued: true, focus: focus });
  }

  // What today shows: today's unsent answer, else today's outcome, else the form.
  function refresh() {
    if (button.disabled) return;  // sending: its answer decides what shows next
    var day = todayNumber();
    if (!(day >= 1 && day <= lastDay)) {
      view = "hidden";
      card.hidden = true;
      return;
    }
    var pending = queue().filter(function (e) { return e.day === day; }).pop();
    var last = read(LAST_KEY, null);
    if (again === day) {
      if (view !== "form:" + day) showForm(day);
    } else if (pending) {
      if (view !== "queued:" + pending.client_id + ":" + (pending.refused || "")) showQueued(pending);
    } else if (last && last.day === day) {
      if (view !== "result:" + last.client_id) showResult(last);
    } else if (view !== "form:" + day) {
      showForm(day);
    }
  }

  // A queued answer reached the server: its outcome replaces "saved on this phone". Focus
  // moves to it only if it was on the card (or nowhere), never out of what the client types.
  hooks.sent = function (entry, item) {
    if (!shown || shown.client_id !== entry.client_id) return;
    var active = document.activeElement;
    var focus = !active || active === document.body || card.contains(active);
    showResult(item, { sentNow: true, focus: focus });
  };
  hooks.done = refresh;

  function answers() {
    var body = {};
    SYMPTOMS.forEach(function (name) {
      var checked = form.querySelector('input[name="' + name + '"]:checked');
      body[name] = checked ? checked.value : null;
    });
    body.signs = Array.prototype.map.call(form.querySelectorAll('input[name="signs"]:checked'),
      function (box) { return box.value; });
    // Newlines are fine; other control characters (a pasted tab) would be refused.
    var note = form.elements.note.value.replace(/\r\n?/g, "\n").replace(/[\x00-\x09\x0b-\x1f\x7f]/g, " ").trim();
    if (note) body.note = note.slice(0, 300);
    return body;
  }

  function submit(event) {
    event.preventDefault();
    if (button.disabled) return;
    var body = answers();
    var missing = SYMPTOMS.filter(function (name) { return !body[name]; });
    SYMPTOMS.forEach(function (name) {
      $("checkin-" + name).classList.toggle("is-missing", missing.indexOf(name) >= 0);
    });
    if (missing.length) {
      say("checkin-error", $("checkin-error").getAttribute("data-text"));
      form.querySelector('input[name="' + missing[0] + '"]').focus();
      return;
    }
    say("checkin-error", "");
    var entry = { client_id: newId(), day: todayNumber(), body: body };
    body.client_id = entry.client_id;
    body.answered_at = localInstant(new Date());
    // On this phone before anything is sent: a lost answer is worse than a late one.
    enqueue(entry);
    again = null;
    touched = false;
    if (!navigator.onLine) {
      form.reset();
      showQueued(entry, true);
      return;
    }
    var label = button.textContent;
    button.disabled = true;
    button.textContent = button.getAttribute("data-busy");
    send(entry).then(function (item) {
      button.disabled = false;
      button.textContent = label;
      form.reset();
      if (item) return showResult(item, { focus: true });
      showQueued(entry, true);
      if (!entry.refused) retryLater();
    });
  }

  form.addEventListener("submit", submit);
  form.addEventListener("change", function (event) {
    touched = true;
    var fieldset = event.target.closest(".checkin-scale");
    if (fieldset) fieldset.classList.remove("is-missing");
    if (!form.querySelector(".is-missing")) say("checkin-error", "");
  });
  $("checkin-again").addEventListener("click", function () {
    again = todayNumber();
    refresh();
    form.querySelector("input").focus();
  });

  // Checked in on another phone, or this phone forgot: the server knows today's outcome.
  syncToday = function () {
    var day = todayNumber();
    if (!(day >= 1 && day <= lastDay) || !navigator.onLine) return;
    if (queue().some(function (e) { return e.day === day; })) return;
    api("GET", "/me/check-ins").then(function (res) {
      if (!res.ok || !res.body) return;
      var today = (res.body.items || []).filter(function (item) { return item.day === day; })[0];
      if (!today) return;
      remember(today);
      if (!touched && again !== day) refresh();
    }, function () { /* offline after all: what this phone knows stays */ });
  };

  document.addEventListener("visibilitychange", function () { if (!document.hidden) refresh(); });
  setInterval(refresh, 60000);  // past midnight: the next day's card
  refresh();
  if (navigator.onLine) flush(true).then(syncToday);
})();
