package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Pushes that wait for the writer are committed together, and one that
// fails (here: a trigger that refuses its book) changes nothing while the
// others in the same transaction are applied.
func TestGroupCommitIsolatesAFailingPush(t *testing.T) {
	sqliteOnly(t, "a failing push made by a SQLite trigger")
	ctx := context.Background()
	file := testDSN(t)
	s, err := Open(ctx, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := sql.Open("sqlite3", file)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`CREATE TRIGGER refuse AFTER INSERT ON books WHEN NEW.title = 'refused'
		BEGIN SELECT RAISE(ABORT, 'test: refused'); END`); err != nil {
		t.Fatal(err)
	}

	titles := []string{"first", "refused", "third"}
	type outcome struct {
		title string
		res   []protocol.Result
		err   error
	}
	done := make(chan outcome)
	phones := make([]Principal, len(titles))
	for i := range titles {
		code, err := s.CodeFor(ctx, fmt.Sprint("u", i), Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		if phones[i], _, err = s.Enroll(ctx, code, fmt.Sprint("phone", i)); err != nil {
			t.Fatal(err)
		}
	}
	s.mu.Lock() // as if another push were committing: the three queue up
	for i, title := range titles {
		p := phones[i]
		go func() {
			changes := []*record.Record{book(p.Replica, title)}
			if title == "refused" {
				// written before the refusal, and undone with it
				changes = append([]*record.Record{book(p.Replica, "in the refused push")}, changes...)
			}
			res, err := s.Push(ctx, p, changes)
			done <- outcome{title, res, err}
		}()
	}
	for queued := 0; queued < len(titles); {
		runtime.Gosched() // the pushes are on their way to the queue
		s.queueMu.Lock()
		queued = len(s.queue)
		s.queueMu.Unlock()
	}
	seqBefore := s.seq
	s.mu.Unlock()

	for range titles {
		o := <-done
		switch {
		case o.title == "refused" && o.err == nil:
			t.Errorf("the refused push succeeded: %+v", o.res)
		case o.title != "refused" && (o.err != nil || o.res[0].Outcome != record.Applied):
			t.Errorf("push %q: %+v %v, want it applied", o.title, o.res, o.err)
		}
	}
	var books, audits int
	s.Reader().QueryRow(`SELECT count(*) FROM books`).Scan(&books)
	s.Reader().QueryRow(`SELECT count(*) FROM audit WHERE tbl = 'books'`).Scan(&audits)
	if books != 2 || audits != 2 {
		t.Errorf("%d books and %d audit rows, want the 2 applied pushes' only", books, audits)
	}
	if s.seq != seqBefore+2 {
		t.Errorf("the feed moved from %d to %d, want 2 positions", seqBefore, s.seq)
	}
	var seqs int
	s.Reader().QueryRow(`SELECT count(DISTINCT _seq) FROM books`).Scan(&seqs)
	if seqs != 2 {
		t.Errorf("the applied books share a feed position")
	}
}

func book(replica uint32, title string) *record.Record {
	d := vv.Dot{Replica: replica, Counter: 1, HLC: 1}
	f := func(v string) record.Field { return record.Field{Value: schema.TextValue(v), Dot: d} }
	return &record.Record{Table: "books", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{replica: 1},
		Fields: map[string]record.Field{"title": f(title), "village": f("南香村"), "library": f("children")}}
}

// panicky is a log handler that panics on one message, standing in for any
// bug that panics in the middle of a group commit.
type panicky struct {
	slog.Handler
	on string
}

func (h panicky) Enabled(context.Context, slog.Level) bool { return true }

func (h panicky) Handle(_ context.Context, r slog.Record) error {
	if r.Message == h.on {
		panic("test: " + h.on)
	}
	return nil
}

// A panic inside a group commit (net/http recovers it for the handler)
// must not leave the writer locked: later pushes still go through.
func TestPanicInAPushDoesNotStopWrites(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t),
		Options{Logger: slog.New(panicky{Handler: slog.DiscardHandler, on: "flagged for staff"})})
	if err != nil {
		t.Fatal(err)
	}
	// Closed only on success: Close waits for the writer a failure leaves locked.
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	twice := []*record.Record{session(p.Replica, 1), session(p.Replica, 1)} // flagged: the log panics
	func() {
		defer func() {
			if recover() == nil {
				t.Error("the injected panic did not happen")
			}
		}()
		s.Push(ctx, p, twice)
	}()
	done := make(chan error, 1)
	go func() {
		_, err := s.Push(ctx, p, []*record.Record{book(p.Replica, "after the panic")})
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("push after a panic: %v", err)
		}
	case <-time.After(30 * time.Second): // a guard against hanging forever, not a wait
		t.Fatal("writes stopped after a panic in a push")
	}
	s.Close()
}

func session(replica uint32, day int) *record.Record {
	d := vv.Dot{Replica: replica, Counter: 1, HLC: 1}
	f := func(v schema.Value) record.Field { return record.Field{Value: v, Dot: d} }
	return &record.Record{Table: "tutoring_sessions", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{replica: 1},
		Fields: map[string]record.Field{
			"village":          f(schema.TextValue("南香村")),
			"session_date":     f(schema.TextValue(fmt.Sprintf("2024-03-%02d", day))),
			"children_present": f(schema.IntValue(20)),
		}}
}

func TestTakeBatchBoundsAGroupCommit(t *testing.T) {
	job := func(n int) *pushJob { return &pushJob{changes: make([]*record.Record, n)} }
	tests := []struct {
		queued []int
		want   []int // sizes of the successive batches, in pushes
	}{
		{[]int{10, 10, 10}, []int{3}},
		{[]int{3000, 3000, 10}, []int{1, 2}},
		{[]int{6000, 10}, []int{1, 1}}, // one push over the bound still goes alone
		{[]int{5000, 1}, []int{1, 1}},
		{[]int{2500, 2500, 1}, []int{2, 1}},
	}
	for _, tt := range tests {
		s := &Store{}
		for _, n := range tt.queued {
			s.queue = append(s.queue, job(n))
		}
		var got []int
		for len(s.queue) > 0 {
			got = append(got, len(s.takeBatch()))
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("queued %v: batches %v, want %v", tt.queued, got, tt.want)
		}
	}
}

// A push reads its records' states ahead (prefetchStates); a record it
// changes twice must meet its first change's write the second time, and
// one stored before the push its stored state.
func TestPushSeesItsOwnEarlierWrites(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	stored := session(p.Replica, 1)
	if _, err := s.Push(ctx, p, []*record.Record{stored}); err != nil {
		t.Fatal(err)
	}
	// edit is a change of r's notes only, its replica's counter-th write.
	edit := func(r *record.Record, counter uint64, notes string) *record.Record {
		return &record.Record{Table: r.Table, ID: r.ID, Version: vv.VV{p.Replica: counter},
			Fields: map[string]record.Field{"notes": {Value: schema.TextValue(notes),
				Dot: vv.Dot{Replica: p.Replica, Counter: counter, HLC: counter}}}}
	}
	fresh := session(p.Replica, 2)
	tests := []struct {
		name    string
		changes []*record.Record
		want    []record.Outcome
	}{
		// Merged against no state, the edit would lack the required fields.
		{"created then edited", []*record.Record{fresh, edit(fresh, 2, "a")},
			[]record.Outcome{record.Applied, record.Applied}},
		{"stored, edited twice", []*record.Record{edit(stored, 2, "b"), edit(stored, 3, "c")},
			[]record.Outcome{record.Applied, record.Applied}},
		{"edited, then its replay", []*record.Record{edit(stored, 4, "d"), edit(stored, 4, "d")},
			[]record.Outcome{record.Applied, record.Applied}},
	}
	for _, tt := range tests {
		res, err := s.Push(ctx, p, tt.changes)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for i, r := range res {
			if r.Outcome != tt.want[i] {
				t.Errorf("%s: change %d: %v (%v), want %v", tt.name, i, r.Outcome, r.Problem, tt.want[i])
			}
		}
	}
	var notes string
	if err := s.Reader().QueryRow(`SELECT notes FROM tutoring_sessions WHERE id = ?`, stored.ID).Scan(&notes); err != nil {
		t.Fatal(err)
	}
	if notes != "d" {
		t.Errorf("stored notes %q, want d", notes)
	}
}
