package app

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/chromedp/chromedp"

	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/appharness"
)

func serve(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(appharness.Handler(web.Handler()))
	t.Cleanup(srv.Close)
	return srv.URL
}

// harness opens the worker harness in a new tab of p, takes the app's
// lock as the app's owning tab would, and opens the database.
func (p *profile) harness(name string) *tab {
	p.t.Helper()
	tb := p.tab(name)
	tb.open(p.base + appharness.Path)
	tb.WaitFor("the harness runs", `document.body.dataset.ready === "1"`)
	tb.lock()
	tb.openRetrying()
	return tb
}

// call sends one request (a JavaScript object literal) to the worker and
// fails the test on an error response.
func (tb *tab) call(what, req string) {
	tb.T.Helper()
	var r struct {
		OK    bool
		Error string
	}
	tb.Eval(what, `vs.call(`+req+`).then((r) => ({OK: r.ok, Error: r.error ?? ""}))`, &r)
	if !r.OK {
		tb.T.Fatalf("tab %s: %s: %s", tb.Name, what, r.Error)
	}
}

func (tb *tab) open(url string) {
	tb.T.Helper()
	tb.Do("open "+url, chromedp.Navigate(url))
}

func (tb *tab) bool(what, expr string) bool {
	tb.T.Helper()
	var v bool
	tb.Eval(what, expr, &v)
	return v
}

// The storage tests' own table: the worker's schema is not theirs to
// depend on.
const (
	createNotes = `{op: "exec", sql: "CREATE TABLE IF NOT EXISTS test_notes(id INTEGER PRIMARY KEY, body TEXT NOT NULL)"}`
	notes       = `vs.call({op: "query", sql: "SELECT body FROM test_notes ORDER BY id"}).then((r) => r.ok ? r.rows.map((x) => x.body) : ["error: " + r.error])`
)

func saveNote(body string) string {
	return fmt.Sprintf(`{op: "transaction", statements: [{sql: "INSERT INTO test_notes(body) VALUES (?)", bind: [%q]}]}`, body)
}

func (tb *tab) notes() []string {
	tb.T.Helper()
	var s []string
	tb.Eval("read the notes", notes, &s)
	return s
}

// What the worker reports as saved (its transaction resolved after
// COMMIT) is in the database: it is there after a reload, after the
// owning tab's worker is killed, and after the whole browser is killed
// (SIGKILL, no shutdown) and started again on the same profile.
func TestSavedRowSurvivesReloadAndKill(t *testing.T) {
	base := serve(t)
	p := newProfile(t, base)

	a := p.harness("first")
	a.call("create the table", createNotes)
	a.call("save a note", saveNote("one"))
	want := []string{"one"}

	a.Do("reload", chromedp.Reload())
	a.WaitFor("the harness runs again", `document.body.dataset.ready === "1"`)
	a.lock()
	a.openRetrying()
	if got := a.notes(); !slices.Equal(got, want) {
		t.Fatalf("after the reload the notes are %q, want %q", got, want)
	}

	// The worker ends as in a killed tab: no close, no handles given back
	// in order; the next tab's open waits for the browser to reclaim them.
	a.call("save another note", saveNote("two"))
	want = append(want, "two")
	a.Eval("kill the worker", `vs.terminate()`, nil)
	a.close()
	c := p.harness("after the killed tab")
	if got := c.notes(); !slices.Equal(got, want) {
		t.Fatalf("after the killed tab the notes are %q, want %q", got, want)
	}
	c.call("save a third note", saveNote("three"))
	want = append(want, "three")

	k := newKillableProfile(t, base)
	d := k.harness("before the kill")
	d.call("create the table", createNotes)
	d.call("save a note", saveNote("kept"))
	k.kill()
	k = k.restart()
	e := k.harness("after the kill")
	if got := e.notes(); !slices.Equal(got, []string{"kept"}) {
		t.Fatalf("after the browser was killed the notes are %q, want [kept]", got)
	}
}

// openRetrying opens the database, retrying while the access handles are
// still held (the previous page's worker not yet gone), as db.ts does.
func (tb *tab) openRetrying() {
	tb.T.Helper()
	var r struct {
		OK       bool
		Error    string
		Attempts int
	}
	tb.Eval("open the database", `(async () => {
		for (let i = 1; ; i++) {
			const r = await vs.call({op: "open"});
			if (r.ok || !r.busy || i >= 100) return {OK: r.ok, Error: r.error ?? "", Attempts: i};
			await new Promise((res) => setTimeout(res, 50));
		}
	})()`, &r)
	if !r.OK {
		tb.T.Fatalf("tab %s: open after %d attempts: %s", tb.Name, r.Attempts, r.Error)
	}
	tb.T.Logf("tab %s: opened after %d attempts", tb.Name, r.Attempts)
}

// lock takes the app's Web Lock, waiting (with a deadline) while a page
// that is going away still holds it.
func (tb *tab) lock() {
	tb.T.Helper()
	if !tb.bool("take the lock", `(async () => {
		const end = performance.now() + 20000;
		while (!(await vs.lock())) {
			if (performance.now() > end) return false;
			await new Promise((res) => setTimeout(res, 20));
		}
		return true;
	})()`) {
		tb.T.Fatalf("tab %s: another tab holds the app's lock", tb.Name)
	}
}
