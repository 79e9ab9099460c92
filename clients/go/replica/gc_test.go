package replica_test

import (
	"context"
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
	horizon, err := e.st.Horizon(ctx, 0) // b counts as inactive
	if err != nil {
		t.Fatal(err)
	}
	n, err := e.st.CollectTombstones(ctx, horizon)
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
