package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
)

// A full database: the error says so in SQLite's words, is still SQLite's
// error, and carries ErrUnavailable; an error in the SQL does not.
func TestStorageFailuresAreMarked(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "full.db"), 1, Kind{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.W.ExecContext(ctx, `CREATE TABLE t (v TEXT)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.W.ExecContext(ctx, `PRAGMA max_page_count = 8`); err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 64<<10)
	_, err = d.W.ExecContext(ctx, `INSERT INTO t VALUES (?)`, long)
	if !IsFull(err) || !errors.Is(err, ErrUnavailable) || err.Error() != "database or disk is full" {
		t.Errorf("insert into a full database: %v (full %v, unavailable %v)",
			err, IsFull(err), errors.Is(err, ErrUnavailable))
	}
	if _, err := d.R.QueryContext(ctx, `SELECT nothing FROM t`); err == nil || errors.Is(err, ErrUnavailable) {
		t.Errorf("a bad query: %v, want an error that is not a storage failure", err)
	}
}
