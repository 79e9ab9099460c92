package app

import (
	"fmt"
	"slices"
	"testing"
)

// Pragma sets a save is measured with, run after the worker's own
// (pragmas.ts): "built" adds nothing, the others override it. "old" is
// what the worker ran before pragmas.ts.
var pragmaSets = []struct{ name, sql, journal string }{
	{"old", "PRAGMA locking_mode=NORMAL; PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL", "delete"},
	{"built", "", ""},
	{"truncate", "PRAGMA locking_mode=NORMAL; PRAGMA journal_mode=TRUNCATE; PRAGMA synchronous=FULL", "truncate"},
	{"persist", "PRAGMA locking_mode=NORMAL; PRAGMA journal_mode=PERSIST; PRAGMA synchronous=FULL", "persist"},
	{"exclusive-delete", "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=DELETE; PRAGMA synchronous=FULL", "delete"},
	{"exclusive-wal-full", "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", "wal"},
	// Not durable across a power cut (the last commits may roll back):
	// for comparison only.
	{"exclusive-wal-normal", "PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL", "wal"},
	{"exclusive-wal-full-8k", "PRAGMA page_size=8192; PRAGMA locking_mode=EXCLUSIVE; PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL", "wal"},
}

// saver is a harness tab whose database runs one pragma set.
func newSaver(b *testing.B, base, name, sql, journal string) *tab {
	b.Helper()
	tb := newProfile(b, base).harness(name)
	if sql != "" {
		tb.call("set "+name, fmt.Sprintf(`{op: "exec", sql: %q}`, sql))
	}
	tb.call("create the table", createNotes)
	got := tb.Str("journal mode", `vs.call({op: "query", sql: "PRAGMA journal_mode"}).then((r) => r.rows[0].journal_mode)`)
	if journal != "" && got != journal {
		b.Fatalf("%s: journal_mode is %q, want %q (the VFS refused it)", name, got, journal)
	}
	b.Logf("%s: journal_mode %s, locking_mode %s, synchronous %s, page_size %s", name, got,
		tb.Str("locking", `vs.call({op: "query", sql: "PRAGMA locking_mode"}).then((r) => r.rows[0].locking_mode)`),
		tb.Str("sync", `vs.call({op: "query", sql: "PRAGMA synchronous"}).then((r) => String(r.rows[0].synchronous))`),
		tb.Str("page", `vs.call({op: "query", sql: "PRAGMA page_size"}).then((r) => String(r.rows[0].page_size))`))
	return tb
}

// timeSaves saves n notes one transaction each and returns each save's
// milliseconds, timed in the page (performance.now() around the call):
// what the app waits for, without the DevTools round trip.
func (tb *tab) timeSaves(n int) []float64 {
	tb.T.Helper()
	var ms []float64
	tb.Eval("time the saves", fmt.Sprintf(`(async () => {
		const ms = [];
		for (let i = 0; i < %d; i++) {
			const t0 = performance.now();
			const r = await vs.call({op: "transaction", statements: [
				{sql: "INSERT INTO test_notes(body) VALUES (?)", bind: ["a note of about the size of a record " + i]}]});
			ms.push(performance.now() - t0);
			if (!r.ok) throw new Error(r.error);
		}
		return ms;
	})()`, n), &ms)
	if len(ms) != n {
		tb.T.Fatalf("%d timings for %d saves", len(ms), n)
	}
	return ms
}

func quantile(ms []float64, q float64) float64 {
	s := slices.Sorted(slices.Values(ms))
	return s[min(len(s)-1, int(q*float64(len(s))))]
}

// BenchmarkSaveRow measures one save (a transaction of one INSERT,
// resolved after COMMIT) with the worker's pragmas ("new") and with the
// ones it had before ("old", synchronous=FULL on a DELETE journal), each
// in a browser context of its own, in alternating batches so that the
// machine's other load falls on both alike. The budget is p99 ≤ 20 ms.
//
//	go test ./cmd/villagesync/internal/systest/app -run '^$' -bench SaveRow -benchtime 1000x
func BenchmarkSaveRow(b *testing.B) {
	base := serve(b)
	old := newSaver(b, base, "old", pragmaSets[0].sql, pragmaSets[0].journal)
	cur := newSaver(b, base, "new", "", "")
	const batch = 50
	var oldMs, newMs []float64
	b.ResetTimer()
	for done := 0; done < b.N; done += batch {
		n := min(batch, b.N-done)
		oldMs = append(oldMs, old.timeSaves(n)...)
		newMs = append(newMs, cur.timeSaves(n)...)
	}
	b.StopTimer()
	b.ReportMetric(quantile(oldMs, 0.50), "old-p50-ms")
	b.ReportMetric(quantile(oldMs, 0.99), "old-p99-ms")
	b.ReportMetric(quantile(newMs, 0.50), "new-p50-ms")
	b.ReportMetric(quantile(newMs, 0.99), "new-p99-ms")
	b.ReportMetric(quantile(newMs, 0.99)/quantile(oldMs, 0.99), "new/old-p99")
	b.ReportMetric(quantile(newMs, 0.50)/quantile(oldMs, 0.50), "new/old-p50")
}

// BenchmarkSavePragmas measures a save under each candidate pragma set
// (how pragmas.ts was chosen).
func BenchmarkSavePragmas(b *testing.B) {
	base := serve(b)
	for _, ps := range pragmaSets {
		b.Run(ps.name, func(b *testing.B) {
			tb := newSaver(b, base, ps.name, ps.sql, ps.journal)
			b.ResetTimer()
			ms := tb.timeSaves(b.N)
			b.StopTimer()
			b.ReportMetric(quantile(ms, 0.50), "p50-ms")
			b.ReportMetric(quantile(ms, 0.99), "p99-ms")
			b.ReportMetric(slices.Max(ms), "max-ms")
		})
	}
}
