package replica_test

import (
	"context"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/server"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// A backup taken while devices sync, restored later: devices that synced
// after the backup push their writes again, and nothing acknowledged is
// lost.
func TestRestoreFromBackupLosesNothing(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "server.db")
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, file, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(st, "127.0.0.1:0", log, 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	enroll := func(name string) *replica.Replica {
		code, err := st.CodeFor(ctx, name, store.Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := replica.Init(ctx, filepath.Join(dir, name+".db"), srv.URL, code, name, replica.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a, b := enroll("a"), enroll("b")
	before := put(t, a, "books", "", "title", "before the backup")
	syncOK(t, a)
	syncOK(t, b)

	backup := filepath.Join(dir, "backup.db")
	if err := store.Backup(ctx, file, backup); err != nil {
		t.Fatal(err)
	}
	if err := store.Backup(ctx, file, backup); err == nil {
		t.Error("a backup over an existing file was allowed")
	}

	// Acknowledged after the backup: lost by the restore, unless re-pushed.
	put(t, a, "books", before, "notes", "edited after the backup")
	after := put(t, a, "books", "", "title", "written after the backup")
	fromB := put(t, b, "books", "", "title", "b, after the backup")
	syncOK(t, a)
	syncOK(t, b)

	// Disaster: the server comes back from the backup.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(file + suffix)
	}
	copyFile(t, backup, file)
	if st, err = store.Open(ctx, file, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if srv, err = server.Start(st, addr, log, 0); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()

	for _, d := range []*replica.Replica{a, b} {
		if s := syncOK(t, d); !s.ServerRestored {
			t.Errorf("%s did not notice the restore: %v", d.Name(), s)
		}
	}
	for _, d := range []*replica.Replica{a, b, a, b} {
		syncOK(t, d)
	}
	probeCode, err := st.CodeFor(ctx, "probe", store.Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := replica.Init(ctx, filepath.Join(dir, "probe.db"), srv.URL, probeCode, "probe", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	syncOK(t, probe)
	for id, want := range map[string]string{before: "edited after the backup", after: "written after the backup", fromB: "b, after the backup"} {
		rec, _ := probe.Get(ctx, "books", id)
		if rec == nil {
			t.Errorf("%q is lost", want)
			continue
		}
		if got := rec.Fields["notes"].Value.Text + rec.Fields["title"].Value.Text; !strings.Contains(got, want) {
			t.Errorf("record %s holds %q, want %q", id, got, want)
		}
	}
	if da, db, dp := dump(t, a), dump(t, b), dump(t, probe); da != dp || db != dp {
		t.Errorf("not converged after the restore:\na: %s\nb: %s\nserver: %s", da, db, dp)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// A delete made after the backup, then collected everywhere, and then the
// server is restored from that backup: the deleter pushes the delete
// again, so the record does not come back, and all converge. The deleter
// drops its tombstone either as the server collects it, or in a re-pull
// (it had fallen behind the horizon).
func TestRestoreAfterCollectionKeepsDeletes(t *testing.T) {
	t.Run("dropped with the collection", func(t *testing.T) { restoreAfterCollection(t, false) })
	t.Run("dropped by a re-pull", func(t *testing.T) { restoreAfterCollection(t, true) })
}

func restoreAfterCollection(t *testing.T, behind bool) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "server.db")
	log := slog.New(slog.DiscardHandler)
	st, err := store.Open(ctx, file, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(st, "127.0.0.1:0", log, 0)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(srv.URL, "http://")
	enroll := func(name string) *replica.Replica {
		code, err := st.CodeFor(ctx, name, store.Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, err := replica.Init(ctx, filepath.Join(dir, name+".db"), srv.URL, code, name, replica.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	a, b := enroll("a"), enroll("b")
	x := put(t, a, "books", "", "title", "deleted after the backup")
	kept := put(t, b, "books", "", "title", "kept")
	syncOK(t, a)
	syncOK(t, b)
	syncOK(t, a)
	backup := filepath.Join(dir, "backup.db")
	if err := store.Backup(ctx, file, backup); err != nil {
		t.Fatal(err)
	}

	if err := a.Delete(ctx, "books", x); err != nil {
		t.Fatal(err)
	}
	syncOK(t, a)
	syncOK(t, b)
	if behind {
		put(t, b, "books", "", "title", "moves the feed past a's cursor")
		syncOK(t, b)
	}
	if n, err := st.CollectTombstones(ctx, math.MaxUint64); err != nil || n != 1 {
		t.Fatalf("collected %d, %v", n, err)
	}
	if got := syncOK(t, a); got.Repulled != behind { // both learn the horizon and drop the tombstone
		t.Fatalf("a re-pulled: %v, want %v", got.Repulled, behind)
	}
	syncOK(t, b)
	for _, d := range []*replica.Replica{a, b} {
		if rec, _ := d.Get(ctx, "books", x); rec != nil {
			t.Fatalf("%s still holds the collected tombstone", d.Name())
		}
	}

	srv.Stop()
	st.Close()
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(file + suffix)
	}
	copyFile(t, backup, file)
	if st, err = store.Open(ctx, file, store.Options{}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if srv, err = server.Start(st, addr, log, 0); err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for _, d := range []*replica.Replica{a, b, a, b} {
		syncOK(t, d)
	}
	var alive int
	st.Reader().QueryRow(`SELECT count(*) FROM books WHERE id = ? AND _deleted = 0`, x).Scan(&alive)
	if alive != 0 {
		t.Error("the restored server holds the deleted book alive")
	}
	for _, d := range []*replica.Replica{a, b} {
		if rec, _ := d.Get(ctx, "books", x); rec != nil && !rec.Deleted() {
			t.Errorf("%s: the deleted book is alive again", d.Name())
		}
		if rec, _ := d.Get(ctx, "books", kept); rec == nil {
			t.Errorf("%s lost a live book", d.Name())
		}
	}
	probeCode, _ := st.CodeFor(ctx, "probe", store.Staff, nil)
	probe, err := replica.Init(ctx, filepath.Join(dir, "probe.db"), srv.URL, probeCode, "probe", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	syncOK(t, probe)
	if da, db, dp := dump(t, a), dump(t, b), dump(t, probe); da != dp || db != dp {
		t.Errorf("not converged after the restore:\na: %s\nb: %s\nserver: %s", da, db, dp)
	}
}
