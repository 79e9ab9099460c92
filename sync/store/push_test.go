package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Pushes that wait for the writer are committed together, and one that
// fails (here: a trigger that refuses its book) changes nothing while the
// others in the same transaction are applied.
func TestGroupCommitIsolatesAFailingPush(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "s.db")
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
	if _, err := other.Exec(`CREATE TRIGGER refuse AFTER INSERT ON books WHEN NEW.title = 'refused' BEGIN SELECT RAISE(ABORT, 'test: refused'); END`); err != nil {
		t.Fatal(err)
	}

	titles := []string{"first", "refused", "third"}
	type outcome struct {
		title string
		res   []PushResult
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
