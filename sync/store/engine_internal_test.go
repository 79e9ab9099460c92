package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// A device can send any bytes as a change's id or table. Refused, the
// change is kept for staff as it came; on PostgreSQL, whose text holds no
// NUL, that must not fail the push (the device would retry it for ever).
func TestNulInARefusedChangeIsHeldNotAFailure(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(r *record.Record){
		func(r *record.Record) { r.ID = "ab\x00cd" },
		func(r *record.Record) { r.Table = "bo\x00oks" },
	} {
		r := book(p.Replica, "ok")
		bad(r)
		res, err := s.Push(ctx, p, []*record.Record{r})
		if err != nil {
			t.Fatalf("push of %q %q: %v", r.Table, r.ID, err)
		}
		if len(res) != 1 || res[0].Problem == nil {
			t.Errorf("push of %q %q = %+v, want it refused", r.Table, r.ID, res)
		}
	}
}

// A server starting (its migration takes table locks, in its own order)
// while others push must neither fail nor make their pushes fail: it takes
// the feed lock first, as every writer does.
func TestServerStartsWhileOthersPush(t *testing.T) {
	if !onPostgres {
		t.Skip("several servers on one database: PostgreSQL only")
	}
	ctx := context.Background()
	dsn := testDSN(t)
	s, err := Open(ctx, dsn, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var phones []Principal
	for i := range 4 {
		code, _ := s.CodeFor(ctx, fmt.Sprint("u", i), Staff, nil)
		p, _, err := s.Enroll(ctx, code, fmt.Sprint("phone", i))
		if err != nil {
			t.Fatal(err)
		}
		phones = append(phones, p)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var pushErr atomic.Value
	for _, p := range phones {
		wg.Go(func() {
			for c := uint64(1); !stop.Load(); c++ {
				d := vv.Dot{Replica: p.Replica, Counter: c, HLC: c}
				f := func(v schema.Value) record.Field { return record.Field{Value: v, Dot: d} }
				// Two tables in one push, so it holds locks on both.
				rs := []*record.Record{
					{Table: "books", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{p.Replica: c},
						Fields: map[string]record.Field{"title": f(schema.TextValue("t")),
							"village": f(schema.TextValue("南香村")), "library": f(schema.TextValue("children"))}},
					{Table: "tutoring_sessions", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{p.Replica: c},
						Fields: map[string]record.Field{"village": f(schema.TextValue("南香村")),
							"session_date":     f(schema.TextValue(fmt.Sprintf("2024-03-%02d", 1+c%28))),
							"children_present": f(schema.IntValue(20))}},
				}
				if _, err := s.Push(ctx, p, rs); err != nil {
					pushErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	for i := range 15 {
		s2, err := Open(ctx, dsn, Options{})
		if err != nil {
			t.Errorf("start %d while others push: %v", i, err)
			continue
		}
		s2.Close()
	}
	stop.Store(true)
	wg.Wait()
	if err := pushErr.Load(); err != nil {
		t.Errorf("a push failed while a server started: %v", err)
	}
}
