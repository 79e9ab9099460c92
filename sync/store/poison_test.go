package store

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// A value no replica can store (a counter beyond what SQLite's signed
// integers hold, a number that is not finite) is refused on its own, with
// invalid_argument naming the field; the valid change beside it applies,
// and the refused one is held for staff like any other.
func TestPoisonValuesAreRefusedOneByOne(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, err := s.CodeFor(ctx, "u", Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	ownCounter := func(c uint64) *record.Record {
		r := book(p.Replica, "counted")
		r.Version = vv.VV{p.Replica: c}
		for name, f := range r.Fields {
			f.Dot.Counter = c
			r.Fields[name] = f
		}
		return r
	}
	quantity := func(q float64) *record.Record {
		d := vv.Dot{Replica: p.Replica, Counter: 1, HLC: 1}
		r := book(p.Replica, "")
		r.Table = "cleanup_tasks"
		r.Fields = map[string]record.Field{"village": {Value: schema.TextValue("南香村"), Dot: d},
			"kind":     {Value: schema.TextValue("street_sweeping"), Dot: d},
			"quantity": {Value: schema.RealValue(q), Dot: d}}
		return r
	}
	tests := []struct {
		name   string
		change *record.Record
		field  string
		says   string
	}{
		{"own counter 2^63", ownCounter(1 << 63), "version", "counter 9223372036854775808"},
		{"own counter 2^64-1", ownCounter(math.MaxUint64), "version", "counter 18446744073709551615"},
		{"another replica's counter 2^63", func() *record.Record {
			r := book(p.Replica, "claims")
			r.Version[ServerReplica] = 1 << 63
			return r
		}(), "version", "replica 1 has counter 9223372036854775808"},
		{"NaN quantity", quantity(math.NaN()), "cleanup_tasks.quantity", "NaN is not a finite number"},
		{"infinite quantity", quantity(math.Inf(1)), "cleanup_tasks.quantity", "+Inf is not a finite number"},
		{"negative infinite quantity", quantity(math.Inf(-1)), "cleanup_tasks.quantity", "-Inf is not a finite number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var heldBefore int
			s.Reader().QueryRow(`SELECT count(*) FROM held_changes`).Scan(&heldBefore)
			good := book(p.Replica, "beside "+tt.name)
			res, err := s.Push(ctx, p, []*record.Record{good, tt.change})
			if err != nil {
				t.Fatalf("push failed whole: %v", err)
			}
			if res[0].Outcome != record.Applied {
				t.Errorf("the valid change: %+v, want applied", res[0])
			}
			prob := res[1].Problem
			switch {
			case res[1].Outcome != record.Rejected || prob == nil:
				t.Fatalf("the poisoned change: %+v, want rejected", res[1])
			case prob.Code != record.CodeInvalidArgument || prob.Field != tt.field || !strings.Contains(prob.Msg, tt.says):
				t.Errorf("refused with %s %q, want invalid_argument, field %s, saying %q", prob.Code, prob.Error(),
					tt.field, tt.says)
			}
			var books, held int
			s.Reader().QueryRow(`SELECT count(*) FROM books WHERE id = ?`, good.ID).Scan(&books)
			s.Reader().QueryRow(`SELECT count(*) FROM held_changes`).Scan(&held)
			if books != 1 || held != heldBefore+1 {
				t.Errorf("%d of the valid book stored, %d changes held, want 1 and %d", books, held, heldBefore+1)
			}
		})
	}
}
