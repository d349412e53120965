// companion service worker: keeps the app shell and each opened plan for offline use.
// Served from /sw.js (scope "/"); the server fills in VERSION and SHELL.
importScripts("__PUSH_SCRIPT__"); // push reminders and notification taps: static/js/sw-push.js
const VERSION = "__VERSION__";
const SHELL = __SHELL__;
const SHELL_CACHE = "shell-" + VERSION;
const PLAN_CACHE = "plans"; // kept across versions: a client's saved plan must survive an update
const NETWORK_TIMEOUT_MS = 4000;

// Install: fetch the whole shell before taking over; wait for the person to accept updates.
self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(SHELL_CACHE).then((cache) => cache.addAll(SHELL)));
});

// Activate: drop shells of older versions, and control open pages on the first install.
self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const key of await caches.keys()) {
      if (key.startsWith("shell-") && key !== SHELL_CACHE) await caches.delete(key);
    }
    await self.clients.claim();
  })());
});

// Message: the page's "Update now" button.
self.addEventListener("message", (event) => {
  if (event.data && event.data.type === "SKIP_WAITING") self.skipWaiting();
});

function isPlanPage(url) {
  return url.origin === self.location.origin && /^\/s\/[A-Za-z0-9_-]+(\/manifest\.webmanifest)?$/.test(url.pathname);
}

// A saved copy says so, so the page can show "offline: this is your saved plan".
async function markSaved(response) {
  if (!response || !(response.headers.get("Content-Type") || "").includes("text/html")) return response;
  const html = (await response.text()).replace('data-source="network"', 'data-source="saved"');
  return new Response(html, { status: response.status, headers: response.headers });
}

async function networkFirst(request) {
  const cache = await caches.open(PLAN_CACHE);
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), NETWORK_TIMEOUT_MS)),
    ]);
    // Keep good answers; a withdrawn link (410) or unknown token (404) removes the saved copy.
    if (response.ok) await cache.put(request, response.clone());
    else if (response.status === 404 || response.status === 410) await cache.delete(request, { ignoreSearch: true });
    return response;
  } catch (error) {
    // The installed app starts at ?app=1: the same plan as the page without it.
    const saved = await cache.match(request, { ignoreSearch: true });
    if (saved) return markSaved(saved);
    const shell = await caches.match("/");
    return shell ? markSaved(shell) : Response.error();
  }
}

async function cacheFirst(request) {
  const hit = await caches.match(request);
  return hit || fetch(request);
}

// Fetch: plans network-first (fresh when online, saved copy offline); static files cache-first.
self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (isPlanPage(url)) {
    event.respondWith(networkFirst(request));
  } else if (url.origin === self.location.origin && url.pathname.startsWith("/static/")) {
    event.respondWith(cacheFirst(request));
  } else if (request.mode === "navigate" && url.origin === self.location.origin) {
    event.respondWith(fetch(request).catch(async () => (await markSaved(await caches.match("/"))) || Response.error()));
  }
});
