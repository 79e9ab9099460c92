package photolane_test

import (
	"context"
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
// idle sync nothing). The server's rate limits are off, so the lane sends
// as fast as the machine takes and the figure is the worst case of
// sharing a CPU, a database and a link. ns/op is the idle sync beside
// the upload; alone-ns/op without it; beside-share the part of the syncs
// timed while the upload ran (the rest are left out of the ratio).
//
//	go test -run - -bench IdleSyncBesideUpload -benchtime 200x ./cmd/villagesync/internal/systest/photolane
func BenchmarkIdleSyncBesideUpload(b *testing.B) {
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
	go func() { done <- server.Serve(sctx, ln, server.Handler(st, log, rpc.Limits{}), log, 0) }()
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
	idle := func() {
		if _, err := r.Sync(ctx); err != nil {
			b.Fatal(err)
		}
	}
	idle()

	b.ResetTimer()
	start := time.Now()
	for range b.N {
		idle()
	}
	alone := time.Since(start) / time.Duration(b.N)

	var uploading atomic.Bool
	uploading.Store(true)
	upErr := make(chan error, 1)
	go func() {
		_, err := r.UploadAttachments(ctx)
		uploading.Store(false)
		upErr <- err
	}()
	n := 0
	start = time.Now()
	for n < b.N && uploading.Load() {
		idle()
		n++
	}
	beside := time.Since(start) / time.Duration(max(n, 1))
	b.StopTimer()
	if err := <-upErr; err != nil {
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
