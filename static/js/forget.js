// companion "forget me": the client deletes everything about them. The server goes first
// (DELETE /api/v1/me: the sessions of this link, check-ins, reminders, subscriptions); only
// once it has, this phone forgets its part: the saved copy of the plan in the service
// worker's "plans" cache, the check-offs and check-in queue in localStorage, and the photo
// diary's IndexedDB. Offline nothing is deleted anywhere, so nothing is ever half done.
(function () {
  "use strict";
  var main = document.getElementById("plan");
  var card = document.getElementById("forget");
  var match = /^\/s\/([A-Za-z0-9_-]+)\/?$/.exec(location.pathname);
  if (!main || !card || !match) return;
  var token = match[1];
  var key = main.getAttribute("data-key");
  var gettext = window.companionI18n.gettext;
  var REQUEST_MS = 15000;
  var PLAN_CACHE = "plans";  // static/sw.js keeps each opened plan there

  function $(id) { return document.getElementById(id); }
  var start = $("forget-start"), confirm = $("forget-confirm"), yes = $("forget-yes");
  var busy = false;

  function fail(text) {
    $("forget-error").textContent = text || "";
    $("forget-error").hidden = !text;
  }
  function showOnline() {
    var offline = navigator.onLine === false;
    $("forget-offline").hidden = !offline;
    start.disabled = offline;
    yes.disabled = offline || busy;
  }

  // --- The server. Resolves with the status; rejects when it could not be reached.
  function deleteOnServer() {
    var controller = window.AbortController ? new AbortController() : null;
    var timer = controller && setTimeout(function () { controller.abort(); }, REQUEST_MS);
    return fetch("/api/v1/me", {
      method: "DELETE", headers: { Authorization: "Bearer " + token },
      cache: "no-store", credentials: "omit", signal: controller ? controller.signal : undefined,
    }).then(function (response) {
      clearTimeout(timer);
      return response.status;
    }, function (error) {
      clearTimeout(timer);
      throw error;
    });
  }

  // --- This phone: every trace of this plan, each part on its own so one failure stops none.
  function forgetSavedPlan() {
    if (!window.caches) return Promise.resolve();
    var own = "/s/" + token;
    return caches.open(PLAN_CACHE).then(function (cache) {
      return cache.keys().then(function (requests) {
        return Promise.all(requests.filter(function (request) {
          var path = new URL(request.url).pathname;
          return path === own || path.indexOf(own + "/") === 0;  // the page and its manifest
        }).map(function (request) { return cache.delete(request); }));
      });
    });
  }
  function forgetStorage() {
    // app.js's "companion:checks:KEY", checkin.js's "companion:checkin-queue:KEY" and
    // "companion:checkin-last:KEY": every key of this plan.
    var suffix = ":" + key;
    for (var i = localStorage.length - 1; i >= 0; i--) {
      var name = localStorage.key(i);
      if (name && name.indexOf("companion:") === 0 && name.slice(-suffix.length) === suffix) {
        localStorage.removeItem(name);
      }
    }
  }
  function forgetPhotos() {
    return window.companionDiary ? window.companionDiary.deleteAll() : Promise.resolve();
  }
  function forgetHere() {
    var storage = new Promise(function (resolve) { forgetStorage(); resolve(); });
    return Promise.all([forgetSavedPlan(), storage, forgetPhotos()].map(function (step) {
      return step.then(function () { return true; }, function () { return false; });
    })).then(function (done) { return done.every(Boolean); });
  }

  function showDone(complete) {
    var tabs = document.querySelector(".tabs");
    if (tabs) tabs.hidden = true;
    main.hidden = true;
    card.closest("footer").hidden = true;
    var plan = $("plan-data");
    if (plan) plan.remove();
    if (!complete) {
      var note = document.createElement("p");
      note.className = "error";
      note.textContent = gettext("Some of it could not be deleted from this phone. Clear this site's data in your browser's settings to remove the rest.");
      $("forgotten-heading").parentNode.appendChild(note);
    }
    $("forgotten").hidden = false;
    document.title = $("forgotten-heading").textContent;
    $("forgotten-heading").focus();
  }

  start.addEventListener("click", function () {
    fail("");
    start.hidden = true;
    confirm.hidden = false;
    $("forget-confirm-text").focus();
  });
  $("forget-no").addEventListener("click", function () {
    confirm.hidden = true;
    start.hidden = false;
    start.focus();
  });
  yes.addEventListener("click", function () {
    if (busy) return;
    busy = true;
    yes.disabled = true;
    yes.textContent = gettext("Deleting…");
    fail("");
    deleteOnServer().then(function (status) {
      // 404: already deleted (from another phone, or a moment ago): this phone still forgets.
      if (status === 204 || status === 404) return forgetHere().then(showDone);
      fail(gettext("Nothing was deleted: the server could not do it just now. Please try again in a moment."));
    }, function () {
      fail(gettext("Nothing was deleted: this phone could not reach the server. Please try again when you are online."));
    }).then(function () {
      busy = false;
      yes.textContent = gettext("Yes, delete everything");
      showOnline();
    });
  });

  window.addEventListener("online", showOnline);
  window.addEventListener("offline", showOnline);
  card.hidden = false;
  showOnline();
})();
