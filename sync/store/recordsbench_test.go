package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// BenchmarkListRecords reads the newest page of 200 of one village's
// 3,000 sessions among 9,000, that village's logged first (so the newest
// ids are other villages'): through the scope index, then with the
// index dropped (the primary key read backwards, the other villages'
// rows skipped). Compare the two as a ratio.
func BenchmarkListRecords(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, _ := s.Enroll(ctx, code, "phone")
	for _, village := range []string{"南香村", "东旺村", "旺渔村"} {
		changes := make([]*record.Record, 3000)
		for i := range changes {
			c := session(p.Replica, 1+i%28)
			d := c.Fields["village"].Dot
			c.Fields["village"] = record.Field{Value: schema.TextValue(village), Dot: d}
			c.Fields["class_group"] = record.Field{Value: schema.TextValue(fmt.Sprint(i)), Dot: d}
			changes[i] = c
		}
		if _, err := s.Push(ctx, p, changes); err != nil {
			b.Fatal(err)
		}
	}
	list := func(b *testing.B) {
		for b.Loop() {
			page, err := s.ListRecords(ctx, RecordFilter{Table: "tutoring_sessions", Village: "南香村", Limit: 200})
			if err != nil || len(page.Records) != 200 {
				b.Fatalf("%d records, %v", len(page.Records), err)
			}
		}
	}
	b.Run("scope-index", list)
	if _, err := s.w.ExecContext(ctx, `DROP INDEX tutoring_sessions_by_village`); err != nil {
		b.Fatal(err)
	}
	b.Run("no-index", list)
}
