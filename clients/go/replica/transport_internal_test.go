package replica

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// scripted is a server that gives scripted answers and keeps what it was asked.
type scripted struct {
	reqs    []*protocol.Request
	answers []answer
}

type answer struct {
	resp *protocol.Response
	sent int // attempts the transport reports, as after retries
}

func (s *scripted) Sync(_ context.Context, req *protocol.Request) (*protocol.Response, int, error) {
	s.reqs = append(s.reqs, req)
	if len(s.answers) == 0 {
		return nil, 1, errors.New("scripted server: asked once more than scripted")
	}
	a := s.answers[0]
	s.answers = s.answers[1:]
	return a.resp, a.sent, nil
}

// answer queues resp for the next request.
func (s *scripted) answer(resp *protocol.Response, sent int) {
	s.answers = append(s.answers, answer{resp, sent})
}

// next takes the requests seen since the last call.
func (s *scripted) next() []*protocol.Request {
	reqs := s.reqs
	s.reqs = nil
	return reqs
}

// fakeDevice is a device database that synced with server 9 up to cursor
// 40 of incarnation 3, without enrolling anywhere: its server is tr.
func fakeDevice(t testing.TB, tr Transport) *Replica {
	t.Helper()
	return fakeDeviceAt(t, filepath.Join(t.TempDir(), "d.db"), tr)
}

// fakeDeviceAt is fakeDevice in file, for tests that open it again.
func fakeDeviceAt(t testing.TB, file string, tr Transport) *Replica {
	t.Helper()
	ctx := context.Background()
	d, err := sqlite.Open(ctx, file, 2, sqlite.DeviceFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate(ctx, d); err != nil {
		t.Fatal(err)
	}
	_, err = d.W.ExecContext(ctx, `INSERT INTO meta (key, value) VALUES ('replica', 7), ('server_id', '9'),
		('server_url', 'http://scripted.invalid'), ('name', 'd'), ('cursor', 40), ('hlc', 0), ('token', 't'),
		('scope_hash', '77'), ('scope', '*'), ('incarnation', '3')`)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	r, err := Open(ctx, file, Options{Transport: tr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func wantRequest(t *testing.T, step string, got *protocol.Request, want protocol.Request, changes ...string) {
	t.Helper()
	var ids []string
	for _, c := range got.Changes {
		ids = append(ids, c.Record.ID)
	}
	g := *got
	g.Changes = nil
	if !reflect.DeepEqual(g, want) || !reflect.DeepEqual(ids, changes) {
		t.Errorf("%s: asked %+v with changes %v, want %+v with %v", step, g, ids, want, changes)
	}
}

// The device's half of the protocol, against a scripted server: a push
// acknowledged, a restored server (every own write pushed again, the scope
// pulled from zero in the new incarnation), then an idle sync that is one
// request.
func TestSyncAgainstScriptedServer(t *testing.T) {
	ctx := context.Background()
	srv := &scripted{}
	d := fakeDevice(t, srv)
	mine, err := d.Put(ctx, "books", "", map[string]schema.Value{
		"village": schema.TextValue("南香村"), "library": schema.TextValue("children"), "title": schema.TextValue("mine")})
	if err != nil {
		t.Fatal(err)
	}

	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3,
		Results:    []protocol.Result{{Outcome: record.Applied, Seq: 41}},
		NextCursor: 41}, 1)
	st, err := d.Sync(ctx)
	if err != nil {
		t.Fatal(err)
	}
	reqs := srv.next()
	if len(reqs) != 1 {
		t.Fatalf("a push of one change took %d requests", len(reqs))
	}
	wantRequest(t, "push", reqs[0],
		protocol.Request{Replica: 7, ServerID: 9, Incarnation: 3, Cursor: 40, ScopeHash: 77, SchemaVersion: schema.Version}, mine)
	if st.Pushed != 1 || st.Applied != 1 || st.RoundTrips != 1 {
		t.Errorf("push: %v", st)
	}

	theirs := "01890a5d-ac96-774b-bcce-b302099a8057"
	dot := vv.Dot{Replica: 8, Counter: 1, HLC: 1}
	pulled := &record.Record{Table: "books", ID: theirs, Version: vv.VV{8: 1}, Seq: 5, Fields: map[string]record.Field{
		"village": {Value: schema.TextValue("南香村"), Dot: dot}, "library": {Value: schema.TextValue("children"), Dot: dot},
		"title": {Value: schema.TextValue("theirs"), Dot: dot}}}
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 4, Restored: true}, 1)
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 4,
		Results: []protocol.Result{{Outcome: record.AlreadyHad, Seq: 4}},
		Records: []*record.Record{pulled}, NextCursor: 6, HasMore: true, Rescoped: true, AllVillages: true, ScopeHash: 77}, 1)
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 4, NextCursor: 7}, 1)
	if st, err = d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	reqs = srv.next()
	if len(reqs) != 3 {
		t.Fatalf("a sync with a restored server took %d requests, want 3", len(reqs))
	}
	wantRequest(t, "before the restore is known", reqs[0],
		protocol.Request{Replica: 7, ServerID: 9, Incarnation: 3, Cursor: 41, ScopeHash: 77, SchemaVersion: schema.Version})
	wantRequest(t, "after the restore", reqs[1],
		protocol.Request{Replica: 7, ServerID: 9, Incarnation: 4, FullPull: true, SchemaVersion: schema.Version}, mine)
	wantRequest(t, "the full pull's next page", reqs[2],
		protocol.Request{Replica: 7, ServerID: 9, Incarnation: 4, Cursor: 6, ScopeHash: 77, FullPull: true,
			SchemaVersion: schema.Version})
	if !st.ServerRestored || st.Pushed != 1 || st.AlreadyHad != 1 || st.Pulled != 1 || st.RoundTrips != 3 {
		t.Errorf("restored: %v (restored %v)", st, st.ServerRestored)
	}
	if rec, err := d.Get(ctx, "books", theirs); err != nil || rec == nil || rec.Fields["title"].Value.Text != "theirs" {
		t.Errorf("the pulled record: %v %v", rec, err)
	}
	if s, err := d.Status(ctx); err != nil || len(s.Pending) != 0 || s.Cursor != 7 {
		t.Errorf("after the restore: %+v %v", s, err)
	}

	// Idle: one request, and the transport's retries count as round trips.
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 4, NextCursor: 7}, 2)
	if st, err = d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	reqs = srv.next()
	if len(reqs) != 1 {
		t.Fatalf("an idle sync took %d requests", len(reqs))
	}
	wantRequest(t, "idle", reqs[0], protocol.Request{Replica: 7, ServerID: 9, Incarnation: 4, Cursor: 7, ScopeHash: 77,
		SchemaVersion: schema.Version})
	if st != (Stats{RoundTrips: 2, ServerSchema: 1}) {
		t.Errorf("idle: %v", st)
	}
}

// A scrub that cannot finish (a reader keeps the log busy, or the disk has
// no room for VACUUM) does not fail a sync whose data went through: it
// waits in Status and the next sync finishes it.
func TestScrubThatCannotFinishWaits(t *testing.T) {
	ctx := context.Background()
	srv := &scripted{}
	d := fakeDevice(t, srv)
	if _, err := d.db.W.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('scrub', '1')`); err != nil {
		t.Fatal(err)
	}
	// A reader holding a snapshot keeps VACUUM and a TRUNCATE checkpoint
	// busy; the writer gives up in 50 ms instead of ten seconds.
	if _, err := d.db.W.ExecContext(ctx, `PRAGMA busy_timeout = 50`); err != nil {
		t.Fatal(err)
	}
	hold, err := d.db.R.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := hold.QueryRowContext(ctx, `SELECT count(*) FROM meta`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 40}, 1)
	st, err := d.Sync(ctx)
	if err != nil || st.ScrubPending == "" {
		t.Fatalf("sync with the log kept busy: %v, %+v; want success with the scrub pending", err, st)
	}
	if s, err := d.Status(ctx); err != nil || !s.ScrubPending || s.LastError != "" {
		t.Fatalf("status: %+v %v", s, err)
	}
	hold.Rollback()
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 40}, 1)
	if st, err = d.Sync(ctx); err != nil || st.ScrubPending != "" {
		t.Fatalf("the next sync: %v, %+v", err, st)
	}
	if s, err := d.Status(ctx); err != nil || s.ScrubPending {
		t.Fatalf("status after the scrub: %+v %v", s, err)
	}
}
