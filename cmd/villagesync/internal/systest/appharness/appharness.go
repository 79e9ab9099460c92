// Package appharness lets browser tests drive the volunteer app's
// database worker directly: the real worker, with its replica on the
// real origin-private file system, but none of the app's screens. Tests
// of the protocol (the randomized fault test), of storage and of its
// budgets use it; tests of what a volunteer sees use the app itself.
package appharness

import (
	"fmt"
	"net/http"

	"github.com/futian-xiaomo/villagesync/clients/web"
)

// Path is the harness page, under /app/ so that it shares the app's
// origin, scope and storage.
const Path = "/app/harness.html"

// Handler serves next (web.Handler() or a server that mounts it) and the
// harness page. In the page, window.vs.call(request) sends one of
// protocol.ts's requests (without its id) to the worker and resolves to
// its response; window.vs.events collects the state events the worker
// sends unasked; window.vs.lock() takes the app's Web Lock (false when
// another tab holds it); window.vs.terminate() ends the worker as a
// killed tab would. body[data-ready] is set once the page has run.
func Handler(next http.Handler) http.Handler {
	script := fmt.Sprintf(harnessJS, web.AppWorker())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case Path:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, harnessHTML)
		case "/app/harness.js":
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			fmt.Fprint(w, script)
		default:
			next.ServeHTTP(w, r)
		}
	})
}

const harnessHTML = `<!doctype html>
<html><head><meta charset="utf-8"><title>villagesync worker harness</title>
<script type="module" src="harness.js"></script></head><body></body></html>
`

const harnessJS = `
const worker = new Worker(new URL(%q, location.href), { type: "module", name: "villagesync-db" });
window.__errors = [];
worker.addEventListener("error", (e) => window.__errors.push(String(e.message || e.type)));
worker.addEventListener("messageerror", (e) => window.__errors.push("messageerror"));
let next = 1;
const waiting = new Map();
const events = [];
worker.onmessage = (e) => {
  const r = e.data;
  if (r.event) { events.push(r); return; }
  const w = waiting.get(r.id);
  if (!w) return;
  waiting.delete(r.id);
  w(r);
};
worker.onerror = (e) => {
  for (const w of waiting.values()) w({ ok: false, error: "the worker failed: " + (e.message || "could not load") });
  waiting.clear();
};
let release;
window.vs = {
  call(req) {
    const id = next++;
    return new Promise((resolve) => { waiting.set(id, resolve); worker.postMessage({ ...req, id }); });
  },
  events,
  lock() {
    return new Promise((resolve) => navigator.locks.request("villagesync-db", { ifAvailable: true }, (l) => {
      if (!l) { resolve(false); return undefined; }
      return new Promise((r) => { release = r; resolve(true); });
    }));
  },
  unlock() { if (release) release(); },
  terminate() { worker.terminate(); },
};
document.body.dataset.ready = "1";
`
