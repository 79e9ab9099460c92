// The volunteer app's service worker: the app opens offline from the
// second visit on. build.mjs fills in SW_VERSION (a hash of every app
// file) and SW_FILES (what to precache), so a new build is a new sw.js,
// which the browser installs beside the running one. The new worker
// waits until the page says it may take over (applyUpdate in
// sw-register.ts, called when no write is in flight): a page never runs
// half on the old files and half on the new ones, and pending changes
// stay in the database, which no cache holds.

declare const SW_VERSION: string;
declare const SW_FILES: string[];

// The service worker's global scope, typed by hand: the "webworker" lib
// cannot be combined with "dom", which the page's files need.
interface ExtendableEvent extends Event {
  waitUntil(p: Promise<unknown>): void;
}
interface FetchEvent extends ExtendableEvent {
  request: Request;
  respondWith(r: Promise<Response> | Response): void;
}
interface ExtendableMessageEvent extends ExtendableEvent {
  data: unknown;
}
const scope = self as unknown as {
  location: { href: string };
  registration: { scope: string };
  skipWaiting(): Promise<void>;
  clients: { claim(): Promise<void> };
  addEventListener(type: "install" | "activate", l: (e: ExtendableEvent) => void): void;
  addEventListener(type: "fetch", l: (e: FetchEvent) => void): void;
  addEventListener(type: "message", l: (e: ExtendableMessageEvent) => void): void;
};

const prefix = "villagesync-app-";
const cacheName = prefix + SW_VERSION;
const index = new URL("./", scope.registration.scope).href;
const precached = new Set(SW_FILES.map((f) => new URL(f, scope.registration.scope).href));

scope.addEventListener("install", (e) => {
  // No skipWaiting here: a running page keeps its worker until it asks.
  // cache: "reload" skips the HTTP cache, so what is stored is what the
  // server has now.
  e.waitUntil(
    caches.open(cacheName).then((c) => c.addAll([...precached].map((u) => new Request(u, { cache: "reload" })))),
  );
});

scope.addEventListener("activate", (e) => {
  e.waitUntil(
    (async () => {
      for (const k of await caches.keys()) if (k.startsWith(prefix) && k !== cacheName) await caches.delete(k);
      // The first visit's page starts controlled without a reload.
      await scope.clients.claim();
    })(),
  );
});

scope.addEventListener("message", (e) => {
  const d = e.data as { type?: unknown } | null;
  if (d?.type === "activate-now") e.waitUntil(scope.skipWaiting());
});

scope.addEventListener("fetch", (e) => {
  const req = e.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  url.search = "";
  url.hash = "";
  if (url.href === index) {
    e.respondWith(networkFirst(req));
  } else if (precached.has(url.href)) {
    e.respondWith(cacheFirst(req, url.href));
  }
  // Anything else (the sync server's calls) goes to the network as if
  // there were no service worker.
});

// The index names the current build's files: the network's when it
// answers, so an online visit sees a new build at once (and the browser
// installs its worker), else this build's own, precached at install. The
// network's is not stored: the cache keeps one build's index and files
// together, and the next build's worker brings its own.
//
// On a link that barely works the network is given a few seconds, then
// the cached app opens (it syncs once the link is better). A page that is
// not the app (a captive portal's login, which answers 200 after a
// redirect, or in the index's place) does not replace it either.
const indexWaitMs = 4000;
async function networkFirst(req: Request): Promise<Response> {
  try {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), indexWaitMs);
    let res: Response;
    try {
      res = await fetch(req, { signal: controller.signal });
    } finally {
      clearTimeout(timer);
    }
    // The server marks its index (web.AppIndexHeader); a portal's page,
    // even one answered 200 at this URL, has no such mark.
    const isApp = res.ok && !res.redirected && res.headers.get("X-Villagesync-App") === "1";
    if (isApp) return res;
    return (await caches.match(index, { cacheName })) ?? res;
  } catch (err) {
    const hit = await caches.match(index, { cacheName });
    if (hit) return hit;
    throw err;
  }
}

// The other files are content-hashed: a cached one never changes, in
// whichever build's cache it is.
async function cacheFirst(req: Request, key: string): Promise<Response> {
  return (await caches.match(key)) ?? fetch(req);
}
