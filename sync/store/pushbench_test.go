package store

import (
	"context"
	"fmt"
	"strconv"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// BenchmarkPushNew times pushes of 1,000 new sessions (an initial push's
// requests, as the bench's records) into a store holding 10,000: the
// server's statements per pushed record.
func BenchmarkPushNew(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	next, counter := 0, uint64(0)
	batch := func() []*record.Record {
		recs := make([]*record.Record, n)
		for j := range recs {
			i := next
			next++
			counter++
			d := vv.Dot{Replica: p.Replica, Counter: counter, HLC: counter}
			f := func(v string) record.Field { return record.Field{Value: schema.TextValue(v), Dot: d} }
			recs[j] = &record.Record{Table: "tutoring_sessions", ID: uuid.Must(uuid.NewV7()).String(),
				Version: vv.VV{p.Replica: counter}, Fields: map[string]record.Field{
					"village":          f("南香村"),
					"session_date":     f(fmt.Sprintf("2021-%02d-%02d", 1+i/1000%12, 1+i%28)),
					"start_time":       f("19:00"),
					"class_group":      f(fmt.Sprintf("第%d组", i)),
					"volunteers":       f("李老师,王同学"),
					"subjects":         f("数学,语文"),
					"children_present": {Value: schema.IntValue(int64(20 + i%15)), Dot: d},
					"notes":            f("第" + strconv.Itoa(i) + "次课，复习分数和小数"),
				}}
		}
		return recs
	}
	for range 10 {
		if _, err := s.Push(ctx, p, batch()); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		recs := batch()
		b.StartTimer()
		res, err := s.Push(ctx, p, recs)
		if err != nil {
			b.Fatal(err)
		}
		if res[0].Outcome == record.Rejected {
			b.Fatalf("rejected: %v", res[0].Problem)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/change")
}
