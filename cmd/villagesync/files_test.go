package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/sync/store"
)

// sums is the sha256 of each file in dir: what a refused command must
// leave exactly as it was (no -wal or -shm appearing either).
func sums(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][32]byte{}
	for _, e := range es {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = sha256.Sum256(b)
	}
	return out
}

func sameFiles(t *testing.T, what string, before, after map[string][32]byte) {
	t.Helper()
	if len(before) != len(after) {
		t.Errorf("%s: %d files before, %d after", what, len(before), len(after))
	}
	for name, sum := range before {
		if after[name] != sum {
			t.Errorf("%s changed %s", what, name)
		}
	}
}

// Found by an outside tester: `serve --db phone.db` applied a server
// migration before failing, and the phone's file was then refused by
// every device command, stranding its token and unsynced writes. Each
// kind of file is refused by the other's commands, untouched.
func TestAFileOfTheOtherKindIsRefusedUntouched(t *testing.T) {
	ctx := context.Background()
	srv := startServer(t)
	dir := t.TempDir()
	phone := filepath.Join(dir, "phone.db")
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out)
		return out.String(), err
	}
	if _, err := cli("device", "--db", phone, "init", "--server", srv.URL, "--code", srv.code(t, "a"),
		"--name", "phone"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli("device", "--db", phone, "log-session", "--village", "南香村", "--date", "2024-06-03",
		"--children", "9"); err != nil {
		t.Fatal(err)
	}
	before := sums(t, dir)
	for _, args := range [][]string{
		{"serve", "--db", phone, "--listen", "127.0.0.1:0"},
		{"admin", "--db", phone, "bootstrap", "李主任"},
		{"backup", "--db", phone, "--out", filepath.Join(dir, "copy.db")},
	} {
		_, err := cli(args...)
		if err == nil || !strings.Contains(err.Error(), phone+": the file is a villagesync device file") ||
			!strings.Contains(err.Error(), "the server needs its own database file") {
			t.Errorf("%s: %v, want a refusal saying it is a device file", strings.Join(args, " "), err)
		}
		sameFiles(t, args[0], before, sums(t, dir))
	}
	if out, err := cli("device", "--db", phone, "status"); err != nil || !strings.Contains(out, `"pending":{"tutoring_sessions":1}`) {
		t.Errorf("the phone after the refusals: %v\n%s", err, out)
	}

	// And the other way round: a server database given to a device command.
	sdir := t.TempDir()
	server := filepath.Join(sdir, "villagesync.db")
	st, err := store.Open(ctx, server, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	before = sums(t, sdir)
	for _, args := range [][]string{{"device", "--db", server, "status"}, {"device", "--db", server, "sync"}} {
		_, err := cli(args...)
		if err == nil || !strings.Contains(err.Error(), server+": the file is a villagesync server database") {
			t.Errorf("%s: %v, want a refusal saying it is a server database", strings.Join(args, " "), err)
		}
		sameFiles(t, "device "+args[3], before, sums(t, sdir))
	}
}

// Found by an outside tester: the server database, its -wal and -shm and
// backups were world-readable under umask 022. They are their owner's.
func TestServerFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	db := filepath.Join(dir, "villagesync.db")
	var out bytes.Buffer
	if err := run(ctx, []string{"admin", "--db", db, "bootstrap", "李主任"}, &out); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, db, store.Options{}) // held open: its -wal and -shm stay
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.NewEnrollmentCode(ctx, "李主任", time.Hour); err != nil {
		t.Fatal(err)
	}
	copyFile := filepath.Join(dir, "copy.db")
	if err := run(ctx, []string{"backup", "--db", db, "--out", copyFile}, &out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{db, db + "-wal", db + "-shm", copyFile} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want -rw-------", filepath.Base(f), fi.Mode(), err)
		}
	}
	if _, err := store.Open(ctx, copyFile, store.Options{}); err != nil {
		t.Errorf("the backup does not open as a server database: %v", err)
	}
}
