// The handhelds' service worker (scope /pda/): keeps the app shell so the pages open with no network. The pages'
// files are asked of the hub first (a new version shows at once) and served from the cache when the hub can't be
// reached within a few seconds. It never answers for the API (/pda/v1/…) or the socket: only the hub may.

const CACHE = "orderhub-pda-v1";
const SHELL = [
  "/pda/",
  "/pda/pack",
  "/pda/pda.css",
  "/pda/camera.css",
  "/pda/core.js",
  "/pda/pick.js",
  "/pda/pack.js",
  "/pda/camera.js",
  "/pda/vendor/barcode-detector/ponyfill.js",
  "/pda/vendor/barcode-detector/zxing-exported.js",
  "/pda/vendor/barcode-detector/zxing_reader.wasm",
  "/pda/icon.svg",
  "/pda/manifest.webmanifest",
];
const NETWORK_WAIT_MS = 3000;

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(CACHE).then((cache) =>
      // one missing file must not leave the rest uncached
      Promise.all(SHELL.map((url) => cache.add(new Request(url, { cache: "no-cache" })).catch(() => undefined))),
    ).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("orderhub-pda-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// The two pages, under whatever spelling or query (?device=…) they were opened with; anything else under its path
// (a file opened in a tab must not be kept as, or served for, a page).
const PAGES = { "/pda/": "/pda/", "/pda/index.html": "/pda/", "/pda/pack": "/pda/pack", "/pda/pack/": "/pda/pack", "/pda/pack.html": "/pda/pack" };

function shellKey(request) {
  const url = new URL(request.url);
  return PAGES[url.pathname] || url.pathname;
}

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  const key = shellKey(request);
  try {
    const response = await Promise.race([
      fetch(request),
      new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), NETWORK_WAIT_MS)),
    ]);
    if (response.ok && response.type === "basic") await cache.put(key, response.clone());
    if (response.status >= 500) {
      // a proxy in front while the hub restarts (502/503/504): the kept page rather than an error page
      const cached = await cache.match(key);
      if (cached) return cached;
    }
    return response;
  } catch (exc) {
    const cached = await cache.match(key);
    if (cached) return cached;
    throw exc;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith("/pda/")) return;
  if (url.pathname.startsWith("/pda/v1/") || url.pathname === "/pda/sw.js") return;
  event.respondWith(networkFirst(request));
});
