package app

import (
	"fmt"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	web "github.com/futian-xiaomo/villagesync/clients/web"
)

// States of the page, as the body's data-* attributes say them.
const (
	dbOpen    = `document.body.dataset.db === "open"`
	otherTab  = `document.body.dataset.lock === "other-tab" && document.body.dataset.db === "not-opened"`
	rowsShown = `document.querySelector("#rows[data-count]") !== null`
	// The page's resource timeline lists the worker script a page starts.
	workerLoaded = `performance.getEntriesByType("resource").some((e) => /db-worker-|\.wasm$/.test(e.name))`
	rowTexts     = `[...document.querySelectorAll("#rows li[data-id]")].map((e) => e.textContent)`
)

func rowCount(n int) string {
	return fmt.Sprintf(`document.querySelector("#rows")?.dataset.count === "%d"`, n)
}

func serve(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(web.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func (tb *tab) open(url string) {
	tb.t.Helper()
	tb.do("open "+url, chromedp.Navigate(url))
}

func (tb *tab) bool(what, expr string) bool {
	tb.t.Helper()
	var v bool
	tb.eval(what, expr, &v)
	return v
}

func (tb *tab) rows() []string {
	tb.t.Helper()
	var s []string
	tb.eval("read the rows", rowTexts, &s)
	return s
}

// What the page reports as saved is in the database: it is there after a
// reload, and after the owning tab's end for the next tab. A second tab of
// the same profile is told the app is open elsewhere and opens nothing.
func TestSavedRowSurvivesReloadAndTabs(t *testing.T) {
	base := serve(t)
	p := newProfile(t, base)

	a := p.tab("first")
	a.open(base + "/app/")
	a.waitFor("the database opens", dbOpen+" && "+rowsShown)
	if got := a.str("lock", `document.body.dataset.lock`); got != "held" {
		t.Fatalf("first tab: lock %q, want held", got)
	}
	// The positive control of the second tab's check below: the owner's
	// page timeline lists the worker script it started.
	if !a.bool("worker loaded", workerLoaded) {
		t.Fatal("the first tab's resource timeline lists no db-worker script: the second tab's check would prove nothing")
	}
	a.waitFor("persist is answered", `document.body.dataset.persist !== undefined`)
	t.Logf("SQLite %s, persist %s", a.str("v", `document.body.dataset.sqlite`), a.str("p", `document.body.dataset.persist`))
	a.do("save a row", chromedp.Click(chromedp.CSS("#save:not([disabled])")))
	a.waitFor("the saved row is listed", rowCount(1))
	saved := a.rows()

	a.do("reload", chromedp.Reload())
	a.waitFor("the database opens again after the reload", dbOpen+" && "+rowCount(1))
	if got := a.rows(); !slices.Equal(got, saved) {
		t.Fatalf("after the reload the rows are %q, want %q", got, saved)
	}
	t.Logf("reload: opened after %q retries", a.str("retries", `document.body.dataset.openRetries ?? "0"`))

	b := p.tab("second")
	for _, tt := range []struct{ query, sentence string }{
		{"", "此应用已在另一个标签页中打开"},
		{"?lang=en", "The app is open in another tab"},
	} {
		b.open(base + "/app/" + tt.query)
		b.waitFor("the second tab learns the app is open elsewhere", otherTab)
		if got := b.str("lock sentence", `document.querySelector("#lock-status").textContent`); !strings.Contains(got, tt.sentence) {
			t.Errorf("second tab%s says %q, want %q", tt.query, got, tt.sentence)
		}
		var state struct {
			Disabled bool
			Rows     int
			Worker   bool
		}
		// The page constructs its worker only as the lock's owner, and the
		// worker is the only thing that loads the wasm or touches OPFS.
		b.eval("the second tab's state", `({Disabled: document.querySelector("#save").disabled,
			Rows: document.querySelectorAll("#rows li").length,
			Worker: `+workerLoaded+`})`, &state)
		if !state.Disabled || state.Rows != 0 || state.Worker {
			t.Errorf("second tab%s: save disabled %v, %d rows shown, worker loaded %v; want a page that opened nothing",
				tt.query, state.Disabled, state.Rows, state.Worker)
		}
	}
	// The first tab still owns and writes.
	a.do("save another row", chromedp.Click(chromedp.CSS("#save:not([disabled])")))
	a.waitFor("the second row is listed", rowCount(2))
	saved = a.rows()

	a.close()
	c := p.tab("third")
	c.open(base + "/app/")
	c.waitFor("a new tab opens the database once the first is closed", dbOpen+" && "+rowCount(2))
	if got := c.rows(); !slices.Equal(got, saved) {
		t.Fatalf("the new tab's rows are %q, want %q", got, saved)
	}
	t.Logf("new tab: opened after %q retries", c.str("retries", `document.body.dataset.openRetries ?? "0"`))
}

// The access handles of the pool can outlive the lock: after a fast reload
// the previous page's worker may not be gone yet. Here a worker started by
// hand in a tab without the lock holds them (as that stale worker would);
// the owning tab waits and retries instead of failing or, worse, letting
// the library remove the pool, and opens with the rows intact once they
// are released.
func TestOpenRetriesWhileHandlesHeld(t *testing.T) {
	base := serve(t)
	p := newProfile(t, base)
	a := p.tab("owner")
	a.open(base + "/app/")
	a.waitFor("the database opens", dbOpen+" && "+rowsShown)
	a.do("save a row", chromedp.Click(chromedp.CSS("#save:not([disabled])")))
	a.waitFor("the saved row is listed", rowCount(1))
	saved := a.rows()

	stale := p.tab("stale")
	stale.open(base + "/app/")
	stale.waitFor("the tab is not the owner", otherTab)
	a.close()
	// The worker's name is in the app's script; the worker is started
	// without the lock, which the app itself never does.
	var opened bool
	stale.eval("hold the access handles", `(async () => {
		const js = await (await fetch(document.querySelector("script[src]").src)).text();
		const w = new Worker(js.match(/db-worker-[A-Z0-9]+\.js/)[0], {type: "module"});
		globalThis.staleWorker = w;
		const r = await new Promise((resolve) => { w.onmessage = (e) => resolve(e.data); w.postMessage({id: 1, op: "open"}); });
		return r.ok;
	})()`, &opened)
	if !opened {
		t.Fatal("the stale worker could not open the database")
	}

	c := p.tab("next")
	c.open(base + "/app/")
	c.waitFor("the next tab retries while the handles are held", `document.body.dataset.db === "retrying"`)
	if got := c.str("status", `document.querySelector("#db-status").textContent`); !strings.Contains(got, "重试") {
		t.Errorf("while retrying the status says %q", got)
	}
	stale.eval("release the handles", `new Promise((resolve) => {
		staleWorker.onmessage = (e) => resolve(e.data.ok); staleWorker.postMessage({id: 2, op: "close"}); })`, &opened)
	c.waitFor("the next tab opens once they are released", dbOpen+" && "+rowCount(1))
	if got := c.rows(); !slices.Equal(got, saved) {
		t.Fatalf("after the retries the rows are %q, want %q", got, saved)
	}
	t.Logf("opened after %s retries", c.str("retries", `document.body.dataset.openRetries`))
}

// BenchmarkSaveRow measures one save (a transaction of one INSERT,
// resolved after COMMIT) as the page sees it: b.N saves timed in the page
// with performance.now(), reported as p50 and p99 milliseconds.
func BenchmarkSaveRow(b *testing.B) {
	base := serve(b)
	p := newProfile(b, base)
	tb := p.tab("bench")
	tb.open(base + "/app/")
	tb.waitFor("the database opens", dbOpen)
	b.ResetTimer()
	var ms []float64
	tb.eval("time the saves", fmt.Sprintf(`villagesyncSelfTest.timeSaves(%d)`, b.N), &ms)
	b.StopTimer()
	if len(ms) != b.N {
		b.Fatalf("%d timings for %d saves", len(ms), b.N)
	}
	slices.Sort(ms)
	at := func(q float64) float64 { return ms[min(len(ms)-1, int(q*float64(len(ms))))] }
	b.ReportMetric(at(0.50), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(ms[len(ms)-1], "max-ms")
}
