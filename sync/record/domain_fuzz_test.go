package record_test

import (
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// The domain rules, stated again here rather than read from schema:
// a cleanup status only moves forward along this order, and a set return
// date beats an unset one. No other field has a rule.
var statusRank = map[string]int{"reported": 0, "in_progress": 1, "done": 2, "checked": 3}

// overrulesSpec says whether the rule for table.field makes the clock's
// loser the winner, and whether the rule decides the pair at all (known
// says false when a value is one no valid record can hold, so only the
// general properties are checked).
func overrulesSpec(table, field, kind string, winner, loser schema.Value) (want, known bool) {
	if kind != record.KindField {
		return false, true
	}
	switch {
	case table == "cleanup_tasks" && field == "status":
		w, wok := rankOf(winner)
		l, lok := rankOf(loser)
		if !wok || !lok {
			return false, false
		}
		return l > w, true
	case table == "loans" && field == "returned_on":
		return winner.IsNull() && !loser.IsNull(), true
	}
	return false, true
}

func rankOf(v schema.Value) (int, bool) {
	if v.Type != schema.Text {
		return 0, false
	}
	r, ok := statusRank[v.Text]
	return r, ok
}

// fuzzValue draws a value: mostly the statuses and dates a conflict can
// hold, sometimes NULL, arbitrary text or another type.
func fuzzValue(sel uint8, s string) schema.Value {
	switch sel % 10 {
	case 0, 1, 2, 3:
		return schema.TextValue([]string{"reported", "in_progress", "done", "checked"}[sel%10])
	case 4:
		return schema.Value{}
	case 5:
		return schema.TextValue(s)
	case 6:
		return schema.TextValue("2024-06-10")
	case 7:
		return schema.TextValue("2024-06-11")
	case 8:
		return schema.IntValue(int64(len(s)))
	default:
		return schema.TextValue("")
	}
}

var fuzzTargets = []struct{ table, field string }{
	{"cleanup_tasks", "status"},
	{"loans", "returned_on"},
	{"cleanup_tasks", "status"}, // the two ruled fields, twice as often
	{"loans", "returned_on"},
	{"cleanup_tasks", "place"},
	{"loans", "due_on"},
	{"books", "title"},
	{"pets", "status"},
	{"cleanup_tasks", "Status"},
	{"loans", record.DeletedField},
}

// FuzzOverrules builds a conflict on a ruled field (or another) from
// fuzzed values and dots, and checks record.Overrules against the rule
// stated above: it never panics, agrees with the rule wherever the rule
// decides, looks only at the values (not the dots or versions), never
// lets a value no valid record holds overrule a valid one, and is
// antisymmetric: when the two values differ in rank (status) or nullness
// (return date), it cannot say both "the loser should win" and, with the
// two swapped, "the loser should win" again.
func FuzzOverrules(f *testing.F) {
	for target := range uint8(len(fuzzTargets)) {
		for w := range uint8(10) {
			for l := range uint8(10) {
				if (w+l+target)%7 == 0 {
					f.Add(target, false, w, l, "done", "2024-06-10", uint64(200), uint64(100))
				}
			}
		}
	}
	f.Add(uint8(0), false, uint8(1), uint8(2), "", "", uint64(0), uint64(0))             // in_progress vs done
	f.Add(uint8(1), false, uint8(4), uint8(6), "", "", uint64(1), uint64(1<<63))         // NULL vs a date
	f.Add(uint8(1), true, uint8(4), uint8(6), "", "", uint64(5), uint64(4))              // delete vs edit
	f.Add(uint8(0), false, uint8(5), uint8(3), "Checked", "x", uint64(9), uint64(8))     // unknown status vs checked
	f.Add(uint8(0), false, uint8(3), uint8(5), "x", "checked\x00", uint64(9), uint64(8)) // checked vs unknown status

	f.Fuzz(func(t *testing.T, target uint8, deleteVsEdit bool, wSel, lSel uint8, wText, lText string, wHLC, lHLC uint64) {
		tg := fuzzTargets[int(target)%len(fuzzTargets)]
		kind := record.KindField
		if deleteVsEdit {
			kind = record.KindDeleteVsEdit
		}
		winner, loser := fuzzValue(wSel, wText), fuzzValue(lSel, lText)
		conflict := func(w, l schema.Value, wd, ld vv.Dot) record.Conflict {
			return record.Conflict{
				Table: tg.table, ID: "0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f", Field: tg.field, Kind: kind,
				Winner: record.Field{Value: w, Dot: wd}, Loser: record.Field{Value: l, Dot: ld},
				ServerVersion:   vv.VV{wd.Replica: wd.Counter},
				IncomingVersion: vv.VV{ld.Replica: ld.Counter},
			}
		}
		wDot := vv.Dot{Replica: 2 + uint32(wHLC%5), Counter: 1 + wHLC%3, HLC: wHLC}
		lDot := vv.Dot{Replica: 2 + uint32(lHLC%5), Counter: 1 + lHLC%3, HLC: lHLC}
		c := conflict(winner, loser, wDot, lDot)
		got := record.Overrules(c)
		desc := func() string {
			return tg.table + "." + tg.field + " (" + kind + ") winner " + show1(winner) + ", loser " + show1(loser)
		}

		want, known := overrulesSpec(tg.table, tg.field, kind, winner, loser)
		if known && got != want {
			t.Fatalf("Overrules(%s) = %v, want %v", desc(), got, want)
		}

		// Only the values decide: other dots and versions change nothing.
		if again := record.Overrules(conflict(winner, loser, lDot, wDot)); again != got {
			t.Fatalf("Overrules(%s) = %v, but %v with the dots swapped", desc(), got, again)
		}
		if again := record.Overrules(conflict(winner, loser, vv.Dot{}, vv.Dot{})); again != got {
			t.Fatalf("Overrules(%s) = %v, but %v with zero dots", desc(), got, again)
		}

		// A value outside the status order never beats one inside it.
		if tg.table == "cleanup_tasks" && tg.field == "status" && got {
			if _, ok := rankOf(loser); !ok {
				t.Fatalf("Overrules(%s): a loser that is not a status overruled", desc())
			}
		}

		// Antisymmetry, whenever the two values differ in rank or nullness.
		differ := winner.IsNull() != loser.IsNull()
		if w, wok := rankOf(winner); wok {
			if l, lok := rankOf(loser); lok && w != l {
				differ = true
			}
		}
		swapped := record.Overrules(conflict(loser, winner, lDot, wDot))
		if differ && got && swapped {
			t.Fatalf("Overrules(%s) and Overrules with the values swapped are both true", desc())
		}
		// Equal values never overrule: the clock's choice stands.
		if winner.Equal(loser) && got {
			t.Fatalf("Overrules(%s) = true for two equal values", desc())
		}
	})
}

func show1(v schema.Value) string {
	if v.IsNull() {
		return "NULL"
	}
	s := v.String()
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return v.Type.String() + " " + "\"" + s + "\""
}
