package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/protocol"
)

// A device's Behind is the number of records its pull would send it now,
// whatever its role, villages, cursor and own writes: checked against
// Pull for random feeds, cursors and writers. The count buckets the feed
// between the devices' cursors, so devices at the same cursor, at 0 and
// past the end are all in it. A device that has never synced (a console's
// browser, which only reads through the API) is behind 0, whatever its
// pull would send, and bounds no bucket.
func TestBehindIsWhatPullSends(t *testing.T) {
	ctx := context.Background()
	for seed := range uint64(4) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 12))
			s, err := Open(ctx, testDSN(t), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			villages := []string{"南香村", "东旺村", "旺渔村"}
			var ps []Principal
			for i := range 8 {
				role, vs := []Role{Staff, Coordinator, Admin, Volunteer, Volunteer, Volunteer}[rng.IntN(6)], []string(nil)
				if role == Volunteer {
					vs = []string{villages[rng.IntN(3)]}
					if rng.IntN(2) == 0 {
						vs = append(vs, villages[(slices.Index(villages, vs[0])+1)%3])
					}
				}
				for range 1 + rng.IntN(2) { // a user's devices share her scope, not their own writes
					code, err := s.CodeFor(ctx, fmt.Sprint("user", i), role, vs)
					if err != nil {
						t.Fatal(err)
					}
					p, _, err := s.Enroll(ctx, code, "d")
					if err != nil {
						t.Fatal(err)
					}
					ps = append(ps, p)
				}
			}
			n := 300 + rng.IntN(300)
			tx, err := s.w.BeginTx(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			for i := range n {
				table, village := "tutoring_sessions", any(villages[rng.IntN(3)])
				switch rng.IntN(5) {
				case 0:
					table = "books"
				case 1:
					village = nil // a scoped record of no village: only all-village roles pull it
				}
				origin := ps[rng.IntN(len(ps))].Replica
				if _, err := tx.Exec(fmt.Sprintf(`INSERT INTO %s (id, village, _vv, _dots, _seq, _origin)
					VALUES (?, ?, ?, ?, ?, ?)`, table), fmt.Sprint("r", i), village, []byte{}, []byte{}, i+1, origin); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := tx.Exec(`UPDATE meta SET value = ? WHERE key = 'seq'`, n); err != nil {
				t.Fatal(err)
			}
			cursors, never := map[uint32]uint64{}, map[uint32]bool{}
			for i, p := range ps {
				// The first device has never synced, then one in four.
				if i == 0 || rng.IntN(4) == 0 {
					never[p.Replica] = true
					continue
				}
				c := []uint64{0, uint64(n), uint64(rng.IntN(n)), uint64(n / 2)}[rng.IntN(4)]
				cursors[p.Replica] = c
				if _, err := tx.Exec(`UPDATE replicas SET last_cursor = ?, last_seen_ms = ? WHERE id = ?`,
					c, 1+rng.IntN(1e9), p.Replica); err != nil {
					t.Fatal(err)
				}
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			s.seq = uint64(n)
			ds, err := s.ListDevices(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(ds) != len(ps) {
				t.Fatalf("%d devices listed, %d enrolled", len(ds), len(ps))
			}
			for i, d := range ds {
				p := ps[i]
				page, err := s.Pull(ctx, p, cursors[p.Replica], protocol.MaxPageLimit, false)
				if err != nil {
					t.Fatal(err)
				}
				if page.HasMore {
					t.Fatal("the test's feed does not fit a page")
				}
				want := uint64(len(page.Records))
				if never[p.Replica] {
					want = 0
					if !d.LastSeen.IsZero() || want == uint64(len(page.Records)) {
						t.Fatalf("device %d: seen %v, its pull sends %d; the test wants one never seen with records to pull",
							p.Replica, d.LastSeen, len(page.Records))
					}
				}
				if d.Replica != p.Replica || d.PulledSeq != cursors[p.Replica] || d.Behind != want ||
					d.FeedSeq != uint64(n) {
					t.Errorf("device %d (%s %v, cursor %d, never synced %v): behind %d at %d/%d; want %d, its pull sends %d",
						p.Replica, p.Role, p.Villages, cursors[p.Replica], never[p.Replica], d.Behind, d.PulledSeq,
						d.FeedSeq, want, len(page.Records))
				}
			}
		})
	}
}
