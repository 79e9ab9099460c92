package replica

import (
	"context"
	"fmt"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// A page is stored takeRows records per statement: whatever the page's
// length and however its tables alternate, every record is stored once,
// and a record with writes not yet pushed keeps them.
func TestTakeStoresPagesInRuns(t *testing.T) {
	sessions, _ := schema.Lookup("tutoring_sessions")
	books, _ := schema.Lookup("books")
	for _, tc := range []struct {
		name    string
		n       int
		tables  []*schema.Table // cycled through, a record each
		pending int             // records among the first n with unpushed writes
	}{
		{"one record", 1, []*schema.Table{sessions}, 0},
		{"a full run", takeRows, []*schema.Table{sessions}, 0},
		{"a run and one", takeRows + 1, []*schema.Table{sessions}, 3},
		{"a page of 1,000", 1000, []*schema.Table{sessions}, 10},
		{"tables alternating", 2*takeRows + 5, []*schema.Table{sessions, books}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			d := fakeDevice(t, &scripted{})
			take := func(note string) int {
				tx, err := d.db.W.BeginTx(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer tx.Rollback()
				k := newTaker(d, tx)
				for i := range tc.n {
					tb := tc.tables[i%len(tc.tables)]
					if err := k.add(ctx, tb, takeRecord(tb, i, note)); err != nil {
						t.Fatal(err)
					}
				}
				if err := k.close(ctx); err != nil {
					t.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				return k.taken
			}
			if got := take("first"); got != tc.n {
				t.Fatalf("first page: %d taken, want %d", got, tc.n)
			}
			for i := range tc.pending {
				tb := tc.tables[i%len(tc.tables)]
				if _, err := d.db.W.ExecContext(ctx, fmt.Sprintf(`UPDATE %s SET _own = _acked + 1 WHERE id = ?`,
					tb.Name), takeID(i)); err != nil {
					t.Fatal(err)
				}
			}
			if got := take("second"); got != tc.n-tc.pending {
				t.Fatalf("second page: %d taken, want %d (%d have unpushed writes)", got, tc.n-tc.pending, tc.pending)
			}
			for i := range tc.n {
				tb := tc.tables[i%len(tc.tables)]
				var note string
				var seq int64
				if err := d.db.R.QueryRowContext(ctx, fmt.Sprintf(`SELECT notes, _seq FROM %s WHERE id = ?`, tb.Name),
					takeID(i)).Scan(&note, &seq); err != nil {
					t.Fatalf("record %d: %v", i, err)
				}
				want := "second"
				if i < tc.pending {
					want = "first"
				}
				if note != want || seq != int64(i+1) {
					t.Errorf("record %d of %s: notes %q at %d, want %q at %d", i, tb.Name, note, seq, want, i+1)
				}
			}
		})
	}
}

func takeID(i int) string { return fmt.Sprintf("00000000-0000-7000-8000-%012d", i) }

func takeRecord(tb *schema.Table, i int, note string) *record.Record {
	d := vv.Dot{Replica: 2, Counter: 1, HLC: 1}
	return &record.Record{Table: tb.Name, ID: takeID(i), Seq: uint64(i + 1), Version: vv.VV{2: 1},
		Fields: map[string]record.Field{"notes": {Value: schema.TextValue(note), Dot: d}}}
}
