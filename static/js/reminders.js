// companion reminders: turn care reminders on or off on this phone, re-sync the push
// subscription on every open, and edit reminder times. The server plans and sends them.
(function () {
  "use strict";
  var card = document.getElementById("reminders");
  var match = /^\/s\/([A-Za-z0-9_-]+)\/?$/.exec(location.pathname);
  if (!card || !match) return;
  var token = match[1];

  var READY_MS = 10000;      // the worker normally activates in well under a second
  var SUBSCRIBE_MS = 15000;  // subscribe() can hang for good (no push service reachable)
  var REQUEST_MS = 15000;
  var gettext = window.companionI18n.gettext;
  var FAILED = gettext("Could not turn on reminders on this phone. Check your connection and try again.");
  var OFFLINE = gettext("You are offline. Reminders can be changed when you are online.");
  var PARTS = ["checking", "ios", "unsupported", "offline", "off", "blocked", "on"];

  function $(id) { return document.getElementById(id); }
  function part(name) { return $("reminders-" + name); }

  var ios = /iPhone|iPad|iPod/.test(navigator.userAgent) ||
    (navigator.platform === "MacIntel" && navigator.maxTouchPoints > 1);
  var standalone = navigator.standalone === true ||
    window.matchMedia("(display-mode: standalone)").matches;
  var supported = "serviceWorker" in navigator && "PushManager" in window && "Notification" in window;

  var state = null;
  var busy = false;

  function show(name) {
    state = name;
    card.hidden = false;
    PARTS.forEach(function (p) { part(p).hidden = p !== name; });
  }
  function say(id, text) {
    var el = $(id);
    el.textContent = text || "";
    if (el.classList.contains("error")) el.hidden = !text;
  }

  // --- Small promises helpers: nothing here may wait for ever.
  function TimeoutError() { this.name = "TimeoutError"; }
  function OfflineError() { this.name = "OfflineError"; }
  function within(ms, promise) {
    return new Promise(function (resolve, reject) {
      var timer = setTimeout(function () { reject(new TimeoutError()); }, ms);
      Promise.resolve(promise).then(
        function (value) { clearTimeout(timer); resolve(value); },
        function (error) { clearTimeout(timer); reject(error); });
    });
  }
  // A saved copy (the worker's, when the network failed) means offline until the phone
  // says it is back online.
  var savedCopy = document.documentElement.getAttribute("data-source") === "saved";
  function offline() { return !navigator.onLine || savedCopy; }

  // --- The JSON API, with the plan's token. Resolves {status, ok, body}; network trouble
  // rejects with OfflineError.
  function api(method, path, body) {
    var init = { method: method, cache: "no-store", headers: { Authorization: "Bearer " + token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return within(REQUEST_MS, fetch("/api/v1" + path, init)).then(function (response) {
      return response.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { /* not JSON: keep null */ }
        return { status: response.status, ok: response.ok, body: data };
      });
    }, function () { throw new OfflineError(); });
  }

  var keyPromise = null;
  function serverKey() {
    if (!keyPromise) {
      keyPromise = api("GET", "/vapid-public-key").then(function (res) {
        if (!res.ok || !res.body || !res.body.publicKey) throw new Error("no server key");
        return decodeKey(res.body.publicKey);
      });
      keyPromise.catch(function () { keyPromise = null; });  // ask again next time
    }
    return keyPromise;
  }
  function decodeKey(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(base64 + "===".slice((base64.length + 3) % 4));
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }
  function sameKey(a, b) {
    if (!a) return true;  // the browser does not say: assume it is ours
    a = new Uint8Array(a);
    if (a.length !== b.length) return false;
    for (var i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }

  function registration() { return within(READY_MS, navigator.serviceWorker.ready); }
  function currentSubscription(reg) { return within(SUBSCRIBE_MS, reg.pushManager.getSubscription()); }

  function askPermission() {
    // Safari before 15 takes a callback; others return a promise.
    return new Promise(function (resolve) {
      var result = Notification.requestPermission(resolve);
      if (result && result.then) result.then(resolve, function () { resolve("default"); });
    });
  }

  // --- On: "Reminders are on" with the form filled from the server's preferences.
  function showOn(prefs) {
    show("on");
    fillForm(prefs);
    say("reminders-state-text", prefs.reminders ? gettext("Reminders are on") : gettext("Reminders are paused"));
    part("state").classList.toggle("is-paused", !prefs.reminders);
    var times = { morning: prefs.morning, evening: prefs.evening, start: prefs.quiet_start,
                  end: prefs.quiet_end, zone: prefs.timezone };
    say("reminders-summary", prefs.reminders
      ? (prefs.quiet_start && prefs.quiet_end
        ? gettext("Mornings at %(morning)s, evenings at %(evening)s, none between %(start)s and %(end)s (%(zone)s).", times)
        : gettext("Mornings at %(morning)s, evenings at %(evening)s (%(zone)s).", times))
      : gettext("This phone is set up, but reminders are paused. Tick “Send me care reminders” below to get them again."));
  }

  function fail() {
    say("reminders-error", offline() ? OFFLINE : FAILED);
  }

  // Tapping the button is the only place that asks for permission (iOS requires a tap).
  function turnOn() {
    if (busy) return;
    busy = true;
    var button = part("turn-on");
    button.disabled = true;
    say("reminders-error", "");
    // First call in the tap: anything awaited before it would lose the tap on iOS.
    var asked = Notification.permission === "granted" ? Promise.resolve("granted") : askPermission();
    asked.then(function (permission) {
      if (permission === "denied") { show("blocked"); return null; }
      if (permission !== "granted") {
        say("reminders-error", gettext("Notifications were not allowed. Tap “Turn on care reminders” again and choose Allow."));
        return null;
      }
      return subscribe().then(function (subscription) {
        return api("PUT", "/me/push-subscription", subscription.toJSON());
      }).then(function (res) {
        if (!res.ok) throw new Error("refused: " + res.status);
        // The person asked for reminders: un-pause them if they were paused.
        if (res.body.reminders) return res;
        return api("PUT", "/me/preferences", { reminders: true });
      }).then(function (res) {
        if (!res.ok) throw new Error("refused: " + res.status);
        showOn(res.body);
        part("state").focus();
      });
    }).catch(fail).then(function () {
      busy = false;
      button.disabled = false;
    });
  }

  function subscribe() {
    return Promise.all([serverKey(), registration()]).then(function (both) {
      var key = both[0], reg = both[1];
      return currentSubscription(reg).then(function (existing) {
        if (existing && sameKey(existing.options && existing.options.applicationServerKey, key)) return existing;
        // Made with another server key: it cannot be reused, make a new one.
        var dropped = existing ? existing.unsubscribe().catch(function () {}) : Promise.resolve();
        return dropped.then(function () {
          return within(SUBSCRIBE_MS, reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key }));
        });
      });
    });
  }

  function turnOff() {
    if (busy) return;
    busy = true;
    var button = part("turn-off");
    button.disabled = true;
    say("reminders-error", "");
    registration().then(currentSubscription).then(function (subscription) {
      if (!subscription) return null;
      return api("DELETE", "/me/push-subscription", { endpoint: subscription.endpoint }).then(function (res) {
        if (res.status !== 204) throw new Error("refused: " + res.status);
        // Other phones of this plan keep their reminders: only this one stops.
        return subscription.unsubscribe().catch(function () {});
      });
    }).then(function () {
      show("off");
      say("reminders-error", "");
      part("turn-on").focus();
    }, function () {
      say("reminders-error", offline() ? OFFLINE
        : gettext("Could not turn off reminders. Check your connection and try again."));
    }).then(function () {
      busy = false;
      button.disabled = false;
    });
  }

  // --- Preferences form.
  var FIELDS = ["timezone", "morning", "evening", "quiet_start", "quiet_end", "reminders"];
  var phoneZone = "";
  try { phoneZone = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { /* old browser */ }

  function input(field) { return part("form").elements[field]; }
  function fillForm(prefs) {
    input("timezone").value = prefs.timezone || phoneZone;
    input("morning").value = prefs.morning || "";
    input("evening").value = prefs.evening || "";
    input("quiet_start").value = prefs.quiet_start || "";
    input("quiet_end").value = prefs.quiet_end || "";
    input("reminders").checked = !!prefs.reminders;
    clearErrors();
    zoneHint();
  }
  function zoneHint() {
    var differs = !!phoneZone && input("timezone").value !== phoneZone;
    part("phone-zone").hidden = !differs;
    part("use-phone-zone").hidden = !differs;
    $("reminders-phone-zone-name").textContent = phoneZone;
  }
  function clearErrors() {
    FIELDS.forEach(function (field) {
      var el = $("reminders-" + field + "-error");
      el.hidden = true;
      el.textContent = "";
      input(field).removeAttribute("aria-invalid");
    });
    say("reminders-form-error", "");
  }
  function sentence(text) { return text.charAt(0).toUpperCase() + text.slice(1); }

  function save(event) {
    event.preventDefault();
    if (busy) return;
    clearErrors();
    say("reminders-saved", "");
    var body = {
      timezone: input("timezone").value.trim(),
      morning: input("morning").value,
      evening: input("evening").value,
      quiet_start: input("quiet_start").value || null,
      quiet_end: input("quiet_end").value || null,
      reminders: input("reminders").checked,
    };
    busy = true;
    part("save").disabled = true;
    api("PUT", "/me/preferences", body).then(function (res) {
      if (res.ok) {
        showOn(res.body);
        say("reminders-saved", gettext("Saved"));
        return;
      }
      var fields = (res.body && res.body.fields) || {};
      var first = null;
      Object.keys(fields).forEach(function (field) {
        var el = $("reminders-" + field + "-error");
        if (!el) return;
        el.textContent = sentence(fields[field]);
        el.hidden = false;
        input(field).setAttribute("aria-invalid", "true");
        first = first || input(field);
      });
      say("reminders-form-error", first ? gettext("Please correct the fields marked above.")
        : gettext("Could not save. Please try again."));
      if (first) first.focus();
    }, function () {
      say("reminders-form-error", offline() ? OFFLINE
        : gettext("Could not save. Check your connection and try again."));
    }).then(function () {
      busy = false;
      part("save").disabled = false;
    });
  }

  function sendTest() {
    var button = part("test");
    button.disabled = true;
    say("reminders-test-status", "");
    api("POST", "/me/test-notification").then(function (res) {
      if (res.status === 202) say("reminders-test-status", gettext("Sent — it should arrive in a few seconds."));
      else if (res.status === 409) say("reminders-test-status", gettext("Turn on reminders on this phone first."));
      else say("reminders-test-status", gettext("Could not send a test reminder. Please try again."));
    }, function () {
      say("reminders-test-status", offline() ? OFFLINE : gettext("Could not send a test reminder. Check your connection and try again."));
    }).then(function () { button.disabled = false; });
  }

  // --- Every open: show what fits this phone; with permission granted, send the server the
  // current subscription again (subscriptions die silently; the server upserts by endpoint).
  function start() {
    say("reminders-error", "");
    if (ios && !standalone) return show("ios");
    if (!supported) return show("unsupported");
    if (offline()) return show("offline");
    if (Notification.permission === "denied") return show("blocked");
    serverKey().catch(function () { /* asked again on the tap */ });
    if (Notification.permission !== "granted") return show("off");
    show("checking");
    registration().then(currentSubscription).then(function (subscription) {
      if (!subscription) return show("off");
      return api("PUT", "/me/push-subscription", subscription.toJSON()).then(function (res) {
        if (res.ok) return showOn(res.body);
        show("off");  // refused (e.g. a push service we do not allow): offer to try again
      });
    }).catch(function (error) {
      if (error instanceof OfflineError || offline()) return show("offline");
      show("off");
    });
  }

  part("turn-on").addEventListener("click", turnOn);
  part("turn-off").addEventListener("click", turnOff);
  part("test").addEventListener("click", sendTest);
  part("form").addEventListener("submit", save);
  part("use-phone-zone").addEventListener("click", function () {
    input("timezone").value = phoneZone;
    zoneHint();
    input("timezone").focus();
  });
  input("timezone").addEventListener("input", zoneHint);
  part("form").addEventListener("input", function () { say("reminders-saved", ""); });
  window.addEventListener("offline", function () { if (state !== "ios" && state !== "unsupported") show("offline"); });
  window.addEventListener("online", function () {
    savedCopy = false;
    if (state === "offline") start();
  });
  // Back from the phone's settings after allowing notifications: look again.
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && (state === "blocked" || state === "offline")) start();
  });
  start();
})();
