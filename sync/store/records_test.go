package store

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

// A village's page of records is a range read on the scope index, for
// every program table: never a scan of the whole table and a sort.
func TestListRecordsUsesTheScopeIndex(t *testing.T) {
	sqliteOnly(t, "SQLite's query plans")
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, tbl := range schema.Tables() {
		if !tbl.Program || tbl.Scope == "" {
			continue
		}
		t.Run(tbl.Name, func(t *testing.T) {
			rows, err := s.r.QueryContext(ctx, fmt.Sprintf(`EXPLAIN QUERY PLAN SELECT %s, _seq FROM %s
				WHERE %s = ? AND id < ? AND _deleted = 0 ORDER BY id DESC LIMIT ?`,
				sqlite.Columns(tbl), tbl.Name, tbl.Scope), "南香村", "z", 10)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			var plan []string
			for rows.Next() {
				var id, parent, unused int
				var detail string
				if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
					t.Fatal(err)
				}
				plan = append(plan, detail)
			}
			got := strings.Join(plan, "; ")
			if !strings.Contains(got, "USING INDEX "+tbl.Name+"_by_village (village=? AND id<?)") ||
				strings.Contains(got, "TEMP B-TREE") {
				t.Errorf("plan: %s", got)
			}
		})
	}
}
