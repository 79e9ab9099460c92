package store

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// A page of entries with their records holds at most MaxWithRecords,
// whatever the limit asked (each entry carries its members' fields, so a
// page of 1000 could be megabytes); paging on from the last id still
// reaches every entry. Without records the limit stands.
func TestPagesWithRecordsAreCapped(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 2*MaxWithRecords + 50
	s.mu.Lock()
	tx, err := s.beginTxn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		f := func(r uint32, v string) record.Field {
			return record.Field{Value: schema.TextValue(v), Dot: vv.Dot{Replica: r, Counter: 1, HLC: uint64(i + 1)}}
		}
		c := record.Conflict{Table: "books", ID: uuid.Must(uuid.NewV7()).String(), Field: "title",
			Kind: record.KindField, Winner: f(2, "小王子"), Loser: f(3, "小王子（新）"),
			ServerVersion: vv.VV{2: 1}, IncomingVersion: vv.VV{3: 1}}
		if err := tx.insertConflict(ctx, c, 0, "", time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.commit(); err != nil {
		t.Fatal(err)
	}
	s.mu.Unlock()

	for _, tc := range []struct {
		records bool
		limit   int
		pages   []int
	}{
		{true, 1000, []int{MaxWithRecords, MaxWithRecords, 50}},
		{true, 0, []int{MaxWithRecords, MaxWithRecords, 50}},
		{true, 30, []int{30, 30, 30, 30, 30, 30, 30, 30, 10}},
		{false, 1000, []int{n}},
		{false, 0, []int{100, 100, 50}},
	} {
		var got []int
		var after uint64
		seen := 0
		for range 20 {
			cs, err := s.ListConflicts(ctx, ConflictFilter{AfterID: after, Limit: tc.limit, WithRecords: tc.records})
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) == 0 {
				break
			}
			got = append(got, len(cs))
			seen += len(cs)
			for _, c := range cs {
				if tc.records != (len(c.Records) == 1) {
					t.Fatalf("with records %v: entry %d has %d records", tc.records, c.LogID, len(c.Records))
				}
			}
			after = cs[len(cs)-1].LogID
		}
		if len(got) != len(tc.pages) || seen != n {
			t.Errorf("with records %v, limit %d: pages of %v (%d entries), want %v", tc.records, tc.limit, got, seen, tc.pages)
			continue
		}
		for i := range got {
			if got[i] != tc.pages[i] {
				t.Errorf("with records %v, limit %d: pages of %v, want %v", tc.records, tc.limit, got, tc.pages)
				break
			}
		}
	}
}
