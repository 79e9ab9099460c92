package replica

import (
	"context"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// More held-back changes than a push batch still let the others through,
// and the device says how many wait, in Stats and in Status; an answer
// of an updated server releases them in the same sync.
func TestHeldBackChangesDoNotFillTheBatch(t *testing.T) {
	ctx := context.Background()
	srv := &scripted{}
	d := fakeDevice(t, srv)
	d.opt.PushBatch = 2
	session := func(photo bool) string {
		t.Helper()
		v := map[string]schema.Value{"village": schema.TextValue("南香村"),
			"session_date": schema.TextValue("2024-06-03"), "children_present": schema.IntValue(30)}
		if photo {
			v["sheet_photos"] = schema.TextValue(strings.Repeat("ab", 32))
		}
		id, err := d.Put(ctx, "tutoring_sessions", "", v)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for range 3 {
		session(true)
	}
	plain := session(false)

	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 41, SchemaVersion: 1,
		Results: []protocol.Result{{Outcome: record.Applied, Seq: 41}}}, 1)
	st, err := d.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.next()
	if len(reqs) != 1 || len(reqs[0].Changes) != 1 || reqs[0].Changes[0].Record.ID != plain {
		t.Fatalf("with a server of version 1: %d requests; want one pushing only the session without photos", len(reqs))
	}
	want := "3 changes wait for the server's update (server schema 1, this app 2)"
	if st.Held != 3 || !strings.Contains(st.String(), want) {
		t.Errorf("stats %q; want %d held and %q", st, 3, want)
	}
	s, err := d.Status(ctx)
	if err != nil || s.Held != 3 || s.ServerSchema != 1 || s.Waiting != want || s.Pending["tutoring_sessions"] != 3 {
		t.Errorf("status %+v %v; want 3 held and pending, %q", s, err, want)
	}

	// The server updated: its first answer releases them, in two batches.
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 41, SchemaVersion: 2}, 1)
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 43, SchemaVersion: 2,
		Results: []protocol.Result{{Outcome: record.Applied, Seq: 42}, {Outcome: record.Applied, Seq: 43}}}, 1)
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 44, SchemaVersion: 2,
		Results: []protocol.Result{{Outcome: record.Applied, Seq: 44}}}, 1)
	if st, err = d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if reqs = srv.next(); len(reqs) != 3 || len(reqs[0].Changes) != 0 || len(reqs[1].Changes) != 2 ||
		len(reqs[2].Changes) != 1 {
		t.Fatalf("after the server's update: %d requests; want an idle one, then the held three", len(reqs))
	}
	if s, err = d.Status(ctx); err != nil || s.Held != 0 || s.ServerSchema != 2 || s.Waiting != "" || len(s.Pending) != 0 {
		t.Errorf("status after the update %+v %v", s, err)
	}
	if st.Held != 0 || strings.Contains(st.String(), "wait") {
		t.Errorf("stats after the update: %q", st)
	}
}

// The count of held-back changes is of all of them, those after a full
// batch too.
func TestPendingCountsAllHeldBack(t *testing.T) {
	ctx := context.Background()
	d := fakeDevice(t, &scripted{})
	for _, photo := range []bool{false, false, false, true, true, true} {
		v := map[string]schema.Value{"village": schema.TextValue("南香村"),
			"session_date": schema.TextValue("2024-06-03"), "children_present": schema.IntValue(30)}
		if photo {
			v["sheet_photos"] = schema.TextValue(strings.Repeat("ab", 32))
		}
		if _, err := d.Put(ctx, "tutoring_sessions", "", v); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		limit, push int
	}{{2, 2}, {3, 3}, {10, 3}} {
		push, held, err := d.pending(ctx, tc.limit)
		if err != nil || len(push) != tc.push || held != 3 {
			t.Errorf("pending(%d): %d to push, %d held, %v; want %d and 3", tc.limit, len(push), held, err, tc.push)
		}
	}
}
