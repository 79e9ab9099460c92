package store

import (
	"context"
	"math"
	"path/filepath"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// A deleted seeded village stays deleted: its delete is never collected
// (seeds are inserted at every start, and would come back), and adding the
// village again follows the delete instead of reusing the server's dots.
func TestDeletedSeedVillageStaysDeleted(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "s.db")
	s, err := Open(ctx, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := s.CodeFor(ctx, "root", Admin, nil)
	p, _, err := s.Enroll(ctx, code, "admin phone")
	if err != nil {
		t.Fatal(err)
	}
	var seed *record.Record
	for _, r := range record.Seeds() {
		if r.Fields["name"].Value.Text == "旺渔村" {
			seed = r
		}
	}
	version := seed.Version.Clone()
	k := version.Bump(p.Replica)
	del := &record.Record{Table: "villages", ID: seed.ID, Version: version, Fields: map[string]record.Field{},
		Tombstone: &record.Tombstone{Dot: vv.Dot{Replica: p.Replica, Counter: k, HLC: s.Clock().Now()}, Context: version.Clone()}}
	res, err := s.Push(ctx, p, []*record.Record{del})
	if err != nil || res[0].Outcome != record.Applied {
		t.Fatalf("delete the village: %+v %v", res, err)
	}
	if _, err := s.CollectTombstones(ctx, math.MaxUint64); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(ctx, file, Options{}); err != nil { // seeds again
		t.Fatal(err)
	}
	defer s.Close()
	var deleted int
	if err := s.Reader().QueryRow(`SELECT _deleted FROM villages WHERE id = ?`, seed.ID).Scan(&deleted); err != nil || deleted != 1 {
		t.Fatalf("after a restart the deleted village is %v (deleted=%d)", err, deleted)
	}

	if _, err := s.AddVillage(ctx, "旺渔村", "Wangyu", nil); err != nil {
		t.Fatal(err)
	}
	tx, err := s.db.W.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := s.load(ctx, tx, &record.Record{Table: "villages", ID: seed.ID})
	tx.Rollback()
	if err != nil || back == nil {
		t.Fatal(back, err)
	}
	if back.Deleted() || back.Version.Compare(del.Version) != vv.After {
		t.Errorf("the village added again has version %v, want alive and after the delete's %v", back.Version, del.Version)
	}
	// A replay of the old delete (its answer lost) gets its first answer
	// and changes nothing now.
	if _, err = s.Push(ctx, p, []*record.Record{del}); err != nil {
		t.Fatal(err)
	}
	if err := s.Reader().QueryRow(`SELECT _deleted FROM villages WHERE id = ?`, seed.ID).Scan(&deleted); err != nil || deleted != 0 {
		t.Errorf("a replay of the old delete deleted the village added again (%v)", err)
	}
}
