// The page's side of the service worker (sw.ts): registers it, tells the
// app when a new build is installed and waiting, and lets the app switch
// to it when nothing is being written.

export type Registered = "registered" | "unsupported" | "failed";

let waitingWorker: ServiceWorker | null = null;
let isIdle: () => boolean = () => true;

/**
 * Registers ./sw.js for the app's folder. onUpdateReady is called when a
 * new build's worker is installed and waiting; the app then calls
 * applyUpdate(), which switches only while idle() holds (no write in
 * flight, nothing half-typed to lose).
 */
export async function registerServiceWorker(opts: { idle: () => boolean; onUpdateReady: () => void }): Promise<Registered> {
  if (!("serviceWorker" in navigator)) return "unsupported";
  isIdle = opts.idle;
  let reg: ServiceWorkerRegistration;
  try {
    reg = await navigator.serviceWorker.register("./sw.js", { scope: "./", type: "classic" });
  } catch (e) {
    console.warn("service worker:", e);
    return "failed";
  }
  const ready = (w: ServiceWorker | null) => {
    // A waiting worker with no controller is the first install: it
    // activates by itself, there is nothing to update.
    if (!w || !navigator.serviceWorker.controller) return;
    waitingWorker = w;
    opts.onUpdateReady();
  };
  if (reg.waiting) ready(reg.waiting);
  reg.addEventListener("updatefound", () => {
    const w = reg.installing;
    w?.addEventListener("statechange", () => {
      if (w.state === "installed") ready(w);
    });
  });
  return "registered";
}

let applying = false;

/** Switches to the waiting build: the new worker takes over and the page
 * reloads on its files. False (and nothing done) when there is no
 * waiting build or the app is not idle: call it again after the write. */
export function applyUpdate(): boolean {
  const w = waitingWorker;
  if (!w || !isIdle()) return false;
  if (!applying) {
    applying = true;
    let reloaded = false;
    // The reload comes later than the check above: she may have opened a
    // form or pressed save since, so it waits until the page is idle again.
    const reloadWhenIdle = () => {
      if (isIdle()) location.reload();
      else setTimeout(reloadWhenIdle, 500);
    };
    navigator.serviceWorker.addEventListener("controllerchange", () => {
      if (reloaded) return;
      reloaded = true;
      reloadWhenIdle();
    });
    // Chromium on a loaded machine can leave the worker waiting after
    // all (seen in systest/volunteer): then the next launch of the app
    // takes the new build, which is safe, only later.
  }
  w.postMessage({ type: "activate-now" });
  return true;
}
