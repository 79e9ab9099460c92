package endtoend

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// A backlog bigger than the server's rate limit allows at once: the
// device waits as the server says and finishes in one Sync call.
func TestBacklogWaitsOutTheRateLimit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.StartTLS(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0, server.TLS{},
		// A token every 200 ms: a round trip on a loaded machine under the
		// race detector can take tens of milliseconds, and at a faster rate
		// the bucket refilled between calls and never refused one.
		rpc.Limits{RequestsPerSecond: 5, Burst: 1, Timeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	code, _ := st.CodeFor(ctx, "a", store.Staff, nil)
	a, err := replica.Init(ctx, filepath.Join(dir, "a.db"), srv.URL, code, "a", replica.Options{PushBatch: 5})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range 60 {
		put(t, a, "books", "", "title", fmt.Sprint("book ", i))
	}
	got, err := a.Sync(ctx)
	if err != nil {
		t.Fatalf("sync of a backlog under a rate limit: %v", err)
	}
	if got.Applied != 60 {
		t.Errorf("applied %d of 60: %v", got.Applied, got)
	}
	if got.RoundTrips <= 13 {
		t.Errorf("%d round trips: the limit never refused a call, so the test proves nothing", got.RoundTrips)
	}
}
