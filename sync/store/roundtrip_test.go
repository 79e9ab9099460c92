package store

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// syncWorld is a store with an admin's device that pushed three books
// (feed positions 1 to 3), deletes collected up to position 2.
func syncWorld(t *testing.T) (*Store, Principal, []*record.Record) {
	t.Helper()
	ctx := context.Background()
	s, p := openWithAdmin(t, testDSN(t))
	t.Cleanup(func() { s.Close() })
	books := []*record.Record{book(p.Replica, "一"), book(p.Replica, "二"), book(p.Replica, "三")}
	for _, b := range books {
		if res, err := s.Push(ctx, p, []*record.Record{b}); err != nil || res[0].Outcome != record.Applied {
			t.Fatalf("push %s: %+v %v", b.ID, res, err)
		}
	}
	if _, err := s.CollectTombstones(ctx, 2); err != nil {
		t.Fatal(err)
	}
	return s, p, books
}

// Each decision Sync takes about the request as a whole, with no HTTP in
// between: refusals (nothing written), restored, repull, rescope.
func TestSyncRequestDecisions(t *testing.T) {
	type world struct {
		s     *Store
		p     Principal
		scope uint64
	}
	cases := []struct {
		name string
		req  func(w world) *protocol.Request
		// A refusal: the problem's code and exact message, or a cursor ahead.
		code  record.Code
		msg   func(w world) string
		ahead bool
		check func(t *testing.T, w world, resp *protocol.Response)
	}{
		{
			name: "no replica",
			req:  func(w world) *protocol.Request { return &protocol.Request{ScopeHash: w.scope} },
			code: record.CodePermissionDenied,
			msg: func(w world) string {
				return fmt.Sprintf("replica: the token belongs to replica %d, not 0", w.p.Replica)
			},
		},
		{
			name: "another device's replica",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica + 1, ScopeHash: w.scope}
			},
			code: record.CodePermissionDenied,
			msg: func(w world) string {
				return fmt.Sprintf("replica: the token belongs to replica %d, not %d", w.p.Replica, w.p.Replica+1)
			},
		},
		{
			name: "too many changes",
			req: func(w world) *protocol.Request {
				r := &protocol.Request{Replica: w.p.Replica, ScopeHash: w.scope}
				for range protocol.MaxChanges + 1 {
					r.Changes = append(r.Changes, protocol.Change{Record: book(w.p.Replica, "x")})
				}
				return r
			},
			code: record.CodeInvalidArgument,
			msg: func(world) string {
				return "changes: 1001 in one request, the limit is 1000; push them over several requests"
			},
		},
		{
			name: "other server",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, ServerID: w.s.ServerID() ^ 0xff, ScopeHash: w.scope}
			},
			code: record.CodeFailedPrecondition,
			msg: func(w world) string {
				return fmt.Sprintf("server_id: this device synced with server %016x, but this is server %016x; "+
					"point it back at its server or initialise a new device file", w.s.ServerID()^0xff, w.s.ServerID())
			},
		},
		{
			name: "cursor ahead",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, Cursor: 1 << 40, ScopeHash: w.scope}
			},
			ahead: true,
		},
		{
			name: "restored",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, ServerID: w.s.ServerID(), Incarnation: w.s.Incarnation() ^ 0xff,
					Cursor: 3, ScopeHash: w.scope, Changes: []protocol.Change{{Record: book(w.p.Replica, "lost")}}}
			},
			check: func(t *testing.T, w world, resp *protocol.Response) {
				want := protocol.Response{ServerID: w.s.ServerID(), Incarnation: w.s.Incarnation(), Restored: true}
				if resp.ServerHLC == 0 {
					t.Error("no server clock")
				}
				resp.ServerHLC = 0
				if fmt.Sprint(*resp) != fmt.Sprint(want) {
					t.Errorf("response %+v, want only restored", *resp)
				}
			},
		},
		{
			name: "repull",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, Incarnation: w.s.Incarnation(), Cursor: 1, ScopeHash: w.scope,
					Changes: []protocol.Change{{Record: book(w.p.Replica, "later")}}}
			},
			check: func(t *testing.T, w world, resp *protocol.Response) {
				want := protocol.Response{ServerID: w.s.ServerID(), Incarnation: w.s.Incarnation(), Repull: true, Horizon: 2}
				resp.ServerHLC = 0
				if fmt.Sprint(*resp) != fmt.Sprint(want) {
					t.Errorf("response %+v, want only repull", *resp)
				}
			},
		},
		{
			name: "a full pull passes the horizon",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, Cursor: 1, ScopeHash: w.scope, FullPull: true}
			},
			check: func(t *testing.T, w world, resp *protocol.Response) {
				if resp.Repull || resp.Rescoped || len(resp.Records) != 2 || resp.NextCursor != 3 || resp.Horizon != 2 {
					t.Errorf("response %+v, want the device's own books 2 and 3", *resp)
				}
			},
		},
		{
			name: "first sync",
			req:  func(w world) *protocol.Request { return &protocol.Request{Replica: w.p.Replica} },
			check: func(t *testing.T, w world, resp *protocol.Response) {
				if !resp.Rescoped || resp.ScopeHash != w.scope || !resp.AllVillages || resp.Scope != nil {
					t.Errorf("response %+v, want the admin's scope", *resp)
				}
				// Not a full pull: the device has its own books.
				if len(resp.Records) != 0 || resp.NextCursor != 3 || resp.HasMore {
					t.Errorf("pulled %d records up to %d, want none up to 3", len(resp.Records), resp.NextCursor)
				}
			},
		},
		{
			name: "rescoped",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, Cursor: 3, ScopeHash: w.scope ^ 2}
			},
			check: func(t *testing.T, w world, resp *protocol.Response) {
				if !resp.Rescoped || resp.ScopeHash != w.scope {
					t.Errorf("response %+v, want the admin's scope", *resp)
				}
				// From the start, the device's own books included.
				if len(resp.Records) != 3 || resp.NextCursor != 3 {
					t.Errorf("pulled %d records up to %d, want all 3", len(resp.Records), resp.NextCursor)
				}
			},
		},
		{
			name: "a rescope forgets a cursor ahead",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, Cursor: 1 << 40, ScopeHash: w.scope ^ 2}
			},
			check: func(t *testing.T, w world, resp *protocol.Response) {
				if !resp.Rescoped || len(resp.Records) != 3 {
					t.Errorf("response %+v, want a rescope from the start", *resp)
				}
			},
		},
		{
			name: "up to date",
			req: func(w world) *protocol.Request {
				return &protocol.Request{Replica: w.p.Replica, ServerID: w.s.ServerID(), Incarnation: w.s.Incarnation(),
					Cursor: 3, ScopeHash: w.scope}
			},
			check: func(t *testing.T, w world, resp *protocol.Response) {
				want := protocol.Response{ServerID: w.s.ServerID(), Incarnation: w.s.Incarnation(), Horizon: 2, NextCursor: 3,
					Results: []protocol.Result{}}
				resp.ServerHLC = 0
				if fmt.Sprint(*resp) != fmt.Sprint(want) {
					t.Errorf("response %+v, want nothing new", *resp)
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, p, _ := syncWorld(t)
			w := world{s, p, ScopeHash(p)}
			resp, err := s.Sync(context.Background(), p, tc.req(w))
			var prob *record.Problem
			var ahead *CursorAheadError
			switch {
			case tc.msg != nil:
				if !errors.As(err, &prob) || prob.Code != tc.code || err.Error() != tc.msg(w) {
					t.Fatalf("err = %v; want %s %q", err, tc.code, tc.msg(w))
				}
			case tc.ahead:
				if !errors.As(err, &ahead) || ahead.Cursor != 1<<40 || ahead.Head != 3 {
					t.Fatalf("err = %v; want the cursor ahead of 3", err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				tc.check(t, w, resp)
			}
			if err != nil && resp != nil {
				t.Errorf("a refusal with a response: %+v", resp)
			}
			// Only a full round trip pushes anything.
			if s.seq != 3 {
				t.Errorf("the feed moved to %d", s.seq)
			}
		})
	}
}

// A change the edge could not read is rejected with its own problem, the
// others go on, and a state handed back in a result is not sent again in
// the page.
func TestSyncPushesThenPulls(t *testing.T) {
	ctx := context.Background()
	s, _, books := syncWorld(t)
	code, _ := s.CodeFor(ctx, "reader", Coordinator, nil)
	q, _, err := s.Enroll(ctx, code, "coordinator phone")
	if err != nil {
		t.Fatal(err)
	}
	// A coordinator may not rename the first book: the refusal hands back
	// the server's state of it (the device's own writes never come back in
	// a pull anyway).
	d := vv.Dot{Replica: q.Replica, Counter: 1, HLC: s.Clock().Now()}
	edit := &record.Record{Table: "books", ID: books[0].ID, Version: vv.VV{q.Replica: 1},
		Fields: map[string]record.Field{"title": {Value: schema.TextValue("壹"), Dot: d}}}
	unreadable := &record.Problem{Code: record.CodeInvalidArgument, Field: "changes", Msg: "unreadable"}
	req := &protocol.Request{Replica: q.Replica, ScopeHash: ScopeHash(q),
		Changes: []protocol.Change{{Problem: unreadable}, {Record: edit}}}
	resp, err := s.Sync(ctx, q, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 2 {
		t.Fatalf("%d results, want 2", len(resp.Results))
	}
	if r := resp.Results[0]; r.Outcome != record.Rejected || r.Problem != unreadable || r.Current != nil {
		t.Errorf("unreadable change: %+v, want rejected with its problem", r)
	}
	r := resp.Results[1]
	if r.Outcome != record.Rejected || r.Problem == nil || r.Problem.Code != record.CodePermissionDenied ||
		r.Current == nil || r.Current.ID != books[0].ID || r.Current.Seq != 1 {
		t.Fatalf("edit: %+v, want refused with the server's state", r)
	}
	var got []string
	for _, rec := range resp.Records {
		got = append(got, rec.ID)
	}
	if fmt.Sprint(got) != fmt.Sprint([]string{books[1].ID, books[2].ID}) || resp.NextCursor != 3 {
		t.Errorf("page %v up to %d, want books 2 and 3 up to 3 (book 1 came back in its result)", got, resp.NextCursor)
	}
	var held int
	s.Reader().QueryRow(`SELECT count(*) FROM held_changes`).Scan(&held)
	if held != 1 {
		t.Errorf("%d changes held, want the refused edit alone (an unreadable change has nothing to hold)", held)
	}
}
