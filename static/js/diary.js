// companion photo diary: one photo per recovery day, downscaled and kept only in this phone's
// IndexedDB (one database per plan), shown as a strip and side by side. Nothing here uses the
// network. window.companionDiary.deleteAll() forgets every photo of this plan on this phone.
(function () {
  "use strict";
  var main = document.getElementById("plan");
  var key = main && main.getAttribute("data-key");

  var gettext = window.companionI18n.gettext;
  var locale = window.companionI18n.lang === "en" ? "en-GB" : window.companionI18n.lang;
  var STORE = "photos";          // keyPath "day": one photo per recovery day
  var MAX_SIDE = 1080;           // long side of a kept photo: sharp on a phone, ~150 kB
  var THUMB_SIDE = 320;          // the strip shows these, so a long diary stays light to open
  var QUALITY = 0.85;
  var DEFAULT_DAYS = [0, 3, 7];  // the days skin changes most visibly after microneedling

  function dbName(k) { return "companion-diary-" + k; }
  function noop() {}

  // --- IndexedDB, wrapped in promises.
  var opening = null;
  function open() {
    if (!opening) {
      opening = new Promise(function (resolve, reject) {
        var req = indexedDB.open(dbName(key), 1);
        req.onupgradeneeded = function () { req.result.createObjectStore(STORE, { keyPath: "day" }); };
        req.onsuccess = function () {
          var db = req.result;
          // Another tab deletes the diary: let go at once, or its delete waits for this page.
          db.onversionchange = function () { db.close(); opening = null; };
          resolve(db);
        };
        req.onerror = function () { reject(req.error); };
      });
      opening.catch(function () { opening = null; });
    }
    return opening;
  }

  // Runs one request in its own transaction; resolves when the transaction is on disk.
  function transact(mode, makeRequest) {
    return open().then(function (db) {
      return new Promise(function (resolve, reject) {
        var tx = db.transaction(STORE, mode);
        var req = makeRequest(tx.objectStore(STORE));
        tx.oncomplete = function () { resolve(req.result); };
        tx.onerror = function () { reject(tx.error || req.error); };
        tx.onabort = function () { reject(tx.error || new Error("aborted")); };
      });
    });
  }

  // Looking at the card creates no database: a phone keeps nothing until the first photo.
  function exists() {
    if (opening || !indexedDB.databases) return Promise.resolve(true);
    return indexedDB.databases().then(function (all) {
      return all.some(function (db) { return db.name === dbName(key); });
    }, function () { return true; });
  }
  function readAll() {
    return exists().then(function (yes) {
      if (!yes) return [];
      return transact("readonly", function (store) { return store.getAll(); });
    }).then(function (all) {
      return all.sort(function (a, b) { return a.day - b.day; });
    });
  }

  function deleteAll(k) {
    k = k || key;
    if (!k || !window.indexedDB) return Promise.resolve();
    var closed = Promise.resolve();
    if (k === key && opening) {
      closed = opening.then(function (db) { db.close(); }, noop);
      opening = null;
    }
    return closed.then(function () {
      return new Promise(function (resolve, reject) {
        var req = indexedDB.deleteDatabase(dbName(k));
        // Another tab with it open gets "versionchange", closes it, and then this succeeds.
        req.onsuccess = function () { resolve(); };
        req.onerror = function () { reject(req.error); };
      });
    });
  }

  var card = document.getElementById("diary");
  var render = noop;  // the card's, once it has shown this phone's photos
  window.companionDiary = {
    /** Deletes every diary photo of this plan (or of the plan with short code `k`) on this phone. */
    deleteAll: function (k) {
      return deleteAll(k).then(function () { if (!k || k === key) render([]); });
    },
  };
  var dataEl = document.getElementById("plan-data");
  if (!card || !key || !dataEl) return;

  function $(id) { return document.getElementById(id); }
  var plan = JSON.parse(dataEl.textContent);
  var zone = main.getAttribute("data-timezone");
  var input = $("diary-file");
  var take = $("diary-take");

  // --- Days in the plan's zone, as app.js counts them: day 0 is the treatment's date.
  function isoDate(date) {
    return new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).format(date);
  }
  function daysBetween(a, b) { return Math.round((Date.parse(b) - Date.parse(a)) / 86400000); }
  function today() {
    var date = isoDate(new Date());
    return { date: date, day: daysBetween(plan.timeline[0].date, date) };
  }
  function dateText(iso, options) {
    return new Intl.DateTimeFormat(locale, Object.assign({ day: "numeric", month: "short", timeZone: "UTC" }, options))
      .format(Date.parse(iso + "T12:00:00Z"));
  }

  // --- Messages.
  function say(text) { $("diary-status").textContent = text || ""; }
  function fail(text) {
    var el = $("diary-error");
    el.textContent = text || "";
    el.hidden = !text;
  }
  function problem(error) {
    if (error && error.name === "QuotaExceededError") {
      return gettext("There is no room on this phone for another photo. Free up some space and try again.");
    }
    if (error && error.name === "NotAnImage") {
      return gettext("This file is not a photo this browser can open. Please take the photo again.");
    }
    return gettext("Could not keep the photo on this phone. Please try again.");
  }

  // --- Photos: decode, downscale in a canvas, re-encode as JPEG.
  function NotAnImage() { this.name = "NotAnImage"; }
  function decode(file) {
    return new Promise(function (resolve, reject) {
      var url = URL.createObjectURL(file);
      var img = new Image();
      // Browsers turn the photo upright from its EXIF orientation when decoding it here.
      img.onload = function () { URL.revokeObjectURL(url); resolve(img); };
      img.onerror = function () { URL.revokeObjectURL(url); reject(new NotAnImage()); };
      img.src = url;
    });
  }
  function encode(img, side) {
    var ratio = Math.min(1, side / Math.max(img.naturalWidth, img.naturalHeight));
    var canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.round(img.naturalWidth * ratio));
    canvas.height = Math.max(1, Math.round(img.naturalHeight * ratio));
    var ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff";  // JPEG has no transparency: a transparent PNG would turn black
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.imageSmoothingQuality = "high";
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    return new Promise(function (resolve, reject) {
      canvas.toBlob(function (blob) {
        if (!blob) return reject(new Error("could not encode"));
        bytesOf(blob).then(function (bytes) {
          resolve({ bytes: bytes, width: canvas.width, height: canvas.height });
        }, reject);
      }, "image/jpeg", QUALITY);
    });
  }
  // Bytes rather than Blobs go into IndexedDB: older iOS versions refuse to store Blobs.
  function bytesOf(blob) {
    if (blob.arrayBuffer) return blob.arrayBuffer();
    return new Promise(function (resolve, reject) {
      var reader = new FileReader();
      reader.onload = function () { resolve(reader.result); };
      reader.onerror = function () { reject(reader.error); };
      reader.readAsArrayBuffer(blob);
    });
  }
  function photoFrom(file, when) {
    return decode(file).then(function (img) {
      return Promise.all([encode(img, MAX_SIDE), encode(img, THUMB_SIDE)]);
    }).then(function (both) {
      return {
        day: when.day,
        date: when.date,
        taken_at: new Date().toISOString(),
        type: "image/jpeg",
        bytes: both[0].bytes, width: both[0].width, height: both[0].height,
        thumb: both[1].bytes, thumb_width: both[1].width, thumb_height: both[1].height,
      };
    });
  }

  // --- Object URLs for what is on screen, one set per part; revoked when the part changes.
  var urls = { strip: [], compare: [], replace: [] };
  function urlFor(part, bytes) {
    var url = URL.createObjectURL(new Blob([bytes], { type: "image/jpeg" }));
    urls[part].push(url);
    return url;
  }
  function release(part) {
    urls[part].forEach(function (url) { URL.revokeObjectURL(url); });
    urls[part] = [];
  }
  function image(part, bytes, width, height, alt) {
    var img = document.createElement("img");
    img.src = urlFor(part, bytes);
    img.width = width;
    img.height = height;
    img.alt = alt;
    return img;
  }
  function alt(day) { return gettext("Your photo, day %(day)s", { day: day }); }

  // --- What the card shows.
  var photos = [];
  var picked = null;  // days chosen for the side-by-side view; null: the default
  var busy = false;

  function find(day) { return photos.filter(function (p) { return p.day === day; })[0]; }
  function days() { return photos.map(function (p) { return p.day; }); }

  // Day 0, 3 and 7, or for each the closest day with a photo (an earlier one on a tie).
  function defaultPick() {
    var all = days();
    if (all.length <= DEFAULT_DAYS.length) return all;
    var chosen = [];
    DEFAULT_DAYS.forEach(function (target) {
      var best = null;
      all.forEach(function (d) {
        if (chosen.indexOf(d) < 0 && (best === null || Math.abs(d - target) < Math.abs(best - target))) best = d;
      });
      chosen.push(best);
    });
    return chosen.sort(function (a, b) { return a - b; });
  }
  function currentPick() {
    if (picked === null) return defaultPick();
    var all = days();
    return picked.filter(function (d) { return all.indexOf(d) >= 0; });
  }

  function renderStrip(now) {
    var strip = $("diary-strip");
    release("strip");
    strip.textContent = "";
    photos.forEach(function (p) {
      var li = document.createElement("li");
      li.className = "diary-thumb" + (p.day === now.day ? " is-today" : "");
      li.appendChild(image("strip", p.thumb || p.bytes, p.thumb_width || p.width, p.thumb_height || p.height, alt(p.day)));
      var caption = document.createElement("span");
      caption.className = "diary-caption";
      var strong = document.createElement("strong");
      strong.textContent = gettext("Day %(day)s", { day: p.day });
      caption.appendChild(strong);
      caption.appendChild(document.createTextNode(p.day === now.day ? gettext("Today") : dateText(p.date)));
      li.appendChild(caption);
      strip.appendChild(li);
    });
    // Scrollable only when it overflows: then keyboard users need to be able to scroll it.
    if (strip.scrollWidth > strip.clientWidth) {
      strip.setAttribute("tabindex", "0");
      strip.scrollLeft = strip.scrollWidth;  // the latest days first in view
    } else {
      strip.removeAttribute("tabindex");
    }
  }

  function renderPick(chosen) {
    var chips = $("diary-chips");
    chips.textContent = "";
    $("diary-pick").hidden = photos.length < 2;
    photos.forEach(function (p) {
      var id = "diary-pick-" + p.day;
      var box = document.createElement("input");
      box.type = "checkbox";
      box.id = id;
      box.value = String(p.day);
      box.checked = chosen.indexOf(p.day) >= 0;
      // Three at most: side by side on a phone, more would be too small to compare.
      box.disabled = !box.checked && chosen.length >= 3;
      var label = document.createElement("label");
      label.className = "diary-chip";
      label.htmlFor = id;
      label.textContent = gettext("Day %(day)s", { day: p.day });
      chips.appendChild(box);
      chips.appendChild(label);
    });
  }

  function renderCompare(chosen) {
    var compare = $("diary-compare");
    release("compare");
    compare.textContent = "";
    compare.setAttribute("data-count", String(chosen.length));
    chosen.forEach(function (day) {
      var p = find(day);
      var figure = document.createElement("figure");
      figure.className = "diary-shot";
      figure.appendChild(image("compare", p.bytes, p.width, p.height, alt(p.day)));
      var caption = document.createElement("figcaption");
      var strong = document.createElement("strong");
      strong.textContent = gettext("Day %(day)s", { day: p.day });
      caption.appendChild(strong);
      caption.appendChild(document.createTextNode(" " + dateText(p.date, { weekday: "short" })));
      figure.appendChild(caption);
      compare.appendChild(figure);
    });
    var hint = $("diary-compare-hint");
    hint.hidden = chosen.length > 1;
    hint.textContent = photos.length < 2
      ? gettext("Take photos on the next days to see them side by side.")
      : gettext("Pick two or three days to see them side by side.");
  }

  function renderToday(now) {
    var before = now.day < 0;
    $("diary-before").hidden = !before;
    $("diary-capture").hidden = before;
    var mine = find(now.day);
    if (!busy) take.textContent = mine ? gettext("Retake today's photo") : gettext("Take today's photo");
    // A live region: after a photo is kept, this is what a screen reader announces.
    $("diary-today").textContent = mine
      ? gettext("Today's photo (day %(day)s) is kept on this phone. A new one replaces it.", { day: now.day })
      : gettext("Today is day %(day)s after your treatment.", { day: now.day });
  }

  function show(list) {
    if (list) photos = list;
    var now = today();
    card.hidden = false;
    $("diary-intro").hidden = photos.length > 0;
    $("diary-photos").hidden = !photos.length;
    if (!photos.length) {
      picked = null;
      hideConfirm("diary-delete-confirm");
      $("diary-delete").hidden = false;
    }
    renderToday(now);
    var chosen = currentPick();
    renderPick(chosen);
    renderCompare(chosen);
    renderStrip(now);  // last: it measures itself, once everything above is laid out
  }

  function refresh() {
    return readAll().then(function (list) {
      render = show;
      show(list);
    });
  }

  // --- Taking a photo.
  function setBusy(on) {
    busy = on;
    input.disabled = on;
    take.classList.toggle("is-busy", on);
    if (on) take.textContent = gettext("Keeping your photo…");
  }

  var pending = null;  // a new photo of a day that already has one, until the person decides
  function onFile() {
    var file = input.files && input.files[0];
    if (!file || busy) return;
    say("");
    fail("");
    cancelReplace();
    setBusy(true);
    photoFrom(file, today()).then(function (photo) {
      if (find(photo.day)) return askReplace(photo);
      return keep(photo);
    }).catch(function (error) {
      fail(problem(error));
    }).then(function () {
      input.value = "";  // so that choosing the same file again still counts
      setBusy(false);
      renderToday(today());
    });
  }

  function keep(photo) {
    return transact("readwrite", function (store) { return store.put(photo); }).then(function () {
      // Ask the browser not to clear these under storage pressure; it may say no (fine).
      if (navigator.storage && navigator.storage.persist) navigator.storage.persist().catch(noop);
      return refresh();
    });
  }

  function askReplace(photo) {
    pending = photo;
    var pair = $("diary-replace-pair");
    release("replace");
    pair.textContent = "";
    [[find(photo.day), gettext("Kept now"), false], [photo, gettext("New"), true]].forEach(function (item) {
      var p = item[0];
      var figure = document.createElement("figure");
      figure.appendChild(image("replace", p.thumb, p.thumb_width, p.thumb_height,
        item[2] ? gettext("Your new photo, day %(day)s", { day: p.day }) : alt(p.day)));
      var caption = document.createElement("figcaption");
      caption.textContent = item[1];
      figure.appendChild(caption);
      pair.appendChild(figure);
    });
    $("diary-replace").hidden = false;
    $("diary-replace-text").focus();
  }
  function cancelReplace() {
    pending = null;
    release("replace");
    $("diary-replace-pair").textContent = "";
    $("diary-replace").hidden = true;
  }

  $("diary-replace-yes").addEventListener("click", function () {
    var photo = pending;
    if (!photo || busy) return;
    cancelReplace();
    setBusy(true);
    keep(photo).catch(function (error) { fail(problem(error)); }).then(function () {
      setBusy(false);
      renderToday(today());
      input.focus();
    });
  });
  $("diary-replace-no").addEventListener("click", function () {
    cancelReplace();
    say(gettext("Kept the photo you took before."));
    input.focus();
  });

  // --- Choosing days to compare.
  $("diary-chips").addEventListener("change", function () {
    picked = [];
    $("diary-chips").querySelectorAll("input:checked").forEach(function (box) {
      picked.push(parseInt(box.value, 10));
    });
    var chosen = currentPick();
    $("diary-chips").querySelectorAll("input").forEach(function (box) {
      box.disabled = !box.checked && chosen.length >= 3;
    });
    renderCompare(chosen);
  });

  // --- Deleting every photo.
  function hideConfirm(id) { $(id).hidden = true; }
  $("diary-delete").addEventListener("click", function () {
    $("diary-delete").hidden = true;
    $("diary-delete-confirm").hidden = false;
    $("diary-delete-text").focus();
  });
  $("diary-delete-no").addEventListener("click", function () {
    hideConfirm("diary-delete-confirm");
    $("diary-delete").hidden = false;
    $("diary-delete").focus();
  });
  $("diary-delete-yes").addEventListener("click", function () {
    var button = $("diary-delete-yes");
    button.disabled = true;
    fail("");
    cancelReplace();
    deleteAll().then(function () {
      show([]);
      say(gettext("All photos of the diary are deleted from this phone."));
      input.focus();
    }, function () {
      fail(gettext("Could not delete the photos. Please try again."));
    }).then(function () { button.disabled = false; });
  });

  input.addEventListener("change", onFile);
  // A new day while the plan stays open: the button is for that day's photo now.
  document.addEventListener("visibilitychange", function () { if (!document.hidden) renderToday(today()); });
  window.addEventListener("pagehide", function () { release("strip"); release("compare"); cancelReplace(); });
  // Back from the browser's page cache: the revoked URLs show nothing, so make new ones.
  window.addEventListener("pageshow", function (event) { if (event.persisted) refresh().catch(noop); });

  if (!window.indexedDB) {
    card.hidden = false;
    $("diary-unsupported").hidden = false;
    return;
  }
  refresh().catch(function () {
    // e.g. private browsing in some browsers: IndexedDB exists but refuses to open.
    card.hidden = false;
    $("diary-intro").hidden = true;
    $("diary-unsupported").hidden = false;
  });
})();
