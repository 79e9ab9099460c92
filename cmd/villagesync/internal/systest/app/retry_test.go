package app

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/appharness"
)

// holderJS is a worker that plays the part of a stale worker holding one
// of the pool's access handles, the one of a file other than the
// database: the pool's start then gets every handle but that one, and
// fails half-built. It reads each file's pool header (the name the VFS
// gave it, at offset 0) through a File, which takes no lock.
const holderJS = `
let held;
const opaque = async () => (await (await navigator.storage.getDirectory()).getDirectoryHandle(".villagesync")).getDirectoryHandle(".opaque");
const files = async () => {
  const out = [];
  for await (const [name, h] of (await opaque()).entries()) {
    if (h.kind !== "file") continue;
    const head = new Uint8Array(await (await h.getFile()).slice(0, 64).arrayBuffer());
    const end = head.indexOf(0);
    out.push({ name, path: new TextDecoder().decode(head.subarray(0, end < 0 ? 64 : end)), h });
  }
  return out;
};
onmessage = async (e) => {
  try {
    if (e.data === "hold") {
      const f = (await files()).find((f) => f.path !== "/villagesync.sqlite3");
      held = await f.h.createSyncAccessHandle();
      postMessage({ ok: true, value: f.name });
    } else if (e.data === "release") {
      held.close();
      postMessage({ ok: true });
    } else if (e.data === "paths") {
      postMessage({ ok: true, value: (await files()).map((f) => f.path).filter((p) => p) });
    }
  } catch (err) {
    postMessage({ ok: false, value: String(err) });
  }
};
`

const holderPath = "/app/test-holder.js"

// The access handles of the pool can outlive the lock: after a fast
// reload the previous page's worker may not be gone yet. When the pool
// starts while one of its handles is held elsewhere, the library gets
// every other handle, gives up half-way and releases them; unless told
// to preserve the pool (preserveOnInitFailure) it then removes the
// pool's directory with every unsynced record. The open must fail as
// busy, leave the database file in place, and succeed with the rows
// intact once the handle is released.
//
// Chromium refuses the recursive removal while any file under the
// directory has an open access handle, so the loss happens only when the
// stale worker lets go between the failed start and the removal: a
// window of milliseconds, which a dying worker can hit. The second half
// sweeps the release across the start to hit it; with
// preserveOnInitFailure false it lost the directory within 16 rounds
// (in one run: 16 rounds, 2 half-built starts, the second one deleted
// it), with it true 48 rounds keep the file.
func TestOpenRetriesWhileHandlesHeld(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == holderPath {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write([]byte(holderJS))
			return
		}
		appharness.Handler(web.Handler()).ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	p := newProfile(t, srv.URL)

	a := p.harness("owner")
	a.call("create the table", createNotes)
	a.call("save a note", saveNote("unsynced"))
	// A clean close: every handle given back, so the holder can take one.
	a.call("close", `{op: "close"}`)

	holder := p.tab("holder")
	holder.open(srv.URL + appharness.Path)
	holder.WaitFor("the page runs", `document.body.dataset.ready === "1"`)
	holder.Eval("start the holder", `(() => {
		const w = new Worker("test-holder.js");
		globalThis.holder = (m) => new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); w.postMessage(m); });
	})()`, nil)
	var r struct {
		OK    bool
		Value any
	}
	holder.Eval("hold one handle", `holder("hold")`, &r)
	if !r.OK {
		t.Fatalf("the holder could not take a handle: %v", r.Value)
	}
	t.Logf("holding pool file %v", r.Value)

	a.Do("reload the owner", chromedp.Navigate(srv.URL+appharness.Path))
	a.WaitFor("the harness runs again", `document.body.dataset.ready === "1"`)
	a.lock()
	var open struct {
		OK    bool
		Busy  bool
		Error string
	}
	a.Eval("open while a handle is held", `vs.call({op: "open"}).then((r) => ({OK: r.ok, Busy: !!r.busy, Error: r.error ?? ""}))`, &open)
	if open.OK || !open.Busy {
		t.Fatalf("open while a handle is held: ok %v, busy %v (%s); want a busy failure", open.OK, open.Busy, open.Error)
	}
	holder.Eval("list the pool's files", `holder("paths")`, &r)
	paths, _ := r.Value.([]any)
	if !r.OK || !slices.Contains(paths, any("/villagesync.sqlite3")) {
		t.Fatalf("after the failed open the pool names %v (%v): the database file is gone", r.Value, r.OK)
	}

	holder.Eval("release the handle", `holder("release")`, &r)

	// The race of a dying stale worker: it lets go of the handle while
	// the pool is starting. Each round starts a database worker whose
	// first open fails (so the wasm is loaded and the second open's
	// timing is short and steady), then opens again and releases the
	// handle d ms later, sweeping d across the start.
	var race struct {
		Rounds, Failed int
		Lost           string
	}
	holder.Eval("race the release against the start", `(async () => {
		const out = {Rounds: 0, Failed: 0, Lost: ""};
		const call = (w, m) => new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); w.postMessage(m); });
		for (let i = 0; i < 48 && !out.Lost; i++) {
			const d = (i % 24) * 0.5;
			if (!(await holder("hold")).ok) throw new Error("hold failed");
			const w = new Worker(`+"`"+web.AppWorker()+"`"+`, {type: "module"});
			const first = await call(w, {id: 1, op: "open"});
			if (first.ok) throw new Error("open succeeded while a handle is held");
			const opened = call(w, {id: 2, op: "open"});
			await new Promise((res) => setTimeout(res, d));
			await holder("release");
			const r = await opened;
			out.Rounds++;
			if (!r.ok) {
				out.Failed++;
				const p = await holder("paths");
				if (!p.value.includes("/villagesync.sqlite3")) out.Lost = "after a release " + d + " ms into the start: " + JSON.stringify(p.value);
			} else {
				await call(w, {id: 3, op: "close"});
			}
			w.terminate();
		}
		return out;
	})()`, &race)
	t.Logf("race: %d rounds, %d starts failed half-built", race.Rounds, race.Failed)
	if race.Lost != "" {
		t.Fatalf("the database file is gone %s", race.Lost)
	}
	a.openRetrying()
	if got := a.notes(); !slices.Equal(got, []string{"unsynced"}) {
		t.Fatalf("after the retry the notes are %q, want [unsynced]", got)
	}
}
