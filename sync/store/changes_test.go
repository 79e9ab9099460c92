package store

import (
	"context"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// A volunteer's view of a record's history names nobody of another
// village: not on the villages table (which has no scope, so every
// volunteer may read its trail) where a 东旺村 volunteer's refused write to
// the 南香村 record would show her name, device and words; and not on a
// record moved into her village from another, whose earlier writers were
// of that village. Staff see every entry whole.
func TestHistoryNamesNobodyOfAnotherVillage(t *testing.T) {
	ctx := context.Background()
	s, _ := openWithAdmin(t, testDSN(t))
	defer s.Close()
	mine := enrollAs(t, s, "王芳", Volunteer, "南香村")
	theirs := enrollAs(t, s, "东旺志愿者", Volunteer, "东旺村")
	stf := enrollAs(t, s, "陈静", Staff)

	// Her refused write is hers to see; theirs is not.
	village := seedVillage("南香村")
	refusedEdit := func(p Principal) {
		t.Helper()
		c := edit(village, p.Replica, "pinyin", schema.TextValue("Nanxiang "+p.User))
		res, err := s.Push(ctx, p, []*record.Record{c})
		if err != nil || res[0].Outcome != record.Rejected {
			t.Fatalf("%s's write to the villages table: %+v %v, want it refused", p.User, res, err)
		}
	}
	refusedEdit(theirs)
	refusedEdit(mine)

	// A book of 东旺村, moved to 南香村 by staff, then edited by her.
	b := book(theirs.Replica, "小王子")
	b.Fields["village"] = record.Field{Value: schema.TextValue("东旺村"), Dot: b.Fields["title"].Dot}
	push(t, s, theirs, b)
	server := b.Clone()
	push(t, s, stf, edit(server, stf.Replica, "village", schema.TextValue("南香村")))
	push(t, s, mine, edit(server, mine.Replica, "title", schema.TextValue("小王子（新）")))

	type entry struct {
		replica      uint32
		user, device string
		outcome      string
	}
	trail := func(p Principal, table, id string) []entry {
		t.Helper()
		cs, err := s.ListChanges(ctx, p, table, id)
		if err != nil {
			t.Fatal(err)
		}
		var out []entry
		for _, c := range cs {
			if p.Replica == mine.Replica && strings.Contains(c.User+c.Device+c.Detail, "东旺") {
				t.Errorf("%s's trail of %s: %+v names the 东旺村 volunteer", p.User, table, c)
			}
			out = append(out, entry{c.Replica, c.User, c.Device, c.Outcome})
		}
		return out
	}
	equal := func(what string, got, want []entry) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s: %+v, want %+v", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s: entry %d is %+v, want %+v", what, i, got[i], want[i])
			}
		}
	}
	who := func(p Principal, outcome string) entry { return entry{p.Replica, p.User, p.Device, outcome} }
	rejected, applied := record.Rejected.String(), record.Applied.String()

	equal("her trail of the 南香村 villages record", trail(mine, "villages", village.ID),
		[]entry{who(mine, rejected)})
	equal("staff's trail of the 南香村 villages record", trail(stf, "villages", village.ID),
		[]entry{who(theirs, rejected), who(mine, rejected)})
	equal("her trail of the moved book", trail(mine, "books", b.ID),
		[]entry{{outcome: applied}, who(stf, applied), who(mine, applied)})
	equal("staff's trail of the moved book", trail(stf, "books", b.ID),
		[]entry{who(theirs, applied), who(stf, applied), who(mine, applied)})
}
