package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
)

// files lists dir's files with the sha256 of each, to tell whether
// anything was written, created or removed.
func files(t *testing.T, dir string) map[string][32]byte {
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

// made creates a file of kind k, with table in it, as Open and Migrate
// make one; closed, it is a single file (SQLite removes -wal and -shm).
func made(t *testing.T, file string, k Kind, table string) {
	t.Helper()
	ctx := context.Background()
	d, err := Open(ctx, file, 1, k)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	fsys := fstest.MapFS{"m/0001_init.sql": {Data: []byte("CREATE TABLE " + table + " (v TEXT)")}}
	if err := Migrate(ctx, d.W, fsys, "m", k, nil); err != nil {
		t.Fatal(err)
	}
}

// legacy creates a file as villagesync made them before files carried
// their kind: WAL mode, application_id 0, the kind's tables.
func legacy(t *testing.T, file, table string) {
	t.Helper()
	db, err := sql.Open(driverName, dsn(file, "_journal_mode=WAL"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("CREATE TABLE meta (key, value); CREATE TABLE " + table + " (v TEXT); " +
		"INSERT INTO " + table + " VALUES ('unsynced write'); PRAGMA user_version = 2"); err != nil {
		t.Fatal(err)
	}
}

// A file of another kind, or another program's, is refused with an error
// naming the file and what it is, and is left byte for byte as it was,
// without a -wal or -shm beside it.
func TestWrongKindIsRefusedAndLeftAlone(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		make func(t *testing.T, file string)
		open Kind
		want []string
	}{
		{"device file as server", func(t *testing.T, f string) { made(t, f, DeviceFile, "rejected") }, ServerFile,
			[]string{"is a villagesync device file", "the server needs its own database file"}},
		{"server file as device", func(t *testing.T, f string) { made(t, f, ServerFile, "receipts") }, DeviceFile,
			[]string{"is a villagesync server database", "a device needs its own file"}},
		{"old device file as server", func(t *testing.T, f string) { legacy(t, f, "rejected") }, ServerFile,
			[]string{"is a villagesync device file (made before files carried their kind)"}},
		{"old server file as device", func(t *testing.T, f string) { legacy(t, f, "receipts") }, DeviceFile,
			[]string{"is a villagesync server database (made before"}},
		{"another program's database", func(t *testing.T, f string) { legacy(t, f, "photos") }, ServerFile,
			[]string{"the SQLite database of another program (tables meta, photos)"}},
		{"another program's id", func(t *testing.T, f string) {
			made(t, f, Kind{Name: "x", ID: 0x0f0f0f0f, Needs: "x"}, "t")
		}, DeviceFile, []string{"application_id 0x0f0f0f0f"}},
		{"not SQLite", func(t *testing.T, f string) {
			if err := os.WriteFile(f, []byte(strings.Repeat("name,village\n", 20)), 0o600); err != nil {
				t.Fatal(err)
			}
		}, ServerFile, []string{"corrupt or not a villagesync database (it is not SQLite)"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "phone.db")
			tt.make(t, file)
			before := files(t, dir)
			_, err := Open(ctx, file, 1, tt.open)
			var wk *WrongKindError
			if !errors.As(err, &wk) {
				t.Fatalf("open: %v, want a WrongKindError", err)
			}
			for _, w := range append(tt.want, file, "left as it was") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			after := files(t, dir)
			if len(after) != len(before) {
				t.Errorf("files %d before, %d after: %v", len(before), len(after), after)
			}
			for name, sum := range before {
				if after[name] != sum {
					t.Errorf("%s changed", name)
				}
			}
		})
	}
}

// Files made before application_id existed open as their kind (devices in
// the field keep working) and get their id, in the file's header.
func TestOldFileOfTheRightKindOpensAndIsStamped(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "phone.db")
	legacy(t, file, "rejected")
	d, err := Open(ctx, file, 1, DeviceFile)
	if err != nil {
		t.Fatal(err)
	}
	fsys := fstest.MapFS{
		"m/0001.sql": {Data: []byte("SELECT 1")}, "m/0002.sql": {Data: []byte("SELECT 1")},
		"m/0003.sql": {Data: []byte("ALTER TABLE rejected ADD COLUMN w TEXT")},
	}
	if err := Migrate(ctx, d.W, fsys, "m", DeviceFile, nil); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.R.QueryRowContext(ctx, "SELECT count(*) FROM rejected WHERE w IS NULL").Scan(&n); err != nil || n != 1 {
		t.Errorf("the unsynced write: %d rows, %v", n, err)
	}
	d.Close()
	if err := CheckKind(ctx, file, DeviceFile); err != nil {
		t.Error(err)
	}
	b, _ := os.ReadFile(file)
	if len(b) < 72 || string(b[68:72]) != "VSGD" {
		t.Errorf("the header does not carry the device id")
	}
	if err := CheckKind(ctx, file, ServerFile); err == nil ||
		!strings.Contains(err.Error(), "is a villagesync device file;") {
		t.Errorf("a stamped device file as server: %v", err)
	}
}

// Pending migrations apply all or none: one failing part-way leaves the
// version, the tables and the id as they were.
func TestMigrationFailingPartWayChangesNothing(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name string
		have int // migrations applied before
	}{{"new file", 0}, {"file at version 1", 1}} {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Open(ctx, filepath.Join(t.TempDir(), "s.db"), 1, ServerFile)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			good := fstest.MapFS{"m/0001.sql": {Data: []byte("CREATE TABLE receipts (v)")}}
			if tt.have == 1 {
				if err := Migrate(ctx, d.W, good, "m", ServerFile, nil); err != nil {
					t.Fatal(err)
				}
			}
			var idBefore int
			d.W.QueryRowContext(ctx, "PRAGMA application_id").Scan(&idBefore)
			bad := fstest.MapFS{
				"m/0001.sql": good["m/0001.sql"],
				"m/0002.sql": {Data: []byte("CREATE TABLE two (v); INSERT INTO two VALUES (1)")},
				"m/0003.sql": {Data: []byte("CREATE TABLE three (v); ALTER TABLE nowhere ADD COLUMN x")},
			}
			moreRan := false
			err = Migrate(ctx, d.W, bad, "m", ServerFile, func(context.Context, *sql.Tx) error {
				moreRan = true
				return nil
			})
			if err == nil || !strings.Contains(err.Error(), "migration 0003.sql") {
				t.Fatalf("migrate: %v, want migration 0003.sql's error", err)
			}
			if moreRan {
				t.Error("the rest ran after a failed migration")
			}
			var version, id, tables int
			d.W.QueryRowContext(ctx, "SELECT user_version, application_id FROM pragma_user_version, "+
				"pragma_application_id").Scan(&version, &id)
			d.W.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema WHERE name IN ('two', 'three')").Scan(&tables)
			if version != tt.have || tables != 0 || id != idBefore {
				t.Errorf("after the failure: version %d (want %d), %d new tables, application_id %#x (was %#x)",
					version, tt.have, tables, id, idBefore)
			}
			// And a failure in what comes after the migrations undoes them too.
			err = Migrate(ctx, d.W, good, "m", ServerFile, nil)
			err2 := Migrate(ctx, d.W, fstest.MapFS{"m/0001.sql": good["m/0001.sql"],
				"m/0002.sql": bad["m/0002.sql"]}, "m", ServerFile,
				func(context.Context, *sql.Tx) error { return errors.New("seeding failed") })
			d.W.QueryRowContext(ctx, "SELECT user_version FROM pragma_user_version").Scan(&version)
			if err != nil || err2 == nil || version != 1 {
				t.Errorf("a failure after the migrations: %v, %v, version %d (want 1)", err, err2, version)
			}
		})
	}
}

// A new file, its -wal and -shm are for their owner only under the usual
// umask, and an existing file readable by others is tightened.
func TestFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.db")
	d, err := Open(ctx, file, 1, ServerFile)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.W.ExecContext(ctx, "CREATE TABLE receipts (v); INSERT INTO receipts VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := d.R.QueryRowContext(ctx, "SELECT count(*) FROM receipts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if d.Tightened != 0 {
		t.Errorf("a new file was tightened from %v", d.Tightened)
	}
	for _, f := range []string{file, file + "-wal", file + "-shm"} {
		if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v, want -rw-------", filepath.Base(f), fi.Mode(), err)
		}
	}
	d.Close()

	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, file, 1, ServerFile)
	if err != nil {
		t.Fatal(err)
	}
	if d.Tightened != 0o644 {
		t.Errorf("tightened from %v, want -rw-r--r--", d.Tightened)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("an existing file: %v %v, want -rw-------", fi.Mode(), err)
	}
	d.Close()

	// A -wal or -shm open to others beside a file that is not.
	if err := os.WriteFile(file+"-wal", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file+"-wal", 0o644); err != nil {
		t.Fatal(err)
	}
	d, err = Open(ctx, file, 1, ServerFile)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if fi, err := os.Stat(file + "-wal"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("an existing -wal beside an owner-only file: %v %v, want -rw-------", fi.Mode(), err)
	}
}
