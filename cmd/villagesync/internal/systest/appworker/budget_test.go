package appworker

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// wireCount counts what crosses the sync endpoint: bodies exactly, as
// they travel (compressed when they are), and the request headers the
// client chose to send, as HTTP/1.1 writes them.
type wireCount struct {
	next                     http.Handler
	calls, headers, up, down atomic.Int64
	serverNS                 atomic.Int64 // time spent in the server's handler
}

func (c *wireCount) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, "/villagesync.v1.SyncService/") {
		c.next.ServeHTTP(w, r)
		return
	}
	c.calls.Add(1)
	var h int64
	for k, vs := range r.Header {
		for _, v := range vs {
			h += int64(len(k) + len(v) + 4)
		}
	}
	c.headers.Add(h)
	body, _ := io.ReadAll(r.Body)
	c.up.Add(int64(len(body)))
	r.Body = io.NopCloser(strings.NewReader(string(body)))
	t0 := time.Now()
	c.next.ServeHTTP(countingWriter{w, &c.down}, r)
	c.serverNS.Add(int64(time.Since(t0)))
}

func (c *wireCount) reset() {
	c.calls.Store(0)
	c.headers.Store(0)
	c.up.Store(0)
	c.down.Store(0)
	c.serverNS.Store(0)
}

type countingWriter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (w countingWriter) Write(b []byte) (int, error) {
	w.n.Add(int64(len(b)))
	return w.ResponseWriter.Write(b)
}

// seed has a Go device of 南香村 log n classes and sync them; it returns
// the device, still enrolled.
func seed(tb testing.TB, e *env, n int) *replica.Replica {
	tb.Helper()
	ctx := context.Background()
	d, err := replica.Init(ctx, filepath.Join(tb.TempDir(), "go.db"), e.url, e.code(tb, "laowang", store.Volunteer, "南香村"),
		"go-phone", replica.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { d.Close() })
	for i := range n {
		if _, err := d.LogSession(ctx, replica.Session{Village: "南香村", Children: fmt.Sprint(10 + i%20),
			Class: fmt.Sprintf("班%d", i%6), Date: fmt.Sprintf("2026-%02d-%02d", 1+i%11, 1+i%28)}); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := d.Sync(ctx); err != nil {
		tb.Fatal(err)
	}
	return d
}

// firstPull enrolls a new browser phone and times, in the page, its
// first sync; it checks that all n records came.
func (e *env) firstPull(tb testing.TB, n int) (ms float64, p *phone) {
	tb.Helper()
	p = e.phone(tb)
	p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`, js(e.code(tb, "xiaoli", store.Volunteer, "南香村"))))
	var first struct {
		MS     float64 `json:"ms"`
		Synced int     `json:"synced"`
		Error  string  `json:"error"`
	}
	p.eval(`(async () => {
		const t0 = performance.now();
		const r = await vs.call({op: "sync", lang: "zh"});
		const ms = performance.now() - t0;
		const q = await vs.call({op: "query", sql: "SELECT count(*) AS n FROM tutoring_sessions WHERE _deleted = 0"});
		return {ms, synced: q.rows[0].n, error: r.ok ? r.state.lastError : r.error};
	})()`, &first)
	if first.Error != "" || first.Synced != n {
		tb.Fatalf("first pull: %d records, error %q; want %d", first.Synced, first.Error, n)
	}
	return first.MS, p
}

// An idle sync of the browser's replica puts the same bytes on the wire
// as the Go replica's: one request, the same bodies (≤ 400 B). The
// browser adds headers of its own (user agent, client hints, fetch
// metadata), which the log reports apart: HTTP/2's header compression
// makes them a few bytes on every request after the first.
func TestIdleSyncBytes(t *testing.T) {
	e := start(t)
	count := &wireCount{next: e.handler}
	e.serve(t, count)
	goDev := seed(t, e, 30)
	_, p := e.firstPull(t, 30)
	count.reset()
	p.call(`{op: "sync", lang: "zh"}`)
	bCalls, bHeaders, bUp, bDown := count.calls.Load(), count.headers.Load(), count.up.Load(), count.down.Load()
	count.reset()
	if _, err := goDev.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	gCalls, gHeaders, gUp, gDown := count.calls.Load(), count.headers.Load(), count.up.Load(), count.down.Load()
	t.Logf("idle sync: browser %d request, bodies %d B up + %d B down, its headers %d B; Go replica %d request, %d + %d B, headers %d B",
		bCalls, bUp, bDown, bHeaders, gCalls, gUp, gDown, gHeaders)
	if bCalls != 1 || gCalls != 1 {
		t.Errorf("idle sync: browser %d requests, Go %d; want one each", bCalls, gCalls)
	}
	// The cursors may differ by a byte or two of varint.
	if bUp+bDown > gUp+gDown+4 || bUp+bDown > 400 {
		t.Errorf("idle sync bodies: browser %d B, Go %d B; want the Go replica's (≤ 400 B)", bUp+bDown, gUp+gDown)
	}
}

// BenchmarkFirstPull: a new browser phone's first sync of 3,000 records
// (budget: ≤ 5 s in headless Chromium here), against the baseline of a
// new Go device's first sync of the same records in the same process.
//
//	go test -run '^$' -bench FirstPull -benchtime 3x ./cmd/villagesync/internal/systest/appworker
func BenchmarkFirstPull(b *testing.B) {
	const n = 3000
	e := start(b)
	count := &wireCount{next: e.handler}
	e.serve(b, count)
	seed(b, e, n)
	var browserMS, goMS, serverMS float64
	for i := 0; b.Loop(); i++ {
		count.reset()
		ms, _ := e.firstPull(b, n)
		browserMS += ms
		serverMS += float64(count.serverNS.Load()) / 1e6
		ctx := context.Background()
		d, err := replica.Init(ctx, filepath.Join(b.TempDir(), fmt.Sprintf("go%d.db", i)), e.url,
			e.code(b, "laowang", store.Volunteer, "南香村"), "go-baseline", replica.Options{})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		if _, err := d.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		goMS += float64(time.Since(t0).Microseconds()) / 1000
		d.Close()
	}
	runs := float64(b.N)
	b.ReportMetric(browserMS/runs, "browser-ms")
	b.ReportMetric(goMS/runs, "go-ms")
	b.ReportMetric(serverMS/runs, "server-ms")
	b.ReportMetric(browserMS/goMS, "browser/go")
}

// BenchmarkSaveForm: what a volunteer waits for when she saves a class
// (budget: ≤ 20 ms p99 in headless Chromium here): the save op end to
// end — the form filled with its defaults, checked by the rules, written
// by the replica, committed — timed in the page, against the baseline of
// a bare one-row transaction through the same worker in the same run.
//
//	go test -run '^$' -bench SaveForm -benchtime 300x ./cmd/villagesync/internal/systest/appworker
func BenchmarkSaveForm(b *testing.B) {
	e := start(b)
	p := e.phone(b)
	p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`, js(e.code(b, "xiaoli", store.Volunteer, "南香村"))))
	p.call(`{op: "exec", sql: "CREATE TABLE bench_rows (id INTEGER PRIMARY KEY, note TEXT NOT NULL)"}`)
	b.ResetTimer()
	var got struct {
		Form, Bare []float64
	}
	// Alternating batches, so both see the same moments of a noisy machine.
	p.eval(fmt.Sprintf(`(async () => {
		const form = [], bare = [];
		// After a save the worker posts the status line's new state; a
		// person saves seconds apart, so the next save waits for it rather
		// than queueing behind it.
		const stated = (n) => new Promise((resolve) => {
			const poll = () => (vs.events.length > n ? resolve() : setTimeout(poll, 1));
			poll();
		});
		for (let i = 0; i < %d; i++) {
			const seen = vs.events.length;
			let t0 = performance.now();
			const r = await vs.call({op: "save", form: "log-session", lang: "zh",
				fields: {village: "南香村", children_present: String(i %% 40), notes: "第" + i + "次"}});
			form.push(performance.now() - t0);
			if (!r.ok) throw new Error(r.error);
			await stated(seen);
			t0 = performance.now();
			await vs.call({op: "transaction", statements: [{sql: "INSERT INTO bench_rows (note) VALUES (?)", bind: ["row " + i]}]});
			bare.push(performance.now() - t0);
		}
		return {Form: form, Bare: bare};
	})()`, b.N), &got)
	b.StopTimer()
	q := func(xs []float64, f float64) float64 {
		s := slices.Clone(xs)
		slices.Sort(s)
		return s[min(len(s)-1, int(f*float64(len(s))))]
	}
	b.ReportMetric(q(got.Form, 0.5), "form-p50-ms")
	b.ReportMetric(q(got.Form, 0.99), "form-p99-ms")
	b.ReportMetric(q(got.Bare, 0.5), "bare-p50-ms")
	b.ReportMetric(q(got.Bare, 0.99), "bare-p99-ms")
	b.ReportMetric(q(got.Form, 0.99)/q(got.Bare, 0.99), "form/bare-p99")
}
