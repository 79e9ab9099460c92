package store

import (
	"context"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// Stats counts what staff have to review and measures each active
// device against the head it read: a device that pulled everything is
// 0 behind, one that never pulled is behind by the whole feed, a revoked
// one and one that never synced are not counted.
func TestStats(t *testing.T) {
	ctx := context.Background()
	s, admin := openWithAdmin(t, testDSN(t))
	defer s.Close()
	vol := enrollAs(t, s, "王芳", Volunteer, "南香村")
	gone := enrollAs(t, s, "李雷", Volunteer, "南香村")
	enrollAs(t, s, "韩梅", Volunteer, "南香村") // never syncs

	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.OpenConflicts != 0 || st.HeldChanges != 0 || len(st.Lags) != 0 {
		t.Fatalf("fresh store: %+v, want nothing to review and no active device", st)
	}
	seeded := st.Head

	// The admin pushes two books and pulls the feed; the volunteer's
	// too-long notes are refused and held.
	if _, err := s.Sync(ctx, admin, &protocol.Request{Replica: admin.Replica, Changes: []protocol.Change{
		{Record: book(admin.Replica, "小王子")}, {Record: book(admin.Replica, "西游记")}}}); err != nil {
		t.Fatal(err)
	}
	res, err := s.Sync(ctx, vol, &protocol.Request{Replica: vol.Replica, PageLimit: 1, Changes: []protocol.Change{
		{Record: bookWith(vol.Replica, "南香村", strings.Repeat("x", 1<<20))}}})
	if err != nil || res.Results[0].Outcome != record.Rejected {
		t.Fatalf("long notes: %+v %v, want rejected", res, err)
	}
	if _, err := s.Sync(ctx, gone, &protocol.Request{Replica: gone.Replica, PageLimit: 1}); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeDevice(ctx, gone.Replica); err != nil {
		t.Fatal(err)
	}
	// The admin pulls to the head; a sync notes the cursor the device
	// says it has stored, so it takes one more to say so.
	cursor := uint64(0)
	for range 2 {
		r, err := s.Sync(ctx, admin, &protocol.Request{Replica: admin.Replica, Cursor: cursor, ScopeHash: ScopeHash(admin)})
		if err != nil {
			t.Fatal(err)
		}
		cursor = r.NextCursor
	}

	if st, err = s.Stats(ctx); err != nil {
		t.Fatal(err)
	}
	if st.Head != seeded+2 {
		t.Errorf("head %d, want %d (the seeds and two books)", st.Head, seeded+2)
	}
	if st.HeldChanges != 1 || st.OpenConflicts != 0 {
		t.Errorf("held %d, open conflicts %d; want 1 and 0", st.HeldChanges, st.OpenConflicts)
	}
	// The volunteer has stored nothing yet (her cursor is 0).
	if len(st.Lags) != 2 || st.Lags[0] != 0 || st.Lags[1] != st.Head {
		t.Errorf("lags %v, want the admin's 0 and the volunteer's %d", st.Lags, st.Head)
	}
	if st.MaxLag() != st.Lags[len(st.Lags)-1] {
		t.Errorf("max lag %d, want %d", st.MaxLag(), st.Lags[len(st.Lags)-1])
	}
}
