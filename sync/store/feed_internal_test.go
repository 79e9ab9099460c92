package store

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/sync/postgres/pgtest"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// twoServers is two stores on one PostgreSQL database, as two serve
// processes have, with a pushing phone enrolled for each and a pulling one.
type twoServers struct {
	a, b                 *Store
	pushA, pushB, puller Principal
	url                  string
}

func openTwoServers(t *testing.T) twoServers {
	t.Helper()
	ctx := context.Background()
	w := twoServers{url: pgtest.URL(t)}
	var err error
	for _, s := range []**Store{&w.a, &w.b} {
		if *s, err = Open(ctx, w.url, Options{}); err != nil {
			t.Fatal(err)
		}
		st := *s
		t.Cleanup(func() { st.Close() })
	}
	for i, p := range []*Principal{&w.pushA, &w.pushB, &w.puller} {
		code, err := w.a.CodeFor(ctx, string(rune('a'+i)), Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		if *p, _, err = w.a.Enroll(ctx, code, "phone"); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// pullAll pulls from s, from cursor to the end of its feed, and returns
// the records by id with how often each came, and the cursor reached.
func pullAll(t *testing.T, s *Store, p Principal, cursor uint64, got map[string]int) uint64 {
	t.Helper()
	for {
		page, err := s.Pull(context.Background(), p, cursor, 2, false)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range page.Records {
			got[r.ID]++
		}
		cursor = page.Next
		if !page.HasMore {
			return cursor
		}
	}
}

// The feed position a cursor reaches never passes a row that can still
// appear, with writers on two servers: the interleaving that breaks the
// naive design (positions taken from a shared counter, each transaction
// committing when it is done) is played on both designs. Server A's push
// takes its position and stops before committing; server B's push takes
// the next and commits; a phone pulls to the head; A commits.
//
// Naive, the phone's cursor passed A's position before A's row was
// there, and no later pull sends it: the row is lost to that phone. With
// the feed lock B cannot take a position until A has committed, the pull
// in between sees neither row, and the phone then receives both, once.
func TestFeedCursorNeverPassesARowThatCanStillAppear(t *testing.T) {
	for _, tc := range []struct {
		name  string
		naive bool
	}{
		{"naive", true},
		{"feed lock", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := openTwoServers(t)
			w.a.naiveFeed, w.b.naiveFeed = tc.naive, tc.naive
			taken, release := make(chan struct{}), make(chan struct{})
			w.a.beforeCommit = func() {
				taken <- struct{}{}
				<-release
			}
			rowA, rowB := book(w.pushA.Replica, "A"), book(w.pushB.Replica, "B")
			pushed := make(chan error, 2)
			go func() { _, err := w.a.Push(ctx, w.pushA, []*record.Record{rowA}); pushed <- err }()
			<-taken // A holds its position, uncommitted

			bDone := make(chan error, 1)
			go func() { _, err := w.b.Push(ctx, w.pushB, []*record.Record{rowB}); bDone <- err }()
			if tc.naive {
				if err := <-bDone; err != nil {
					t.Fatal(err)
				}
			} else {
				// B waits for the feed lock A holds: it cannot commit first.
				waitForLockWaiter(t, w.a)
			}

			got := map[string]int{}
			cursor := pullAll(t, w.b, w.puller, 0, got)
			if tc.naive && (got[rowB.ID] != 1 || cursor <= w.a.seq+1) {
				t.Fatalf("naive, A held: the pull got %v to %d; want B's row and a cursor past A's position %d",
					got, cursor, w.a.seq+1)
			}
			if !tc.naive && len(got) != 0 {
				t.Fatalf("feed lock, A held: the pull got %v to %d; want nothing until A commits", got, cursor)
			}

			close(release)
			if err := <-pushed; err != nil {
				t.Fatal(err)
			}
			if !tc.naive {
				if err := <-bDone; err != nil {
					t.Fatal(err)
				}
			}
			cursor = pullAll(t, w.a, w.puller, cursor, got)
			pullAll(t, w.b, w.puller, cursor, got)

			if tc.naive {
				// The test's point: this is what the feed lock prevents.
				if got[rowA.ID] != 0 || got[rowB.ID] != 1 {
					t.Fatalf("naive design: the phone got A %d and B %d times; want A lost (0), B once", got[rowA.ID], got[rowB.ID])
				}
				t.Logf("naive design: the phone's cursor passed A's row before it committed; A's row never came")
				return
			}
			if got[rowA.ID] != 1 || got[rowB.ID] != 1 || len(got) != 2 {
				t.Fatalf("feed lock: the phone got %v; want A and B once each", got)
			}
		})
	}
}

// waitForLockWaiter returns once a backend of the database waits on a
// lock (the condition the test needs, not a guess at its timing).
func waitForLockWaiter(t *testing.T, s *Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		if err := s.r.QueryRowContext(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no transaction waits for the feed lock")
		}
		runtime.Gosched()
	}
}

// A device may present a cursor that another server of the database
// handed it: a server whose own view of the head is older does not refuse
// it as ahead of the feed; one truly past the head still is.
func TestCursorFromAnotherServerIsNotAhead(t *testing.T) {
	ctx := context.Background()
	w := openTwoServers(t)
	for range 3 {
		push(t, w.a, w.pushA, book(w.pushA.Replica, "on A"))
	}
	got := map[string]int{}
	cursor := pullAll(t, w.a, w.puller, 0, got)
	if cursor == 0 || len(got) != 3 {
		t.Fatalf("pulled %v to %d from A", got, cursor)
	}
	w.b.mu.Lock()
	stale := w.b.seq
	w.b.mu.Unlock()
	if stale >= cursor {
		t.Fatalf("B's head %d already at %d: the test needs it stale", stale, cursor)
	}
	if err := w.b.CheckCursor(cursor); err != nil {
		t.Fatalf("B refuses A's cursor %d (its own head %d): %v", cursor, stale, err)
	}
	var ahead *CursorAheadError
	if err := w.b.CheckCursor(cursor + 1); !errors.As(err, &ahead) || ahead.Head != cursor {
		t.Fatalf("a cursor past the head: %v, want ahead of %d", err, cursor)
	}
	if _, err := w.b.Pull(ctx, w.puller, cursor, 0, false); err != nil {
		t.Fatal(err)
	}
}

// Each server buffers the sync times it sees and writes them with its
// next transaction, so a server may write a device's older sighting after
// another wrote a newer one: the device's cursor and time do not move back.
func TestSeenDoesNotMoveBackAcrossServers(t *testing.T) {
	for _, tc := range []struct {
		name             string
		first, second    uint64
		wantCursor       uint64
		firstAt, laterAt time.Time
	}{
		{"older write second", 50, 20, 50, time.UnixMilli(2_000_000), time.UnixMilli(1_000_000)},
		{"newer write second", 20, 50, 50, time.UnixMilli(1_000_000), time.UnixMilli(2_000_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			w := openTwoServers(t)
			r := w.puller.Replica
			w.b.SeenAt(r, tc.first, tc.firstAt)
			if err := w.b.FlushSeen(ctx); err != nil {
				t.Fatal(err)
			}
			w.a.SeenAt(r, tc.second, tc.laterAt)
			if err := w.a.FlushSeen(ctx); err != nil {
				t.Fatal(err)
			}
			var cursor, ms int64
			if err := w.a.r.QueryRowContext(ctx, `SELECT last_cursor, last_seen_ms FROM replicas WHERE id = ?`, r).
				Scan(&cursor, &ms); err != nil {
				t.Fatal(err)
			}
			wantMS := max(tc.firstAt.UnixMilli(), tc.laterAt.UnixMilli())
			if uint64(cursor) != tc.wantCursor || ms != wantMS {
				t.Fatalf("last cursor %d, seen %d; want %d, %d", cursor, ms, tc.wantCursor, wantMS)
			}
		})
	}
}
