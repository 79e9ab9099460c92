package store

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/uuid"
	"pgregory.net/rapid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// world is one server store and devices that each hold one record the way
// a replica does: local writes bump its own counter, a sync pushes the
// writes the server has not acknowledged (cut as clients/go/replica cuts
// them) and then takes the server's state.
type world struct {
	t    tb
	s    *Store
	devs []*device
	hlc  uint64
	id   string
	// pushes are the changes the server received, in order, with who sent
	// them (what a replay in another order sends again).
	pushes []sentChange
}

// tb is what world needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

type device struct {
	p     Principal
	state *record.Record
	acked uint64
}

type sentChange struct {
	dev    int
	change *record.Record
}

// newWorld opens a store in dir with n staff devices; the caller closes w.s.
func newWorld(t tb, dir string, n int) *world {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(dir, "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	w := &world{t: t, s: s, hlc: s.Clock().Now()}
	for i := range n {
		code, err := s.CodeFor(ctx, fmt.Sprint("staff", i), Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, _, err := s.Enroll(ctx, code, string(rune('A'+i)))
		if err != nil {
			t.Fatal(err)
		}
		w.devs = append(w.devs, &device{p: p})
	}
	return w
}

func (w *world) tick() uint64 { w.hlc++; return w.hlc }

// create makes device d write a new session, with every required field.
func (w *world) create(d int) {
	dev := w.devs[d]
	r := session(dev.p.Replica, 1)
	for name, f := range r.Fields {
		f.Dot.HLC = w.tick()
		r.Fields[name] = f
	}
	w.id = r.ID
	dev.state = r
}

func (w *world) write(d int, field, value string) {
	dev := w.devs[d]
	k := dev.state.Version.Bump(dev.p.Replica)
	dev.state.Fields[field] = record.Field{Value: schema.TextValue(value),
		Dot: vv.Dot{Replica: dev.p.Replica, Counter: k, HLC: w.tick()}}
}

func (w *world) del(d int) {
	dev := w.devs[d]
	k := dev.state.Version.Bump(dev.p.Replica)
	dev.state.Tombstone = &record.Tombstone{Dot: vv.Dot{Replica: dev.p.Replica, Counter: k, HLC: w.tick()},
		Context: dev.state.Version.Clone()}
}

// change is d's unacknowledged writes, or nil.
func (w *world) change(d int) *record.Record {
	dev := w.devs[d]
	if dev.state == nil || dev.state.Version[dev.p.Replica] <= dev.acked {
		return nil
	}
	me := dev.p.Replica
	c := &record.Record{Table: dev.state.Table, ID: dev.state.ID, Version: dev.state.Version.Clone(),
		Fields: map[string]record.Field{}}
	for name, f := range dev.state.Fields {
		if f.Dot.Replica == me && f.Dot.Counter > dev.acked {
			c.Fields[name] = f
		}
	}
	if t := dev.state.Tombstone; t != nil && t.Dot.Replica == me && t.Dot.Counter > dev.acked {
		c.Tombstone = &record.Tombstone{Dot: t.Dot, Context: t.Context.Clone()}
	}
	return c
}

// sync pushes d's pending writes, then takes the server's state.
func (w *world) sync(d int) {
	w.t.Helper()
	if c := w.change(d); c != nil {
		w.push(d, c)
		w.pushes = append(w.pushes, sentChange{d, c.Clone()})
	}
	w.pull(d)
}

func (w *world) push(d int, c *record.Record) {
	w.t.Helper()
	res, err := w.s.Push(context.Background(), w.devs[d].p, []*record.Record{c})
	if err != nil || res[0].Outcome == record.Rejected {
		w.t.Fatalf("push by %s: %+v %v", w.devs[d].p.Device, res, err)
	}
}

func (w *world) pull(d int) {
	dev := w.devs[d]
	if cur := w.server(); cur != nil {
		dev.state, dev.acked = cur, cur.Version[dev.p.Replica]
	}
}

// server reads the server's state of the record (nil before it has one).
func (w *world) server() *record.Record {
	w.t.Helper()
	if w.id == "" {
		return nil
	}
	ctx := context.Background()
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	tx, err := w.s.beginTxn(ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	defer tx.rollback()
	t, _ := schema.Lookup("tutoring_sessions")
	r, ok, err := tx.loadRecord(ctx, t, w.id)
	if err != nil {
		w.t.Fatal(err)
	}
	if !ok {
		return nil
	}
	r.Seq = 0
	return r
}

func (w *world) entries(openOnly bool) []LoggedConflict {
	w.t.Helper()
	cs, err := w.s.ListConflicts(context.Background(), ConflictFilter{OpenOnly: openOnly, Limit: 1000})
	if err != nil {
		w.t.Fatal(err)
	}
	return cs
}

// The five steps of issue 18, in both arrival orders: the record ends
// deleted either way, and the log offers the same thing, A's note, which
// brings the record back.
func TestTheLogStaysTrueWhenALaterMergeDeletes(t *testing.T) {
	for _, aFirst := range []bool{true, false} {
		t.Run(fmt.Sprintf("A first %v", aFirst), func(t *testing.T) {
			const A, B, C = 0, 1, 2
			w := newWorld(t, t.TempDir(), 3)
			defer w.s.Close()
			w.create(A)
			for _, d := range []int{A, B, C} {
				w.sync(d)
			}
			w.write(A, "notes", "A's note")
			w.write(B, "notes", "B's note") // later clock
			w.del(C)
			w.sync(C)
			w.del(B) // B has seen its own note, not A's
			if aFirst {
				w.sync(A)
				if open := w.entries(true); len(open) != 1 || open[0].Kind != record.KindDeleteVsEdit {
					t.Fatalf("after A: open entries %+v, want A's edit against C's delete", open)
				}
				w.sync(B)
			} else {
				w.sync(B)
				w.sync(A)
			}
			for _, d := range []int{A, B, C} {
				w.sync(d)
			}
			final := w.server()
			if !final.Deleted() {
				t.Fatalf("the record is alive: %+v", final)
			}
			for _, d := range w.devs {
				if !d.state.Equal(final) {
					t.Errorf("%s holds %+v, the server %+v", d.p.Device, d.state, final)
				}
			}
			open := w.entries(true)
			if len(open) != 1 {
				t.Fatalf("open entries %+v, want one", open)
			}
			if c := open[0]; c.Kind != record.KindField || c.Field != "notes" || c.Loser.Value.Text != "A's note" ||
				c.Winner.Value.Text != "B's note" {
				t.Errorf("open entry %+v, want A's note lost to B's", c)
			}
			all := w.entries(false)
			for _, c := range all {
				if c.Kind != record.KindDeleteVsEdit {
					continue
				}
				if !aFirst {
					t.Errorf("B first: a delete_vs_edit entry was logged: %+v", c)
				}
				if c.Resolution != Superseded || !strings.Contains(c.ResolvedBy, "deleted") {
					t.Errorf("delete_vs_edit entry %+v, want superseded because the record ended deleted", c)
				}
				_, err := w.s.ResolveConflict(context.Background(), c.LogID, "keep", "staff")
				if !errors.Is(err, ErrAlreadyResolved) {
					t.Errorf("keep a superseded entry: %v, want %v", err, ErrAlreadyResolved)
				}
			}
			if aFirst && len(all) != 2 {
				t.Errorf("A first: %d entries in the log, want the note and the superseded delete_vs_edit", len(all))
			}
			// Nothing was lost: A's note brings the record back.
			if _, err := w.s.ResolveConflict(context.Background(), open[0].LogID, "take_loser", "staff"); err != nil {
				t.Fatal(err)
			}
			if r := w.server(); r.Deleted() || r.Fields["notes"].Value.Text != "A's note" {
				t.Errorf("after take_loser: %+v, want the record alive with A's note", r)
			}
		})
	}
}

// A field entry is closed by a later write of the field only when that
// write's writer had seen the losing value as the field's value. Having
// seen the loser is not enough: a device that pulls the merged record has
// seen every write, the loser too, but only the winner as the value.
func TestAFieldEntryClosesOnlyWhenItsLoserWasSeenAsTheValue(t *testing.T) {
	const A, B, C = 0, 1, 2
	type step struct {
		dev          int
		field, value string // a write; none for a sync
	}
	sync := func(d int) step { return step{dev: d} }
	notes := func(d int, v string) step { return step{d, "notes", v} }
	for _, tc := range []struct {
		name string
		// steps run after every device has synced the new record; each
		// value is written with a later clock than the one before.
		steps []step
		// the open entries at the end, loser → winner, and the value
		// closed as superseded (or "").
		open       map[string]string
		superseded string
	}{{
		// The reviewer's case: C's edit replaced B's note, never A's.
		name:  "an edit after pulling the merged record leaves the loser on offer",
		steps: []step{notes(A, "a"), notes(B, "b"), sync(A), sync(B), sync(C), notes(C, "c"), sync(C)},
		open:  map[string]string{"a": "b"},
	}, {
		// B saw A's note as the value and replaced it; C was concurrent
		// with both. A's note is not on offer whether B's edit or C's
		// reaches the server first.
		name:  "an edit having seen the loser as the value closes it, C first",
		steps: []step{notes(A, "a"), sync(A), sync(B), notes(C, "c"), notes(B, "b"), sync(C), sync(B)},
		open:  map[string]string{"c": "b"}, superseded: "a",
	}, {
		name:  "an edit having seen the loser as the value replaces it, B first",
		steps: []step{notes(A, "a"), sync(A), sync(B), notes(C, "c"), notes(B, "b"), sync(B), sync(C)},
		open:  map[string]string{"c": "b"},
	}, {
		// A's second note saw B's as the value (a had lost to b) and C's
		// was concurrent: b's entry closes when a2 arrives after c, a's
		// stays, whatever the order.
		name: "the winner of an entry replaced by one who saw it as the value, C first",
		steps: []step{notes(A, "a"), notes(B, "b"), sync(A), sync(B), notes(C, "c"), sync(A),
			notes(A, "a2"), sync(C), sync(A)},
		open: map[string]string{"a": "b", "c": "a2"}, superseded: "b",
	}, {
		name: "the winner of an entry replaced by one who saw it as the value, A first",
		steps: []step{notes(A, "a"), notes(B, "b"), sync(A), sync(B), notes(C, "c"), sync(A),
			notes(A, "a2"), sync(A), sync(C)},
		open: map[string]string{"a": "b", "c": "a2"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t, t.TempDir(), 3)
			defer w.s.Close()
			w.create(A)
			for _, d := range []int{A, B, C} {
				w.sync(d)
			}
			for _, st := range tc.steps {
				if st.field == "" {
					w.sync(st.dev)
				} else {
					w.write(st.dev, st.field, st.value)
				}
			}
			open := map[string]string{}
			var ids []uint64
			superseded := ""
			for _, c := range w.entries(false) {
				switch {
				case c.Kind != record.KindField:
					t.Errorf("unexpected entry %+v", c)
				case c.Resolution == "":
					open[c.Loser.Value.Text] = c.Winner.Value.Text
					ids = append(ids, c.LogID)
				case c.Resolution == Superseded && superseded == "":
					superseded = c.Loser.Value.Text
				default:
					t.Errorf("entry %+v closed", c)
				}
			}
			if !maps.Equal(open, tc.open) || superseded != tc.superseded {
				t.Fatalf("open entries (loser: winner) %v, superseded %q; want %v, %q", open, superseded,
					tc.open, tc.superseded)
			}
			// Every open entry can be taken back: taking one loser is a
			// server write that saw the winner as the value, not the others.
			for _, id := range ids {
				if _, err := w.s.ResolveConflict(context.Background(), id, "take_loser", "staff"); err != nil {
					t.Errorf("take_loser %d: %v", id, err)
				}
			}
		})
	}
}

// histWrite is one write of the property test's history: the field ("" for
// a delete), its dot and what its writer had seen (its version then).
type histWrite struct {
	field string
	dot   vv.Dot
	seen  vv.VV
}

// TestTheLogAgreesWhateverTheArrivalOrder runs three devices that edit
// and delete one record and sync at random (one or all of them), then
// sends the same pushes to the server again, under a new id, in other
// orders the pushes allow (arrivalOrder). Every order must end in
// the same state, the state the rule gives, and with open entries that
// describe it truthfully and offer the same losing writes.
func TestTheLogAgreesWhateverTheArrivalOrder(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir, err := os.MkdirTemp("", "supersede")
		if err != nil {
			rt.Fatal(err)
		}
		defer os.RemoveAll(dir)
		w := newWorld(rt, dir, 3)
		defer w.s.Close()
		var hist []histWrite
		w.create(0)
		w.sync(0)
		w.sync(1)
		w.sync(2)
		for i := range rapid.IntRange(1, 14).Draw(rt, "steps") {
			d := rapid.IntRange(0, 2).Draw(rt, "device")
			dev := w.devs[d]
			switch rapid.IntRange(0, 4).Draw(rt, "action") {
			case 0, 1:
				field := rapid.SampledFrom([]string{"notes", "volunteers"}).Draw(rt, "field")
				w.write(d, field, fmt.Sprintf("%s%d", dev.p.Device, i)) // every value its own
				hist = append(hist, histWrite{field, dev.state.Fields[field].Dot, dev.state.Version.Clone()})
			case 2:
				w.del(d)
				hist = append(hist, histWrite{"", dev.state.Tombstone.Dot, dev.state.Tombstone.Context.Clone()})
			case 3:
				w.sync(d)
			case 4:
				// Everyone syncs, d first: the others then write having
				// pulled the merged record (every losing write covered by
				// their versions, only the winners as the values).
				for k := range w.devs {
					w.sync((d + k) % len(w.devs))
				}
			}
		}
		for range 2 {
			for d := range w.devs {
				w.sync(d)
			}
		}
		final := w.server()
		for _, d := range w.devs {
			if !d.state.Equal(final) {
				rt.Fatalf("%s holds %+v, the server %+v", d.p.Device, d.state, final)
			}
		}
		checkLog(rt, w, final, hist, w.id, "as it happened")
		pushes := slices.Clone(w.pushes)
		for k := range 3 {
			order := arrivalOrder(rt, w, pushes, fmt.Sprint("order", k))
			id := uuid.Must(uuid.NewV7()).String()
			for _, i := range order {
				c := pushes[i].change.Clone()
				c.ID = id
				w.push(pushes[i].dev, c)
			}
			w.id = id
			got := w.server()
			got.ID = final.ID
			if !got.Equal(final) {
				rt.Fatalf("order %v ends in %+v, the first order in %+v", order, got, final)
			}
			checkLog(rt, w, final, hist, id, fmt.Sprint("order ", order))
		}
	})
}

// arrivalOrder draws an order of pushes the server could have received
// them in: each device's in its order, each after every push it claims to
// have seen, and each push's seen pushes a prefix of the order. A device
// has seen what it pulled, the server's state at one moment, so a push
// that had seen another's write had seen everything that reached the
// server before it; an order in which a device's snapshot never existed
// on the server is not one the same pushes can arrive in.
func arrivalOrder(t *rapid.T, w *world, pushes []sentChange, label string) []int {
	seen := make([][]bool, len(pushes)) // seen[i][j]: push i had seen push j
	for i, p := range pushes {
		seen[i] = make([]bool, len(pushes))
		for j, q := range pushes {
			r := w.devs[q.dev].p.Replica
			seen[i][j] = i != j && p.change.Version[r] >= q.change.Version[r]
		}
	}
	var order []int
	done := make([]bool, len(pushes))
	have := vv.VV{}
	for len(order) < len(pushes) {
		var ready []int
		next := map[int]bool{}
		for i, p := range pushes {
			if done[i] || next[p.dev] {
				continue
			}
			next[p.dev] = true // the device's earliest push not yet sent
			ok := true
			for r, c := range p.change.Version {
				if r != w.devs[p.dev].p.Replica && have[r] < c {
					ok = false
				}
			}
			// Sending i now must not come before a push that another
			// unsent push had seen while i had not been seen by it.
			for k := range pushes {
				if k == i || done[k] || seen[k][i] {
					continue
				}
				for j := range pushes {
					if seen[k][j] && !done[j] {
						ok = false
					}
				}
			}
			if ok {
				ready = append(ready, i)
			}
		}
		if len(ready) == 0 {
			t.Fatalf("%s: no push can arrive after %v", label, order)
		}
		i := rapid.SampledFrom(ready).Draw(t, label)
		done[i] = true
		order = append(order, i)
		have = have.Merge(pushes[i].change.Version)
	}
	return order
}

// checkLog checks the open entries of record id against the final state
// and the history of writes. The rule, with every write's value its own:
//   - a write of a field is replaced when another write of that field had
//     seen it; the field holds the greatest (by dot) write not replaced;
//   - the record is deleted when it has a tombstone and every field's
//     write is one some delete had seen;
//   - the open field entries are exactly the writes not the field's value,
//     seen by no delete and that no other write of the field had seen as
//     the field's value (the Join winner among the writes its writer had
//     seen): what staff could still want. Having seen a write is not
//     enough (a device that pulled the merged record has seen the loser
//     too). Each names as winner the field's value or a write later
//     replaced or itself logged as a loser;
//   - the open delete_vs_edit entries name exactly the edits that keep
//     the record alive (no delete saw them) made without seeing every
//     delete.
func checkLog(t *rapid.T, w *world, final *record.Record, hist []histWrite, id, label string) {
	deletes := vv.VV{}
	for _, h := range hist {
		if h.field == "" {
			deletes = deletes.Merge(h.seen)
		}
	}
	replaced := func(h histWrite) bool {
		for _, o := range hist {
			if o.field == h.field && !o.dot.Same(h.dot) && o.seen.Covers(h.dot) {
				return true
			}
		}
		return false
	}
	// current is what a writer that had seen seen took as field's value
	// before its own write self: the Join winner among the other writes
	// of the field it had seen (those no other of them had seen, then the
	// greatest dot).
	current := func(field string, seen vv.VV, self vv.Dot) (vv.Dot, bool) {
		var past []histWrite
		for _, o := range hist {
			if o.field == field && !o.dot.Same(self) && seen.Covers(o.dot) {
				past = append(past, o)
			}
		}
		var win vv.Dot
		found := false
		for _, o := range past {
			if slices.ContainsFunc(past, func(p histWrite) bool { return !p.dot.Same(o.dot) && p.seen.Covers(o.dot) }) {
				continue
			}
			if !found || win.Less(o.dot) {
				win, found = o.dot, true
			}
		}
		return win, found
	}
	replacedAsValue := func(h histWrite) bool {
		for _, o := range hist {
			if o.field != h.field || o.dot.Same(h.dot) {
				continue
			}
			if cur, ok := current(o.field, o.seen, o.dot); ok && cur.Same(h.dot) {
				return true
			}
		}
		return false
	}
	wantLost := map[vv.Dot]bool{}
	for _, h := range hist {
		if h.field == "" {
			continue
		}
		f := final.Fields[h.field]
		if !replaced(h) && f.Dot.Less(h.dot) {
			t.Fatalf("%s: %s holds %v, but %v is greater and was not replaced", label, h.field, f.Dot, h.dot)
		}
		if !f.Dot.Same(h.dot) && !deletes.Covers(h.dot) && !replacedAsValue(h) {
			wantLost[h.dot] = true
		}
	}
	alive := final.Tombstone == nil
	keeping := map[vv.Dot]bool{} // edits that keep the record against a delete they had not seen
	for _, f := range final.Fields {
		if final.Tombstone == nil || !deletes.Covers(f.Dot) {
			alive = true
		}
		for _, h := range hist {
			if h.dot.Same(f.Dot) && final.Tombstone != nil && !deletes.Covers(f.Dot) &&
				deletes.Compare(h.seen) != vv.Before && deletes.Compare(h.seen) != vv.Equal {
				keeping[vv.Dot{Replica: f.Dot.Replica, Counter: f.Dot.Counter}] = true
			}
		}
	}
	if final.Tombstone != nil && final.Tombstone.Context.Compare(deletes) != vv.Equal {
		t.Fatalf("%s: tombstone context %v, the deletes had seen %v", label, final.Tombstone.Context, deletes)
	}
	if final.Deleted() == alive {
		t.Fatalf("%s: deleted %v, the rule says alive %v", label, final.Deleted(), alive)
	}
	gotLost := map[vv.Dot]bool{}
	everLost := map[vv.Dot]bool{}
	dve := map[vv.Dot]bool{}
	var open []LoggedConflict
	for _, c := range w.entries(false) {
		if c.ID != id || c.Kind != record.KindField && c.Kind != record.KindDeleteVsEdit {
			continue // the replays under new ids are duplicate sessions of each other
		}
		if c.Kind == record.KindField {
			everLost[c.Loser.Dot] = true
		}
		if c.Resolution == "" {
			open = append(open, c)
		}
	}
	for _, c := range open {
		switch c.Kind {
		case record.KindDeleteVsEdit:
			dve[vv.Dot{Replica: c.Winner.Dot.Replica, Counter: c.Winner.Dot.Counter}] = true
		case record.KindField:
			if gotLost[c.Loser.Dot] {
				t.Errorf("%s: %v is offered twice", label, c.Loser.Dot)
			}
			gotLost[c.Loser.Dot] = true
			win := histWrite{field: c.Field, dot: c.Winner.Dot}
			if !final.Fields[c.Field].Dot.Same(c.Winner.Dot) && !replaced(win) && !everLost[c.Winner.Dot] {
				t.Errorf("%s: entry %d names winner %v, neither the value nor replaced nor lost", label, c.LogID, c.Winner.Dot)
			}
		default:
			t.Errorf("%s: unexpected entry %+v", label, c)
		}
	}
	if !maps.Equal(dve, keeping) {
		t.Errorf("%s: open delete_vs_edit entries for edits %v, want %v (deleted %v): %+v", label,
			slices.Collect(maps.Keys(dve)), slices.Collect(maps.Keys(keeping)), final.Deleted(), open)
	}
	if !maps.Equal(gotLost, wantLost) {
		t.Errorf("%s: open entries offer %v, want %v: %+v", label, slices.Collect(maps.Keys(gotLost)),
			slices.Collect(maps.Keys(wantLost)), open)
	}
}

// BenchmarkPushEdits pushes batches of edits of existing sessions: the
// push path reads each record's open entries once more (supersede).
func BenchmarkPushEdits(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(b), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	code, _ := s.CodeFor(ctx, "u", Staff, nil)
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		b.Fatal(err)
	}
	const n = 1000
	recs := make([]*record.Record, n)
	for i := range recs {
		recs[i] = session(p.Replica, 1+i%28)
		recs[i].Fields["class_group"] = record.Field{Value: schema.TextValue(fmt.Sprint("g", i)),
			Dot: recs[i].Fields["village"].Dot}
	}
	if _, err := s.Push(ctx, p, recs); err != nil {
		b.Fatal(err)
	}
	hlc := s.Clock().Now()
	b.ResetTimer()
	for i := range b.N {
		changes := make([]*record.Record, n)
		for j, r := range recs {
			k := r.Version.Bump(p.Replica)
			hlc++
			changes[j] = &record.Record{Table: r.Table, ID: r.ID, Version: r.Version.Clone(),
				Fields: map[string]record.Field{"notes": {Value: schema.TextValue(fmt.Sprint(i)),
					Dot: vv.Dot{Replica: p.Replica, Counter: k, HLC: hlc}}}}
		}
		if _, err := s.Push(ctx, p, changes); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/change")
}
