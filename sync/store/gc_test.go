package store

import (
	"context"
	"math"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// A deleted seeded village stays deleted: its delete is never collected
// (seeds are inserted at every start, and would come back), and adding the
// village again follows the delete instead of reusing the server's dots.
func TestDeletedSeedVillageStaysDeleted(t *testing.T) {
	ctx := context.Background()
	file := testDSN(t)
	s, p := openWithAdmin(t, file)
	seed := seedVillage("旺渔村")
	version := seed.Version.Clone()
	k := version.Bump(p.Replica)
	del := &record.Record{Table: "villages", ID: seed.ID, Version: version, Fields: map[string]record.Field{},
		Tombstone: &record.Tombstone{
			Dot:     vv.Dot{Replica: p.Replica, Counter: k, HLC: s.Clock().Now()},
			Context: version.Clone(),
		}}
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
	if err := s.Reader().QueryRow(`SELECT _deleted FROM villages WHERE id = ?`, seed.ID).
		Scan(&deleted); err != nil || deleted != 1 {
		t.Fatalf("after a restart the deleted village is %v (deleted=%d)", err, deleted)
	}

	if _, err := s.AddVillage(ctx, "旺渔村", "Wangyu", nil); err != nil {
		t.Fatal(err)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	back, _, err := s.loadState(ctx, &sqlTxn{s: s, tx: tx}, &record.Record{Table: "villages", ID: seed.ID})
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
	if err := s.Reader().QueryRow(`SELECT _deleted FROM villages WHERE id = ?`, seed.ID).
		Scan(&deleted); err != nil || deleted != 0 {
		t.Errorf("a replay of the old delete deleted the village added again (%v)", err)
	}
}

// A village renamed keeps its id (made from its first name); a new village
// under that first name gets an id of its own instead of overwriting it.
func TestAddVillageUnderARenamedVillagesName(t *testing.T) {
	ctx := context.Background()
	s, p := openWithAdmin(t, testDSN(t))
	defer s.Close()
	seed := seedVillage("东旺村")
	version := seed.Version.Clone()
	k := version.Bump(p.Replica)
	d := vv.Dot{Replica: p.Replica, Counter: k, HLC: s.Clock().Now()}
	rename := &record.Record{Table: "villages", ID: seed.ID, Version: version, Fields: map[string]record.Field{
		"name": {Value: schema.TextValue("东旺新村"), Dot: d}, "pinyin": {Value: schema.TextValue("Dongwangxin"), Dot: d}}}
	if res, err := s.Push(ctx, p, []*record.Record{rename}); err != nil || res[0].Outcome != record.Applied {
		t.Fatalf("rename: %+v %v", res, err)
	}
	id, err := s.AddVillage(ctx, "东旺村", "Dongwang", nil)
	if err != nil {
		t.Fatal(err)
	}
	if id == seed.ID {
		t.Fatal("the new village took the renamed village's id")
	}
	var names []string
	rs, err := s.Reader().Query(`SELECT name FROM villages WHERE _deleted = 0 AND name LIKE '东旺%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	for rs.Next() {
		var n string
		rs.Scan(&n)
		names = append(names, n)
	}
	rs.Close()
	if len(names) != 2 {
		t.Errorf("villages %v, want the renamed one and the new one", names)
	}
}

// openWithAdmin opens a store at file with an admin's device enrolled.
func openWithAdmin(t *testing.T, file string) (*Store, Principal) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	code, _ := s.CodeFor(ctx, "root", Admin, nil)
	p, _, err := s.Enroll(ctx, code, "admin phone")
	if err != nil {
		t.Fatal(err)
	}
	return s, p
}

// seedVillage is the seeded record of the village called name.
func seedVillage(name string) *record.Record {
	for _, r := range record.Seeds() {
		if r.Fields["name"].Value.Text == name {
			return r
		}
	}
	panic("no seeded village " + name)
}

// A record that moved out of a village and whose delete was then collected
// leaves its move behind: a pull of that village across the move must
// still answer (and evict it), not fail on the row that is gone.
func TestPullAcrossAMoveOfACollectedRecord(t *testing.T) {
	ctx := context.Background()
	s, admin := openWithAdmin(t, testDSN(t))
	defer s.Close()
	code, err := s.CodeFor(ctx, "王芳", Volunteer, []string{"南香村"})
	if err != nil {
		t.Fatal(err)
	}
	vol, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	id := "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f"
	version := vv.VV{}
	write := func(fields map[string]schema.Value, del bool) {
		t.Helper()
		k := version.Bump(admin.Replica)
		d := vv.Dot{Replica: admin.Replica, Counter: k, HLC: s.Clock().Now()}
		r := &record.Record{Table: "books", ID: id, Version: version.Clone(), Fields: map[string]record.Field{}}
		for name, v := range fields {
			r.Fields[name] = record.Field{Value: v, Dot: d}
		}
		if del {
			r.Tombstone = &record.Tombstone{Dot: d, Context: version.Clone()}
		}
		res, err := s.Push(ctx, admin, []*record.Record{r})
		if err != nil || res[0].Outcome != record.Applied {
			t.Fatalf("push: %+v %v", res, err)
		}
	}
	write(map[string]schema.Value{"village": schema.TextValue("南香村"), "title": schema.TextValue("小王子"),
		"library": schema.TextValue("children")}, false)
	write(map[string]schema.Value{"village": schema.TextValue("东旺村")}, false)
	write(nil, true)
	if n, err := s.CollectTombstones(ctx, math.MaxUint64); err != nil || n != 1 {
		t.Fatalf("collect: %d %v", n, err)
	}
	// Collection takes the move too: every device that could hold the
	// record pulled past the move before the delete could be collected.
	var moves int
	err = s.Reader().QueryRow(`SELECT count(*) FROM moves WHERE record_id = ?`, id).Scan(&moves)
	if err != nil || moves != 0 {
		t.Errorf("%d moves of the collected record are left (%v)", moves, err)
	}
	// From 1: the device pulled the record before it moved (from 0 it
	// would hold nothing to evict).
	if _, err := s.Pull(ctx, vol, 1, 0, false); err != nil {
		t.Fatalf("a pull across the move of a collected record: %v", err)
	}
	// A database collected by an earlier version kept such moves.
	_, err = s.w.Exec(`INSERT INTO moves (seq, tbl, record_id, from_village) VALUES (2, 'books', ?, '南香村')`, id)
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.Pull(ctx, vol, 1, 0, false)
	if err != nil {
		t.Fatalf("a pull across a move left by an earlier version: %v", err)
	}
	if len(page.Evicted) != 1 || page.Evicted[0].ID != id {
		t.Errorf("evicted %v, want the moved record %s (a device may still hold it)", page.Evicted, id)
	}
}
