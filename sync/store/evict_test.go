package store

import (
	"context"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Evictions name only records the device could hold: none on a device's
// first sync (it holds nothing), on any of its pages; none that left a
// village before the volunteer was given it, when an enrolled device is
// rescoped; but still those that left a village she kept, after her
// device's cursor.
func TestEvictionsNameOnlyWhatTheDeviceCouldHold(t *testing.T) {
	ctx := context.Background()
	s, admin := openWithAdmin(t, testDSN(t))
	defer s.Close()
	versions := map[string]vv.VV{}
	write := func(id, village string) {
		t.Helper()
		v := versions[id].Clone()
		if v == nil {
			v = vv.VV{}
		}
		k := v.Bump(admin.Replica)
		versions[id] = v
		d := vv.Dot{Replica: admin.Replica, Counter: k, HLC: s.Clock().Now()}
		f := func(x string) record.Field { return record.Field{Value: schema.TextValue(x), Dot: d} }
		r := &record.Record{Table: "books", ID: id, Version: v.Clone(), Fields: map[string]record.Field{
			"village": f(village)}}
		if k == 1 {
			r.Fields["title"], r.Fields["library"] = f("书"), f("children")
		}
		if res, err := s.Push(ctx, admin, []*record.Record{r}); err != nil || res[0].Outcome != record.Applied {
			t.Fatalf("write %s: %+v %v", id, res, err)
		}
	}
	newID := func(village string) string {
		id := uuid.Must(uuid.NewV7()).String()
		write(id, village)
		return id
	}
	type device struct {
		token         string
		cursor, scope uint64
		evicted       []string
	}
	enroll := func(user string, villages ...string) *device {
		code, err := s.CodeFor(ctx, user, Volunteer, villages)
		if err != nil {
			t.Fatal(err)
		}
		_, token, err := s.Enroll(ctx, code, user+"'s phone")
		if err != nil {
			t.Fatal(err)
		}
		return &device{token: token}
	}
	// syncAll syncs d to the end of the feed, a page of one record at a time.
	syncAll := func(d *device) {
		t.Helper()
		d.evicted = nil
		p, err := s.Authenticate(ctx, d.token)
		if err != nil {
			t.Fatal(err)
		}
		for more := true; more; {
			resp, err := s.Sync(ctx, p, &protocol.Request{Replica: p.Replica, Cursor: d.cursor, ScopeHash: d.scope,
				PageLimit: 1})
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range resp.Evicted {
				d.evicted = append(d.evicted, e.ID)
			}
			if resp.Rescoped {
				d.scope = resp.ScopeHash
			}
			d.cursor, more = resp.NextCursor, resp.HasMore
		}
	}

	// Before anyone serves 东旺村, a record leaves it between others.
	newID("东旺村")
	gone := newID("东旺村")
	write(gone, "旺渔村")
	newID("东旺村")

	newcomer := enroll("王芳", "东旺村")
	syncAll(newcomer)
	if len(newcomer.evicted) != 0 {
		t.Errorf("a new volunteer's first sync evicted %v, records that left 东旺村 before she joined", newcomer.evicted)
	}

	// An enrolled device of 南香村 and one of 东旺村, synced; then a record
	// leaves 东旺村, and both are given the other village too.
	nanxiang := enroll("张伟", "南香村")
	dongwang := enroll("李娜", "东旺村")
	kept := newID("东旺村")
	syncAll(nanxiang)
	syncAll(dongwang)
	write(kept, "旺渔村")
	if err := s.SetVillages(ctx, "张伟", []string{"南香村", "东旺村"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetVillages(ctx, "李娜", []string{"东旺村", "南香村"}); err != nil {
		t.Fatal(err)
	}
	syncAll(nanxiang)
	if len(nanxiang.evicted) != 0 {
		t.Errorf("a device given 东旺村 evicted %v, which left 东旺村 before it was given", nanxiang.evicted)
	}
	syncAll(dongwang)
	if !slices.Equal(dongwang.evicted, []string{kept}) {
		t.Errorf("the device that kept 东旺村 evicted %v, want %s, which left it after its cursor", dongwang.evicted, kept)
	}
}
