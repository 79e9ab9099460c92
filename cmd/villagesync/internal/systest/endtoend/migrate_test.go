package endtoend

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// A deployment moved from SQLite to PostgreSQL (`villagesync migrate`)
// is the same server to its devices: an enrolled device pushes and pulls
// with its old token, no "restored", nothing lost. Then `admin
// mark-restored` on the PostgreSQL database makes the device push its
// writes again, as after restoring a dump.
func TestMigratedServerKeepsItsDevices(t *testing.T) {
	ctx := context.Background()
	e := newRestorable(t)
	a := e.enroll("a")
	before := put(t, a, "books", "", "title", "on SQLite")
	syncOK(t, a)
	sid := e.st.ServerID()

	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	to := pgtest.URL(t)
	if _, err := store.MigrateToPostgres(ctx, e.file, to, nil); err != nil {
		t.Fatal(err)
	}
	startOn := func(dsn string) {
		var err error
		if e.st, err = store.Open(ctx, dsn, store.Options{}); err != nil {
			t.Fatal(err)
		}
		if e.srv, err = server.Start(e.st, e.addr, slog.New(slog.DiscardHandler), 0); err != nil {
			t.Fatal(err)
		}
	}
	startOn(to)
	if e.st.ServerID() != sid {
		t.Errorf("server id %x after the move, want %x", e.st.ServerID(), sid)
	}

	after := put(t, a, "books", "", "title", "on PostgreSQL")
	if st := syncOK(t, a); st.ServerRestored || st.Applied != 1 {
		t.Errorf("the device's first sync after the move: %+v; want its one new record applied, no restore", st)
	}
	code, err := e.st.CodeFor(ctx, "probe", store.Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := replica.Init(ctx, filepath.Join(e.dir, "probe.db"), e.srv.URL, code, "probe", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	fromProbe := put(t, probe, "books", "", "title", "from a new device")
	syncOK(t, probe)
	syncOK(t, a)
	for _, id := range []string{before, after, fromProbe} {
		for _, d := range []*replica.Replica{a, probe} {
			if rec, _ := d.Get(ctx, "books", id); rec == nil {
				t.Errorf("%s lacks %s", d.Name(), id)
			}
		}
	}

	// A restore of PostgreSQL, marked as one.
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := store.MarkRestored(ctx, to); err != nil {
		t.Fatal(err)
	}
	startOn(to)
	if st := syncOK(t, a); !st.ServerRestored {
		t.Errorf("the device did not notice mark-restored: %+v", st)
	}
	syncOK(t, probe)
	syncOK(t, a)
	if da, dp := dump(t, a), dump(t, probe); da != dp {
		t.Errorf("not converged after mark-restored:\na: %s\nprobe: %s", da, dp)
	}
}
