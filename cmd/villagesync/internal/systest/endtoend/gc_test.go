package endtoend

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
)

// A device away so long that the server collected the tombstones of
// deletes it never saw: it must not bring the deleted records back, and
// its own unsynced edit is kept (on the device and on the server).
func TestDeviceAwayPastCollectedTombstones(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{PageLimit: 1})
	x := put(t, a, "books", "", "title", "x, deleted while b was away")
	y := put(t, a, "books", "", "title", "y, deleted while b edited it")
	z := put(t, a, "books", "", "title", "z, still here")
	syncOK(t, a)
	syncOK(t, b)

	put(t, b, "books", y, "notes", "b's unsynced edit")
	for _, id := range []string{x, y} {
		if err := a.Delete(ctx, "books", id); err != nil {
			t.Fatal(err)
		}
	}
	syncOK(t, a)
	// b counts as inactive: everything deleted goes.
	n, err := e.st.CollectTombstones(ctx, math.MaxUint64)
	if err != nil || n != 2 {
		t.Fatalf("collected %d, %v; want the 2 deleted books", n, err)
	}

	st := syncOK(t, b)
	if !st.Repulled {
		t.Errorf("b was not told to re-pull: %v", st)
	}
	syncOK(t, b)
	if rec, _ := b.Get(ctx, "books", x); rec != nil {
		t.Error("b brought back a record deleted while it was away")
	}
	if rec, _ := b.Get(ctx, "books", z); rec == nil {
		t.Error("b lost a live record")
	}
	rej, _ := b.Rejected(ctx)
	if len(rej) != 1 || rej[0].ID != y || !strings.Contains(string(rej[0].Change), "b's unsynced edit") {
		t.Errorf("b's unsynced edit of a collected record is not kept: %+v", rej)
	}
	var held int
	e.st.Reader().QueryRow(`SELECT count(*) FROM held_changes WHERE record_id = ?`, y).Scan(&held)
	if held != 1 {
		t.Errorf("the server does not keep b's edit for staff (%d held)", held)
	}
	syncOK(t, a)
	assertConverged(t, e, a, b)
}

// A device whose push was applied but whose answer was lost, away while
// another device deleted that record and the server collected the delete:
// its replay must not bring the record back.
func TestLostAnswerReplayAfterCollectionStaysDeleted(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tr := &dropResponses{next: http.DefaultTransport}
	a := e.device("a", replica.Options{HTTPClient: tr, Retries: -1})
	b := e.device("b", replica.Options{})
	x := put(t, a, "books", "", "title", "x, deleted by b")
	tr.drop.Store(1)
	if _, err := a.Sync(ctx); err == nil {
		t.Fatal("sync with a lost response succeeded")
	}
	syncOK(t, b)
	if err := b.Delete(ctx, "books", x); err != nil {
		t.Fatal(err)
	}
	syncOK(t, b)
	// a counts as inactive: everything deleted goes.
	if n, err := e.st.CollectTombstones(ctx, math.MaxUint64); err != nil || n != 1 {
		t.Fatalf("collected %d, %v; want the deleted book", n, err)
	}

	syncOK(t, a) // replays {a:1}, which b's delete had seen
	syncOK(t, a)
	syncOK(t, b)
	for name, d := range map[string]*replica.Replica{"a": a, "b": b} {
		if rec, _ := d.Get(ctx, "books", x); rec != nil && !rec.Deleted() {
			t.Errorf("%s: the deleted book came back: %+v", name, rec)
		}
	}
	var live int
	e.st.Reader().QueryRow(`SELECT count(*) FROM books WHERE id = ? AND _deleted = 0`, x).Scan(&live)
	if live != 0 {
		t.Error("the server brought the deleted book back")
	}
	if rej, _ := a.Rejected(ctx); len(rej) != 0 {
		t.Errorf("a's replay of a write the delete had seen was refused: %+v", rej)
	}

	// Once every device has pulled past it, the delete leaves no trace.
	syncOK(t, a)
	syncOK(t, b)
	if _, err := e.st.CollectTombstones(ctx, 0); err != nil {
		t.Fatal(err)
	}
	var traces int
	e.st.Reader().QueryRow(`SELECT count(*) FROM collected`).Scan(&traces)
	if traces != 0 {
		t.Errorf("%d collected deletes still remembered after every device pulled past them", traces)
	}
	assertConverged(t, e, a, b)
}

// A re-pull that the server's horizon overtakes (deletes collected while
// it was under way) starts again, so a record it already took and that was
// deleted and collected since does not stay on the device.
func TestRepullOvertakenByCollectionStartsAgain(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a := e.device("a", replica.Options{})
	link := &beforeEach{next: http.DefaultTransport}
	b := e.device("b", replica.Options{PageLimit: 1, HTTPClient: link})
	// First in the feed, so b's re-pull takes it before it is deleted.
	gone := put(t, a, "books", "", "title", "deleted during b's re-pull")
	var ids []string
	for i := range 4 {
		ids = append(ids, put(t, a, "books", "", "title", fmt.Sprint("book ", i)))
	}
	syncOK(t, a)
	syncOK(t, b)
	// b falls behind a collected delete, so its next sync re-pulls.
	if err := a.Delete(ctx, "books", ids[0]); err != nil {
		t.Fatal(err)
	}
	syncOK(t, a)
	collect := func() {
		t.Helper()
		if _, err := e.st.CollectTombstones(ctx, math.MaxUint64); err != nil {
			t.Fatal(err)
		}
	}
	collect()
	// b's re-pull gets one record per request; after its first pages,
	// gone is deleted and collected.
	n := 0
	link.f = func() {
		if n++; n == 4 {
			if err := a.Delete(ctx, "books", gone); err != nil {
				t.Error(err)
			}
			if _, err := a.Sync(ctx); err != nil {
				t.Error(err)
			}
			collect()
		}
	}
	st := syncOK(t, b)
	if !st.Repulled {
		t.Fatalf("b did not re-pull: %v", st)
	}
	if rec, _ := b.Get(ctx, "books", gone); rec != nil {
		t.Errorf("b kept a record deleted and collected during its re-pull: %+v", rec)
	}
	syncOK(t, a) // learns the horizon, drops its own collected tombstone
	assertConverged(t, e, a, b)
}

// beforeEach runs f before each request it sends.
type beforeEach struct {
	next http.RoundTripper
	f    func()
}

func (b *beforeEach) Do(req *http.Request) (*http.Response, error) {
	if b.f != nil {
		b.f()
	}
	return b.next.RoundTrip(req)
}

// Two devices delete the same record; one delete is collected before the
// other arrives. The second is no edit to refuse: it is already done.
func TestConcurrentDeleteOfACollectedRecord(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	a, b := e.device("a", replica.Options{}), e.device("b", replica.Options{})
	x := put(t, a, "books", "", "title", "deleted twice")
	syncOK(t, a)
	syncOK(t, b)
	for _, d := range []*replica.Replica{a, b} {
		if err := d.Delete(ctx, "books", x); err != nil {
			t.Fatal(err)
		}
	}
	syncOK(t, a)
	if n, err := e.st.CollectTombstones(ctx, math.MaxUint64); err != nil || n != 1 {
		t.Fatalf("collected %d, %v", n, err)
	}
	st := syncOK(t, b)
	if st.Rejected != 0 {
		rej, _ := b.Rejected(ctx)
		t.Errorf("b's delete of a collected record was refused: %+v", rej)
	}
	var held int
	e.st.Reader().QueryRow(`SELECT count(*) FROM held_changes`).Scan(&held)
	if held != 0 {
		t.Errorf("%d changes held for staff, want none", held)
	}
	syncOK(t, b)
	syncOK(t, a)
	assertConverged(t, e, a, b)
}
