package record

import (
	"slices"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Outcome says what merging a pushed change did.
type Outcome uint8

const (
	Applied    Outcome = iota + 1 // the change had seen everything the server had
	Merged                        // the change was concurrent; the result is new to both sides
	AlreadyHad                    // the server had seen every write in the change
	Rejected                      // the change was refused (see Problem); nothing changed
)

func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Merged:
		return "merged"
	case AlreadyHad:
		return "already_had"
	case Rejected:
		return "rejected"
	}
	return "unknown"
}

// Conflict kinds.
const (
	KindField        = "field"          // both sides wrote the same field
	KindDeleteVsEdit = "delete_vs_edit" // one side deleted, the other edited; the edit keeps the record
)

// DeletedField is the field name a delete-vs-edit conflict is logged under.
const DeletedField = "_deleted"

// Conflict is a value that lost a concurrent write, with what beat it.
type Conflict struct {
	Table, ID, Field string
	Kind             string
	Winner, Loser    Field
	// The two versions that met: the server's and the incoming one.
	ServerVersion, IncomingVersion vv.VV
}

// Merge applies a pushed change in to the server's state cur (nil when the
// server has no such record). It returns the new state, what happened, and
// the losers of concurrent writes. cur and in are not modified; when the
// outcome is AlreadyHad the returned state is cur itself.
func Merge(cur, in *Record) (*Record, Outcome, []Conflict) {
	if cur == nil {
		return in.Clone(), Applied, nil
	}
	switch in.Version.Compare(cur.Version) {
	case vv.Equal, vv.Before:
		return cur, AlreadyHad, nil
	case vv.After:
		out, conflicts := Join(cur, in)
		return out, Applied, conflicts
	default:
		out, conflicts := Join(cur, in)
		return out, Merged, conflicts
	}
}

// Join is the symmetric merge of two states of one record: per field, the
// write the other side had not seen wins; of two concurrent writes the one
// with the greater dot (HLC, replica, counter) wins and the other is
// reported. a is taken as the server's side in the conflicts it reports.
// Join(a, b) and Join(b, a) return equal states.
//
// Convergence relies on one property of the clocks: a write's HLC is
// greater than that of every write its replica had seen (hlc.Clock gives
// this when replicas observe what they receive: the server observes pushed
// dots, devices observe the server's clock in every response). Without it,
// a causal overwrite could tie with a concurrent write and the tie-break
// would depend on the order of joins.
func Join(a, b *Record) (*Record, []Conflict) {
	out := &Record{Table: a.Table, ID: a.ID, Version: a.Version.Merge(b.Version),
		Fields: make(map[string]Field, max(len(a.Fields), len(b.Fields)))}
	var conflicts []Conflict
	conflict := func(field, kind string, winner, loser Field) {
		conflicts = append(conflicts, Conflict{
			Table: a.Table, ID: a.ID, Field: field, Kind: kind,
			Winner: winner, Loser: loser,
			ServerVersion: a.Version.Clone(), IncomingVersion: b.Version.Clone(),
		})
	}
	for _, name := range unionNames(a.Fields, b.Fields) {
		fa, inA := a.Fields[name]
		fb, inB := b.Fields[name]
		switch {
		case !inB:
			out.Fields[name] = fa
		case !inA:
			out.Fields[name] = fb
		default:
			bWins, concurrent := pick(fa.Dot, fb.Dot, a.Version, b.Version)
			w, l := fa, fb
			if bWins {
				w, l = fb, fa
			}
			out.Fields[name] = w
			if concurrent && !w.Value.Equal(l.Value) {
				conflict(name, KindField, w, l)
			}
		}
	}
	out.Tombstone = joinTombstones(a, b)
	if t := out.Tombstone; t != nil {
		// An edit concurrent with a delete keeps the record (it is alive
		// because the edit's dot is outside the delete's context); report
		// it when the side that deleted meets the side that edited, once
		// for each such edit (one write may set several fields): the log
		// closes an entry when its edit no longer keeps the record, and
		// another edit may still.
		var reported []vv.Dot
		for _, name := range out.FieldNames() {
			f := out.Fields[name]
			if t.Context.Covers(f.Dot) || slices.ContainsFunc(reported, f.Dot.Same) {
				continue
			}
			if editConcurrentWithDelete(a, b, f.Dot) || editConcurrentWithDelete(b, a, f.Dot) {
				conflict(DeletedField, KindDeleteVsEdit, f, Field{Value: schema.BoolValue(true), Dot: t.Dot})
				reported = append(reported, f.Dot)
			}
		}
	}
	return out, conflicts
}

// editConcurrentWithDelete reports whether side del holds a tombstone and
// had not seen the field write d that side ed holds, and ed had not seen
// every delete del had joined: its version does not cover del's tombstone
// context (which holds each of those deletes and all they had seen). Not
// just the tombstone's dot: once two deletes are joined only the winning
// dot is left, and an edit made after one delete (its own device's, say)
// but without seeing the other is still concurrent with that other, in
// whichever order the three reach the server.
func editConcurrentWithDelete(del, ed *Record, d vv.Dot) bool {
	if del.Tombstone == nil || del.Version.Covers(d) {
		return false
	}
	holds := false
	for _, f := range ed.Fields {
		if f.Dot.Same(d) {
			holds = true
			break
		}
	}
	return holds && !covers(ed.Version, del.Tombstone.Context)
}

// covers reports whether v has seen every write w has.
func covers(v, w vv.VV) bool {
	o := w.Compare(v)
	return o == vv.Before || o == vv.Equal
}

func joinTombstones(a, b *Record) *Tombstone {
	ta, tb := a.Tombstone, b.Tombstone
	switch {
	case ta == nil && tb == nil:
		return nil
	case tb == nil:
		return cloneTombstone(ta)
	case ta == nil:
		return cloneTombstone(tb)
	}
	// Two deletes: keep the winning dot, but the union of what both
	// deleting replicas had seen, so an edit either delete had seen stays
	// deleted whichever delete's clock is later.
	win := ta
	if bWins, _ := pick(ta.Dot, tb.Dot, a.Version, b.Version); bWins {
		win = tb
	}
	return &Tombstone{Dot: win.Dot, Context: ta.Context.Merge(tb.Context)}
}

func cloneTombstone(t *Tombstone) *Tombstone {
	return &Tombstone{Dot: t.Dot, Context: t.Context.Clone()}
}

// pick chooses between side a's write da and side b's write db of one
// field, given what each side has seen: it reports whether b's write wins
// and whether the two writes were concurrent.
func pick(da, db vv.Dot, va, vb vv.VV) (bWins, concurrent bool) {
	if da.Same(db) {
		return false, false
	}
	aSeenByB, bSeenByA := vb.Covers(da), va.Covers(db)
	switch {
	case bSeenByA && !aSeenByB:
		return false, false // a overwrote b's write
	case aSeenByB && !bSeenByA:
		return true, false // b overwrote a's write
	}
	// Neither saw the other's write (or, in a state no honest replica
	// produces, both did): the greater dot wins, the same on every replica.
	return da.Less(db), !aSeenByB
}

func unionNames(a, b map[string]Field) []string {
	names := make([]string, 0, len(a)+len(b))
	for n := range a {
		names = append(names, n)
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// Overrules reports whether a column's domain rule says the loser of a
// concurrent conflict should have won: a cleanup status only moves
// forward, a set return date beats an unset one. It is applied by the
// server as a new write on top of the merge (see store), not inside Join:
// a rule that disagrees with causality (a deliberate reopen is a later
// write with a lower status) would make Join depend on the order of joins.
func Overrules(c Conflict) bool {
	t, err := schema.Lookup(c.Table)
	if err != nil || c.Kind != KindField {
		return false
	}
	col := t.Column(c.Field)
	if col == nil {
		return false
	}
	switch col.Merge {
	case schema.Forward:
		return slices.Index(col.Enum, c.Loser.Value.Text) > slices.Index(col.Enum, c.Winner.Value.Text)
	case schema.SetWins:
		return c.Winner.Value.IsNull() && !c.Loser.Value.IsNull()
	}
	return false
}
