package photolane_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// BenchmarkIdleSyncBesideUpload times a device's idle sync alone, then
// while the same device uploads photos, in the same process, and reports
// the second as a ratio of the first (ratio; 1 means the upload costs an
// idle sync nothing). ns/op is the idle sync beside the upload;
// alone-ns/op without it; beside-share the part of the syncs timed while
// the upload ran (the rest are left out of the ratio).
//
// unlimited turns the server's rate limits off, so the lane sends as fast
// as the machine takes: the worst case of sharing a CPU, a database and a
// link. default-limits keeps the server's defaults (the lane at 10 chunks a
// second after a burst of 40, as a device meets it) and syncs every 150 ms,
// within the device's own bucket; only the syncs are timed, not the waits
// between them.
//
//	go test -run - -bench IdleSyncBesideUpload -benchtime 40x ./cmd/villagesync/internal/systest/photolane
func BenchmarkIdleSyncBesideUpload(b *testing.B) {
	b.Run("unlimited", func(b *testing.B) { benchIdleBesideUpload(b, rpc.Limits{}, 0) })
	b.Run("default-limits", func(b *testing.B) { benchIdleBesideUpload(b, rpc.DefaultLimits, 150*time.Millisecond) })
}

func benchIdleBesideUpload(b *testing.B, lim rpc.Limits, every time.Duration) {
	ctx := context.Background()
	dir := b.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "s.db"), store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	sctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	log := slog.New(slog.DiscardHandler)
	go func() { done <- server.Serve(sctx, ln, server.Handler(st, log, lim), log, 0) }()
	b.Cleanup(func() { cancel(); <-done; st.Close() })
	code, err := st.CodeFor(ctx, "staff", store.Staff, nil)
	if err != nil {
		b.Fatal(err)
	}
	r, err := replica.Init(ctx, filepath.Join(dir, "d.db"), "http://"+ln.Addr().String(), code, "d", replica.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { r.Close() })
	withPhotos(b, r, 16, 1<<20)
	var tick <-chan time.Time
	if every > 0 {
		t := time.NewTicker(every)
		defer t.Stop()
		tick = t.C
	}
	// idle syncs once and says how long the sync took.
	idle := func() time.Duration {
		if tick != nil {
			<-tick
		}
		start := time.Now()
		if _, err := r.Sync(ctx); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	idle()

	b.ResetTimer()
	var spent time.Duration
	for range b.N {
		spent += idle()
	}
	alone := spent / time.Duration(b.N)

	var uploading atomic.Bool
	uploading.Store(true)
	upErr := make(chan error, 1)
	upCtx, stopUpload := context.WithCancel(ctx)
	defer stopUpload()
	go func() {
		_, err := r.UploadAttachments(upCtx)
		uploading.Store(false)
		upErr <- err
	}()
	n := 0
	spent = 0
	for n < b.N && uploading.Load() {
		d := idle()
		if !uploading.Load() {
			break // the upload may have ended during this sync
		}
		spent += d
		n++
	}
	beside := spent / time.Duration(max(n, 1))
	b.StopTimer()
	stopUpload() // the rest of the photos are not needed
	if err := <-upErr; err != nil && !errors.Is(err, context.Canceled) {
		b.Fatal(err)
	}
	if n == 0 {
		b.Fatal("the upload ended before an idle sync could run beside it")
	}
	b.ReportMetric(float64(beside.Nanoseconds()), "ns/op")
	b.ReportMetric(float64(alone.Nanoseconds()), "alone-ns/op")
	b.ReportMetric(float64(beside)/float64(alone), "ratio")
	b.ReportMetric(float64(n)/float64(b.N), "beside-share")
}
