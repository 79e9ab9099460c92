package endtoend

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// A backup taken while devices sync, restored later: devices that synced
// after the backup push their writes again, and nothing acknowledged is
// lost.
func TestRestoreFromBackupLosesNothing(t *testing.T) {
	ctx := context.Background()
	e := newRestorable(t)
	dir, enroll := e.dir, e.enroll
	a, b := enroll("a"), enroll("b")
	before := put(t, a, "books", "", "title", "before the backup")
	syncOK(t, a)
	syncOK(t, b)

	backup := filepath.Join(dir, "backup.db")
	if err := store.Backup(ctx, e.file, backup); err != nil {
		t.Fatal(err)
	}
	if err := store.Backup(ctx, e.file, backup); err == nil {
		t.Error("a backup over an existing file was allowed")
	}

	// Acknowledged after the backup: lost by the restore, unless re-pushed.
	put(t, a, "books", before, "notes", "edited after the backup")
	after := put(t, a, "books", "", "title", "written after the backup")
	fromB := put(t, b, "books", "", "title", "b, after the backup")
	syncOK(t, a)
	syncOK(t, b)

	// Disaster: the server comes back from the backup.
	e.restore(backup)

	for _, d := range []*replica.Replica{a, b} {
		if s := syncOK(t, d); !s.ServerRestored {
			t.Errorf("%s did not notice the restore: %v", d.Name(), s)
		}
	}
	for _, d := range []*replica.Replica{a, b, a, b} {
		syncOK(t, d)
	}
	probeCode, err := e.st.CodeFor(ctx, "probe", store.Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	probe, err := replica.Init(ctx, filepath.Join(dir, "probe.db"), e.srv.URL, probeCode, "probe", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	syncOK(t, probe)
	for id, want := range map[string]string{before: "edited after the backup", after: "written after the backup",
		fromB: "b, after the backup"} {
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

// A photo uploaded after the backup is gone from the restored server; the
// device that wrote it sends it again at its next sync, and another device
// can fetch it.
func TestRestoreBringsBackPhotos(t *testing.T) {
	ctx := context.Background()
	e := newRestorable(t)
	a, b := e.enroll("a"), e.enroll("b")
	syncOK(t, a)
	backup := filepath.Join(e.dir, "backup.db")
	if err := store.Backup(ctx, e.file, backup); err != nil {
		t.Fatal(err)
	}

	var photo bytes.Buffer
	if err := jpeg.Encode(&photo, image.NewGray(image.Rect(0, 0, 64, 48)), nil); err != nil {
		t.Fatal(err)
	}
	d, err := a.Attach(ctx, photo.Bytes(), false)
	if err != nil {
		t.Fatal(err)
	}
	put(t, a, "tutoring_sessions", "", "sheet_photos", d)
	syncOK(t, a)
	if up, err := a.UploadAttachments(ctx); err != nil || len(up.Uploaded) != 1 {
		t.Fatalf("before the restore: %v, %v; want the photo uploaded", up, err)
	}

	e.restore(backup)
	if s := syncOK(t, a); !s.ServerRestored {
		t.Fatalf("the device did not notice the restore: %v", s)
	}
	if up, err := a.UploadAttachments(ctx); err != nil || len(up.Uploaded) != 1 || up.Uploaded[0] != d {
		t.Fatalf("after the restore: %v, %v; want the photo uploaded again", up, err)
	}
	syncOK(t, b)
	got, err := b.Attachment(ctx, d, false)
	if err != nil || !bytes.Equal(got.Data, photo.Bytes()) {
		t.Fatalf("another device fetched %d bytes, %v; want the %d-byte photo", len(got.Data), err, photo.Len())
	}
}

// restorable is a server on a file that a test can restore from a backup,
// at the same address, as an operator would.
type restorable struct {
	t    *testing.T
	dir  string
	file string
	addr string
	st   *store.Store
	srv  *server.Running
}

func newRestorable(t *testing.T) *restorable {
	e := &restorable{t: t, dir: t.TempDir()}
	e.file = filepath.Join(e.dir, "server.db")
	e.start("127.0.0.1:0")
	e.addr = strings.TrimPrefix(e.srv.URL, "http://")
	t.Cleanup(func() { e.srv.Stop(); e.st.Close() })
	return e
}

func (e *restorable) start(addr string) {
	var err error
	if e.st, err = store.Open(context.Background(), e.file, store.Options{}); err != nil {
		e.t.Fatal(err)
	}
	if e.srv, err = server.Start(e.st, addr, slog.New(slog.DiscardHandler), 0); err != nil {
		e.t.Fatal(err)
	}
}

// enroll enrolls a staff device called name.
func (e *restorable) enroll(name string) *replica.Replica {
	e.t.Helper()
	ctx := context.Background()
	code, err := e.st.CodeFor(ctx, name, store.Staff, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	r, err := replica.Init(ctx, filepath.Join(e.dir, name+".db"), e.srv.URL, code, name, replica.Options{})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { r.Close() })
	return r
}

// restore stops the server, puts backup in place of its file and starts
// it again at the same address.
func (e *restorable) restore(backup string) {
	if err := e.srv.Stop(); err != nil {
		e.t.Fatal(err)
	}
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(e.file + suffix)
	}
	copyFile(e.t, backup, e.file)
	e.start(e.addr)
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
	e := newRestorable(t)
	dir, enroll := e.dir, e.enroll
	a, b := enroll("a"), enroll("b")
	x := put(t, a, "books", "", "title", "deleted after the backup")
	kept := put(t, b, "books", "", "title", "kept")
	syncOK(t, a)
	syncOK(t, b)
	syncOK(t, a)
	backup := filepath.Join(dir, "backup.db")
	if err := store.Backup(ctx, e.file, backup); err != nil {
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
	if n, err := e.st.CollectTombstones(ctx, math.MaxUint64); err != nil || n != 1 {
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

	e.restore(backup)
	for _, d := range []*replica.Replica{a, b, a, b} {
		syncOK(t, d)
	}
	var alive int
	e.st.Reader().QueryRow(`SELECT count(*) FROM books WHERE id = ? AND _deleted = 0`, x).Scan(&alive)
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
	probeCode, _ := e.st.CodeFor(ctx, "probe", store.Staff, nil)
	probe, err := replica.Init(ctx, filepath.Join(dir, "probe.db"), e.srv.URL, probeCode, "probe", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer probe.Close()
	syncOK(t, probe)
	if da, db, dp := dump(t, a), dump(t, b), dump(t, probe); da != dp || db != dp {
		t.Errorf("not converged after the restore:\na: %s\nb: %s\nserver: %s", da, db, dp)
	}
}
