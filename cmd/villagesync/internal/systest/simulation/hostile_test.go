package simulation_test

import (
	"context"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

func book(t *testing.T, d *replica.Replica, title string) string {
	t.Helper()
	vals, _ := schema.Fields("village", "南香村", "library", "children", "title", title, "notes", strings.Repeat("长", 2000))
	id, err := d.Put(context.Background(), "books", "", vals)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A full disk: the sync fails with Unavailable and plain words, the server
// keeps nothing half-written, the device keeps its writes for later.
func TestDiskFull(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.db")
	st, err := store.Open(ctx, file, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var pages int64
	st.Reader().QueryRow(`PRAGMA page_count`).Scan(&pages)
	st.Close()
	// Reopen capped a little above its size: room for one enrollment and a
	// sync or two, not for many books.
	if st, err = store.Open(ctx, file, store.Options{MaxPages: pages + 40}); err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	srv, err := server.Start(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	code, _ := st.CodeFor(ctx, "a", store.Staff, nil)
	a, err := replica.Init(ctx, filepath.Join(dir, "a.db"), srv.URL, code, "a", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var ids []string
	for i := range 60 {
		ids = append(ids, book(t, a, "book "+string(rune('A'+i%26))))
	}
	var books int
	st.Reader().QueryRow(`SELECT count(*) FROM books`).Scan(&books)
	_, err = a.Sync(ctx)
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("sync into a full disk: %v, want unavailable saying the disk is full", err)
	}
	var after int
	st.Reader().QueryRow(`SELECT count(*) FROM books`).Scan(&after)
	if after != books {
		t.Errorf("a failed push left %d books on the server", after-books)
	}
	s, _ := a.Status(ctx)
	if s.Pending["books"] != len(ids) || !strings.Contains(s.LastError, "disk full") {
		t.Errorf("device status after the failed sync: %+v", s)
	}
}

// A phone whose clock is years ahead: its writes are refused with a clear
// reason (kept on the phone), and the server's clock does not jump. Once
// its date is fixed, its writes go through again.
func TestClockYearsAhead(t *testing.T) {
	ctx := context.Background()
	srv := replicatest.Start(t, nil)
	years := 3
	ahead := &hlc.Clock{Wall: func() time.Time { return time.Now().AddDate(years, 0, 0) }}
	d := srv.Device(t, "wrong-date", store.Staff, nil, replica.Options{Clock: ahead})
	before := srv.Store.Clock().Last()
	id := book(t, d, "from the future")
	st, err := d.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Rejected != 1 {
		t.Fatalf("sync %v, want the write refused", st)
	}
	rej, _ := d.Rejected(ctx)
	if len(rej) != 1 || rej[0].ID != id || !strings.Contains(rej[0].Message, "more than a day ahead of the server") ||
		!strings.Contains(rej[0].Message, "请校正手机日期和时间") {
		t.Errorf("rejected: %+v", rej)
	}
	if now := srv.Store.Clock().Last(); hlc.Time(now).After(time.Now().Add(time.Hour)) || now < before {
		t.Errorf("the server's clock moved to %v", hlc.Time(now))
	}
	years = 0 // someone set the phone's date
	if _, err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	book(t, d, "after the fix")
	if st, err := d.Sync(ctx); err != nil || st.Applied != 1 || st.Rejected != 0 {
		t.Errorf("after fixing the date: %v %v, want the write applied", st, err)
	}
}

// A corrupted device file: a clear error, nothing overwritten.
func TestCorruptDeviceFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "phone.db")
	junk := []byte(strings.Repeat("not a database ", 500))
	if err := os.WriteFile(file, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := replica.Open(context.Background(), file, replica.Options{})
	if err == nil || !strings.Contains(err.Error(), "corrupt or not a villagesync database") {
		t.Errorf("open a corrupt file: %v", err)
	}
	if got, _ := os.ReadFile(file); string(got) != string(junk) {
		t.Error("the corrupt file was changed; it should be kept for inspection")
	}
}

// A read-only database (a mount gone read-only, a file whose permissions
// were changed). Root ignores permission bits, so the test makes the files
// immutable instead, and skips where it may not.
//   - While serving: the sync fails with Unavailable and plain words, the
//     device keeps its writes, and they go through once the file is
//     writable again.
//   - At start: the server refuses to start, saying why.
func TestReadOnlyDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.db")
	st, err := store.Open(ctx, file, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := st.CodeFor(ctx, "a", store.Staff, nil)
	a, err := replica.Init(ctx, filepath.Join(dir, "a.db"), srv.URL, code, "a", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	book(t, a, "written while the disk is read-only")

	// Not the -shm file: SQLite maps it into memory, and an immutable
	// mapping faults instead of failing a write.
	files := []string{file, file + "-wal"}
	if out, err := exec.Command("chattr", append([]string{"+i"}, files...)...).CombinedOutput(); err != nil {
		t.Skipf("cannot make a file immutable here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("chattr", append([]string{"-i"}, files...)...).Run() })
	_, err = a.Sync(ctx)
	if connect.CodeOf(err) != connect.CodeUnavailable || !strings.Contains(err.Error(), "read-only") {
		t.Errorf("sync against a read-only database: %v, want unavailable saying read-only", err)
	}
	if s, _ := a.Status(ctx); s.Pending["books"] != 1 {
		t.Errorf("the device lost its pending write: %+v", s)
	}
	// Writable again: the same server takes the write.
	if out, err := exec.Command("chattr", append([]string{"-i"}, files...)...).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	if st, err := a.Sync(ctx); err != nil || st.Applied != 1 {
		t.Errorf("sync once the database is writable again: %v %v, want the book applied", st, err)
	}
	srv.Stop()
	st.Close() // checkpoints and removes the WAL
	if out, err := exec.Command("chattr", "+i", file).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}

	_, err = store.Open(ctx, file, store.Options{})
	if err == nil || !strings.Contains(err.Error(), "read-only") {
		t.Fatalf("open a read-only database: %v, want a refusal saying read-only", err)
	}
}
