package replica

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
)

// Every sync reads the pending rows, idle or not: the read must go by the
// partial index of pending rows, in the order it asks for, or it walks
// every record the device holds (an idle sync among 100,000 records took
// 60-80 ms that way, 2-4 ms by the index). A file from before that index
// (with the older one on _own) gets it when it opens.
func TestPendingReadsOnlyPendingRows(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "d.db")
	d := fakeDeviceAt(t, file, &scripted{})
	assertPendingPlans(t, "a new file", d.db.R)

	for _, tb := range schema.Tables() {
		if _, err := d.db.W.ExecContext(ctx, fmt.Sprintf(`DROP INDEX %[1]s_pending_ids;
			CREATE INDEX %[1]s_pending ON %[1]s(_own) WHERE _own > _acked`, tb.Name)); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	r, err := Open(ctx, file, Options{Transport: &scripted{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	assertPendingPlans(t, "a file from before the index", r.db.R)
	var old int
	if err := r.db.R.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master
		WHERE type = 'index' AND name LIKE '%\_pending' ESCAPE '\'`).Scan(&old); err != nil {
		t.Fatal(err)
	}
	if old != 0 {
		t.Errorf("a file from before the index keeps %d indexes on _own: every write would update two", old)
	}
}

func assertPendingPlans(t *testing.T, file string, db *sql.DB) {
	t.Helper()
	for _, tb := range schema.Tables() {
		for _, q := range []struct {
			name, sql string
			args      []any
		}{
			{"a page of pending rows", pendingPage(tb), []any{"", 500}},
			{"the pending count", pendingCount(tb), nil},
		} {
			plan := queryPlan(t, db, q.sql, q.args...)
			if !strings.Contains(plan, tb.Name+"_pending_ids") || strings.Contains(plan, "TEMP B-TREE") {
				t.Errorf("%s: %s of %s reads more than the pending rows in order:\n%s", file, q.name, tb.Name, plan)
			}
		}
	}
}

// queryPlan is SQLite's EXPLAIN QUERY PLAN of q, one step a line.
func queryPlan(t *testing.T, db *sql.DB, q string, args ...any) string {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+q, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		b.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
