// companion push: show every reminder the server sends; a tap opens that day of the plan.
// Imported by sw.js (importScripts). The server sends JSON: {title, body, url, tag}.
const PUSH_ICON = "/static/icons/icon-192.png";
const PUSH_FALLBACK = { title: "Aftercare reminder", body: "Open your plan to see today's care." };

// sw.js keeps the versioned icon in its shell, so it shows offline too; else the plain path.
function pushIcon() {
  try {
    return SHELL.find((url) => url.split("?")[0] === PUSH_ICON) || PUSH_ICON;
  } catch (error) {
    return PUSH_ICON;
  }
}

function readPayload(data) {
  if (!data) return {};
  try {
    const payload = data.json();
    return payload && typeof payload === "object" ? payload : { body: String(payload) };
  } catch (error) {
    return { body: data.text() };
  }
}

// Only ever open this app's own pages.
function appUrl(url) {
  try {
    const target = new URL(url || "/", self.location.origin);
    if (target.origin === self.location.origin) return target.href;
  } catch (error) { /* not a URL: fall through */ }
  return new URL("/", self.location.origin).href;
}

// Always show a notification: iOS revokes subscriptions whose pushes show nothing.
self.showReminder = function (payload) {
  const title = typeof payload.title === "string" && payload.title ? payload.title : PUSH_FALLBACK.title;
  const options = {
    body: typeof payload.body === "string" && payload.body ? payload.body : PUSH_FALLBACK.body,
    icon: pushIcon(),
    renotify: false,
    data: { url: appUrl(payload.url) },
  };
  if (typeof payload.tag === "string" && payload.tag) options.tag = payload.tag;
  return self.registration.showNotification(title, options);
};

// The plan already open (same path, whatever its #day) is reused; otherwise a new window.
// navigate() only works on pages this worker controls: others get a new window instead.
self.openNotification = async function (notification) {
  notification.close();
  const url = new URL(appUrl(notification.data && notification.data.url));
  const windows = await self.clients.matchAll({ type: "window", includeUncontrolled: true });
  const open = windows.find((client) => new URL(client.url).pathname === url.pathname);
  if (open) {
    try {
      await open.focus();
    } catch (error) { /* focusing needs the tap; navigating still helps */ }
    try {
      const navigated = await open.navigate(url.href);
      if (navigated) return navigated;
    } catch (error) { /* uncontrolled page: open a window instead */ }
  }
  return self.clients.openWindow(url.href);
};

self.addEventListener("push", (event) => event.waitUntil(self.showReminder(readPayload(event.data))));
self.addEventListener("notificationclick", (event) => event.waitUntil(self.openNotification(event.notification)));
