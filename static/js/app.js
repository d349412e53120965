// companion client: tabs, check-offs kept on this device, live countdowns, offline and
// update banners, install hints. The server renders everything; this only keeps it fresh.
(function () {
  "use strict";
  var root = document.documentElement;
  root.classList.add("js");

  function $(id) { return document.getElementById(id); }
  var gettext = window.companionI18n.gettext, ngettext = window.companionI18n.ngettext;
  var locale = window.companionI18n.lang === "en" ? "en-GB" : window.companionI18n.lang;

  // --- Service worker: offline copy of the plan, and "update available" instead of a silent swap.
  function showUpdate(worker) {
    $("update").hidden = false;
    $("update-button").onclick = function () { worker.postMessage({ type: "SKIP_WAITING" }); };
  }
  if ("serviceWorker" in navigator) {
    var reloading = false;
    navigator.serviceWorker.addEventListener("controllerchange", function () {
      // Only an update the person asked for reloads; the first install just takes control.
      if (reloading || !window.__companionUpdateAccepted) return;
      reloading = true;
      location.reload();
    });
    window.addEventListener("load", function () {
      navigator.serviceWorker.register("/sw.js").then(function (reg) {
        // The first visit loads before the worker controls the page: save this plan now,
        // or it would not open offline until a second visit.
        if ($("plan") && window.caches) {
          navigator.serviceWorker.ready.then(function () {
            return caches.open("plans").then(function (cache) { return cache.add(location.pathname); });
          }).catch(function () { /* offline already, or storage refused */ });
        }
        if (reg.waiting && navigator.serviceWorker.controller) showUpdate(reg.waiting);
        reg.addEventListener("updatefound", function () {
          var incoming = reg.installing;
          incoming.addEventListener("statechange", function () {
            if (incoming.state === "installed" && navigator.serviceWorker.controller) showUpdate(incoming);
          });
        });
      }).catch(function () { /* no offline copy; the page still works online */ });
    });
    document.addEventListener("click", function (e) {
      if (e.target && e.target.id === "update-button") window.__companionUpdateAccepted = true;
    });
  }

  // --- Offline marker: the worker marks pages it served from its saved copy.
  function markOffline() {
    $("offline").hidden = navigator.onLine && root.getAttribute("data-source") !== "saved";
  }
  window.addEventListener("online", markOffline);
  window.addEventListener("offline", markOffline);
  markOffline();

  var main = $("plan");
  var dataEl = $("plan-data");
  if (!main || !dataEl) return;
  var plan = JSON.parse(dataEl.textContent);
  var zone = main.getAttribute("data-timezone");

  // --- Tabs, driven by the address's #fragment so that Back works.
  var tabs = ["today", "timeline", "next"];
  // A reminder opens "#day-N": today's care when N is today, else that day on the timeline
  // (a day past the timeline is about the next session).
  function dayTarget(name) {
    var match = /^day-(\d+)$/.exec(name);
    if (!match) return null;
    var item = $(name);
    var today = isoDate(new Date());
    var number = parseInt(match[1], 10);
    var todayNumber = daysBetween(plan.timeline[0].date, today);
    if (item ? item.getAttribute("data-date") === today : number === todayNumber) return { tab: "today" };
    if (item) return { tab: "timeline", item: item };
    return { tab: number > todayNumber ? "next" : "timeline" };
  }
  // The check-in reminder opens "#checkin": the check-in card of the Today tab. The card is
  // shown by static/js/checkin.js, a later script, so a page opened there scrolls after it ran.
  function checkinTarget(name) {
    return name === "checkin" ? { tab: "today", item: $("checkin"), late: true } : null;
  }
  function showTab() {
    var name = location.hash.slice(1);
    var target = dayTarget(name) || checkinTarget(name);
    if (target) name = target.tab;
    if (tabs.indexOf(name) < 0) name = "today";
    tabs.forEach(function (t) {
      $(t).classList.toggle("is-active", t === name);
      var link = document.querySelector('[data-tab="' + t + '"]');
      if (t === name) link.setAttribute("aria-current", "page"); else link.removeAttribute("aria-current");
    });
    return target;
  }
  function reveal(target) {
    if (target && target.item && !target.item.hidden) target.item.scrollIntoView({ block: "start" });
    else window.scrollTo(0, 0);
  }
  window.addEventListener("hashchange", function () { reveal(showTab()); });
  var opened = showTab();
  if (opened && opened.late && document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { reveal(opened); });
  } else if (opened && opened.item) {
    reveal(opened);
  }

  // --- Dates in the client's zone, whatever zone the phone is in.
  function parts(date, options) {
    return new Intl.DateTimeFormat(locale, Object.assign({ timeZone: zone }, options)).format(date);
  }
  function isoDate(date) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
  }
  function daysBetween(a, b) { return Math.round((Date.parse(b) - Date.parse(a)) / 86400000); }
  function relday(moment, now) {
    var diff = daysBetween(isoDate(now), isoDate(moment));
    var time = parts(moment, { hour: "2-digit", minute: "2-digit", hour12: false });
    if (diff === 0) return gettext("today at %(time)s", { time: time });
    if (diff === 1) return gettext("tomorrow at %(time)s", { time: time });
    if (diff === -1) return gettext("yesterday at %(time)s", { time: time });
    return gettext("%(date)s at %(time)s",
      { date: parts(moment, { weekday: "short", day: "numeric", month: "short" }), time: time });
  }
  function countdown(ms) {
    var minutes = Math.max(0, Math.floor(ms / 60000));
    var days = Math.floor(minutes / 1440), hours = Math.floor((minutes % 1440) / 60), mins = minutes % 60;
    if (days) return ngettext("%(num)d day", "%(num)d days", days, { num: days }) + (hours ? " " + hours + " h" : "");
    if (hours) return hours + " h" + (mins ? " " + mins + " min" : "");
    return Math.max(mins, 1) + " min";
  }

  // --- Check-offs: stored on this device only, per day.
  var storeKey = "companion:checks:" + main.getAttribute("data-key");
  function loadChecks() { try { return JSON.parse(localStorage.getItem(storeKey)) || {}; } catch (e) { return {}; } }
  function bindChecks(date) {
    var checks = loadChecks();
    var done = checks[date] || [];
    document.querySelectorAll("#checklist .check").forEach(function (box) {
      var id = box.getAttribute("data-step");
      box.checked = done.indexOf(id) >= 0;
      box.closest(".step").classList.toggle("is-done", box.checked);
      box.onchange = function () {
        var all = loadChecks();
        var list = (all[date] || []).filter(function (x) { return x !== id; });
        if (box.checked) list.push(id);
        all[date] = list;
        try { localStorage.setItem(storeKey, JSON.stringify(all)); } catch (e) { /* storage full or blocked */ }
        box.closest(".step").classList.toggle("is-done", box.checked);
      };
    });
  }

  // --- A saved page opened on a later day shows that day, from the plan it carries.
  function renderDay(date) {
    var today = $("today");
    if (today.getAttribute("data-date") === date) return;
    var day = plan.timeline.filter(function (d) { return d.date === date; })[0];
    var number = daysBetween(plan.timeline[0].date, date);
    today.setAttribute("data-date", date);
    $("today-day").textContent = gettext("Day %(day)s after your treatment", { day: number });
    $("today-date").textContent = parts(Date.parse(date + "T12:00:00Z"), { weekday: "long", day: "numeric", month: "long", timeZone: "UTC" });
    var list = $("checklist");
    list.textContent = "";
    var template = $("step-template");
    var labels = { morning: gettext("Morning"), evening: gettext("Evening"), anytime: gettext("Today") };
    (day ? day.steps : []).forEach(function (step) {
      var item = template.content.firstElementChild.cloneNode(true);
      item.setAttribute("data-step", step.id);
      item.querySelector(".check").setAttribute("data-step", step.id);
      item.querySelector(".step-title").textContent = step.title;
      item.querySelector(".step-time").textContent = step.not_before
        ? gettext("From %(time)s", { time: parts(Date.parse(step.not_before), { hour: "2-digit", minute: "2-digit", hour12: false }) })
        : labels[step.time];
      item.querySelector(".step-text").textContent = step.text;
      list.appendChild(item);
    });
    $("no-steps").hidden = !!(day && day.steps.length);
    var normal = $("normal");
    normal.textContent = "";
    (day ? day.normal : []).forEach(function (n) {
      var li = document.createElement("li");
      li.textContent = n.text;
      normal.appendChild(li);
    });
    $("normal-card").hidden = !(day && day.normal.length);
    document.querySelectorAll(".timeline .day").forEach(function (el) {
      var d = el.getAttribute("data-date");
      el.classList.toggle("is-today", d === date);
      el.classList.toggle("is-past", d < date);
      var badge = el.querySelector(".badge");
      if (d === date && !badge) {
        badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = gettext("Today");
        el.querySelector("h2, h3").appendChild(badge);
      } else if (d !== date && badge) {
        badge.remove();
      }
    });
    bindChecks(date);
  }

  // --- Restrictions move from "still off-limits" to "allowed again" when their moment passes.
  function tick() {
    var now = new Date();
    renderDay(isoDate(now));
    var allowed = $("allowed");
    document.querySelectorAll(".restriction").forEach(function (item) {
      var ends = new Date(item.getAttribute("data-ends-at"));
      var over = ends <= now;
      var when = item.querySelectorAll(".when");
      if (over && !item.classList.contains("is-allowed")) {
        item.classList.add("is-allowed");
        item.querySelector(".avoid").hidden = true;
        item.querySelector(".allowed-text").hidden = false;
        allowed.insertBefore(item, allowed.firstChild);
      }
      if (over) when[1].textContent = gettext("Since %(when)s.", { when: relday(ends, now) });
      else {
        when[0].firstChild.textContent = gettext("Allowed again %(when)s", { when: relday(ends, now) }) + " (";
        item.querySelector(".countdown").textContent = gettext("in %(time)s", { time: countdown(ends - now) });
      }
    });
    $("off-limits-card").hidden = !$("off-limits").children.length;
    $("allowed-card").hidden = !allowed.children.length;
  }
  bindChecks($("today").getAttribute("data-date"));
  tick();
  setInterval(tick, 30000);
  document.addEventListener("visibilitychange", function () { if (!document.hidden) tick(); });

  // --- Install: Android offers a prompt; iOS needs Share -> Add to Home Screen.
  var standalone = window.matchMedia("(display-mode: standalone)").matches || navigator.standalone === true;
  var ios = /iPhone|iPad|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  if (!standalone && ios) {
    $("install").hidden = false;
    $("install-text").textContent = gettext("To keep this plan on your iPhone: tap the Share button, then \u201cAdd to Home Screen\u201d.");
  }
  window.addEventListener("beforeinstallprompt", function (event) {
    event.preventDefault();
    $("install").hidden = false;
    var button = $("install-button");
    button.hidden = false;
    button.onclick = function () { event.prompt(); $("install").hidden = true; };
  });
})();
