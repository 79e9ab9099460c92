package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// BenchmarkPushFlaggedTable times one push of 1,000 sessions: all of
// different classes (the flag look-up finds nothing), or 100 copies each
// of 10 classes (every write meets a set).
func BenchmarkPushFlaggedTable(b *testing.B) {
	for _, tc := range []struct {
		name    string
		classes int
	}{{"distinct", 1000}, {"copies", 10}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				b.StopTimer()
				s, err := Open(ctx, testDSN(b), Options{})
				if err != nil {
					b.Fatal(err)
				}
				code, _ := s.CodeFor(ctx, "u", Staff, nil)
				p, _, _ := s.Enroll(ctx, code, "phone")
				changes := make([]*record.Record, 1000)
				for i := range changes {
					c := session(p.Replica, 1)
					d := c.Fields["village"].Dot
					c.Fields["class_group"] = record.Field{Value: schema.TextValue(fmt.Sprint(i % tc.classes)), Dot: d}
					changes[i] = c
				}
				b.StartTimer()
				if _, err := s.Push(ctx, p, changes); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				s.Close()
				b.StartTimer()
			}
		})
	}
}
