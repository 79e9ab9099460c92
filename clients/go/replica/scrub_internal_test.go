package replica

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// BenchmarkScrub is what a reassignment costs the phone after its sync:
// VACUUM and two TRUNCATE checkpoints of a file that held n books (notes
// of ~200 bytes each), half of which the rescope removed.
func BenchmarkScrub(b *testing.B) {
	ctx := context.Background()
	t, _ := schema.Lookup("books")
	for _, n := range []int{2000, 20000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			r := fakeDevice(b, &scripted{})
			fill := func(from, to int) {
				tx, err := r.db.W.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer tx.Rollback()
				for i := from; i < to; i++ {
					village := "南香村"
					if i%2 == 1 {
						village = "东旺村"
					}
					err := r.writeIn(ctx, tx, t, fmt.Sprintf("0190a0b0-0000-7000-8000-%012d", i),
						func(rec *record.Record, k, ts uint64) error {
							for name, v := range map[string]schema.Value{"village": schema.TextValue(village),
								"title": schema.TextValue(fmt.Sprint("book ", i)),
								"notes": schema.TextValue(strings.Repeat("n", 200)), "library": schema.TextValue(schema.Libraries[0])} {
								rec.Fields[name] = record.Field{Value: v, Dot: dot(r.id, k, ts)}
							}
							return nil
						})
					if err != nil {
						b.Fatal(err)
					}
				}
				if _, err := tx.ExecContext(ctx, `UPDATE books SET _acked = _own`); err != nil {
					b.Fatal(err)
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			fill(0, n)
			var size int64
			for b.Loop() {
				b.StopTimer()
				if _, err := r.db.W.ExecContext(ctx, `DELETE FROM books WHERE village = '东旺村';
					INSERT OR REPLACE INTO meta (key, value) VALUES ('scrub', '1')`); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if err := r.scrub(ctx); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				r.db.W.QueryRowContext(ctx, `SELECT page_count * page_size FROM pragma_page_count, pragma_page_size`).
					Scan(&size)
				fill(0, n)
				b.StartTimer()
			}
			b.ReportMetric(float64(size)/(1<<20), "MiB-after")
		})
	}
}

// Refused changes leave the device with their village: the one noted
// with the change, else the one the change names, else their record's
// (changes kept by earlier versions have no note). One of a table without
// villages, or whose village is not known, stays.
func TestRefusedChangesLeaveWithTheirVillage(t *testing.T) {
	ctx := context.Background()
	srv := &scripted{}
	d := fakeDevice(t, srv)
	books, _ := schema.Lookup("books")
	local := "0190a0b0-0000-7000-8000-000000000001"
	err := d.write(ctx, books, local, func(rec *record.Record, k, ts uint64) error {
		for name, v := range map[string]string{"village": "南香村", "title": "t", "library": schema.Libraries[0]} {
			rec.Fields[name] = record.Field{Value: schema.TextValue(v), Dot: dot(d.id, k, ts)}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.W.ExecContext(ctx, `UPDATE books SET _acked = _own;
		INSERT INTO rejected (tbl, record_id, counter, code, message, change, rejected_ms) VALUES
		('books', 'a', 1, 'permission_denied', 'm', '{"fields":{"village":"南香村","notes":"x"}}', 0),
		('books', ?, 1, 'invalid_argument', 'm', '{"fields":{"notes":"y"}}', 0),
		('books', 'c', 1, 'resource_exhausted', 'm', '{"fields":{"village":"南香村"}}', 0),
		('books', 'd', 1, 'invalid_argument', 'm', '{"fields":{"village":"东旺村"}}', 0),
		('villages', 'e', 1, 'permission_denied', 'm', '{"fields":{"name":"北村"}}', 0),
		('books', 'f', 1, 'permission_denied', 'm', '{"fields":{"notes":"z"},"village":"南香村"}', 0),
		('books', 'g', 1, 'permission_denied', 'm', '{"fields":{"notes":"no village known"}}', 0)`, local); err != nil {
		t.Fatal(err)
	}
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 1, Rescoped: true,
		Scope: []string{"东旺村"}, ScopeHash: 78}, 1)
	if _, err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	rej, err := d.Rejected(ctx)
	var kept []string
	for _, c := range rej {
		kept = append(kept, c.ID)
	}
	// c: the server would hold no more of this device's refused changes.
	if err != nil || strings.Join(kept, " ") != "c d e g" {
		t.Errorf("refused changes kept: %v %v, want c d e g", kept, err)
	}
	if n, err := d.RejectedRemoved(ctx); n != 3 || err != nil {
		t.Errorf("removed %d %v, want 3", n, err)
	}
	var flag int
	d.db.R.QueryRowContext(ctx, `SELECT count(*) FROM meta WHERE key = 'scrub'`).Scan(&flag)
	if flag != 0 {
		t.Error("the scrub was not done")
	}
}
