package store

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// enrollAs enrolls a device for a new user of role (and villages).
func enrollAs(t *testing.T, s *Store, user string, role Role, villages ...string) Principal {
	t.Helper()
	ctx := context.Background()
	code, err := s.CodeFor(ctx, user, role, villages)
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Enroll(ctx, code, user+"'s phone")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// bookWith is a new book of village written by replica, with notes.
func bookWith(replica uint32, village, notes string) *record.Record {
	r := book(replica, "小王子")
	r.Fields["village"] = record.Field{Value: schema.TextValue(village), Dot: r.Fields["title"].Dot}
	if notes != "" {
		r.Fields["notes"] = record.Field{Value: schema.TextValue(notes), Dot: r.Fields["title"].Dot}
	}
	return r
}

// heldSize is the bytes of refused changes held (their JSON and message)
// and the database file's size after a checkpoint.
func heldSize(t *testing.T, s *Store, file string) (held, db int64) {
	t.Helper()
	if err := s.Reader().QueryRow(`SELECT COALESCE(sum(octet_length(change) +
		octet_length(message)), 0) FROM held_changes`).Scan(&held); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	return held, st.Size()
}

// The scenario: two pushes of a 7 MiB notes field (refused for
// its length) and a coordinator's write. What is held of each is bounded:
// the start of the change, marked as cut; a summary of the coordinator's.
func TestHeldChangesAreBounded(t *testing.T) {
	sqliteOnly(t, "the size of the database file")
	ctx := context.Background()
	file := testDSN(t)
	s, _ := openWithAdmin(t, file)
	defer s.Close()
	vol := enrollAs(t, s, "王芳", Volunteer, "南香村")
	coord := enrollAs(t, s, "李主任", Coordinator)

	heldBefore, dbBefore := heldSize(t, s, file)
	huge := strings.Repeat("<", 7<<20) // JSON would escape each as \u003c
	for range 2 {
		res, err := s.Push(ctx, vol, []*record.Record{bookWith(vol.Replica, "南香村", huge)})
		if err != nil || res[0].Outcome != record.Rejected || res[0].Problem.Code != record.CodeInvalidArgument {
			t.Fatalf("7 MiB notes: %+v %v, want invalid_argument", res, err)
		}
	}
	secret := "coordinator's value"
	res, err := s.Push(ctx, coord, []*record.Record{bookWith(coord.Replica, "南香村", secret)})
	if err != nil || res[0].Outcome != record.Rejected || res[0].Problem.Code != record.CodePermissionDenied {
		t.Fatalf("coordinator's write: %+v %v, want permission_denied", res, err)
	}
	heldAfter, dbAfter := heldSize(t, s, file)
	t.Logf("held_changes: %d -> %d bytes (+%d); database file: %d -> %d bytes (+%d)",
		heldBefore, heldAfter, heldAfter-heldBefore, dbBefore, dbAfter, dbAfter-dbBefore)
	if grown := dbAfter - dbBefore; grown > 256<<10 {
		t.Errorf("two 7 MiB refusals and a coordinator's grew the database by %d bytes, want under 256 KiB", grown)
	}

	rows, err := s.Reader().Query(`SELECT replica, change, bytes, octet_length(tbl) +
		octet_length(record_id) + octet_length(message) FROM held_changes ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var replica uint32
		var change string
		var bytes, keys int
		if err := rows.Scan(&replica, &change, &bytes, &keys); err != nil {
			t.Fatal(err)
		}
		n++
		// Everything the row stores counts against the cap.
		if bytes != len(change)+keys {
			t.Errorf("held change noted as %d bytes, is %d", bytes, len(change)+keys)
		}
		switch replica {
		case vol.Replica:
			if len(change) > heldChangeBytes+100 || !strings.Contains(change, "[cut: the first") ||
				!strings.HasPrefix(change, `{"table":"books"`) || !strings.Contains(change, "<<<<") {
				t.Errorf("held 7 MiB change: %d bytes, %.60q...%q; want its start, cut and marked",
					len(change), change, change[max(0, len(change)-60):])
			}
		case coord.Replica:
			if strings.Contains(change, secret) || !strings.Contains(change, `"notes"`) {
				t.Errorf("held coordinator's change %s: want a summary naming its fields, not its values", change)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d changes held, want all 3 refusals", n)
	}

	// A refused change that fits is held whole, as the device pushed it.
	notes := strings.Repeat("旺", 2000)
	res, err = s.Push(ctx, vol, []*record.Record{bookWith(vol.Replica, "东旺村", notes)})
	if err != nil || res[0].Outcome != record.Rejected {
		t.Fatal(res, err)
	}
	var change string
	if err := s.Reader().QueryRow(`SELECT change FROM held_changes ORDER BY id DESC LIMIT 1`).
		Scan(&change); err != nil || !strings.Contains(change, notes) || strings.Contains(change, "[cut:") {
		t.Errorf("a refused change of 2,000 characters of notes was not held whole: %.80q (%v)", change, err)
	}
}

// Past the cap of what one device may have held (in rows or in bytes), a
// change that would need holding is refused with resource_exhausted,
// naming the cap, and not held; an acceptable change beside it applies.
// Another device is not affected.
func TestHeldChangesCappedPerDevice(t *testing.T) {
	huge := strings.Repeat("x", 1<<20)
	for _, tc := range []struct {
		name  string
		cap   heldLimits
		held  int                                 // refusals held before the cap
		first func(replica uint32) *record.Record // refused and held
		want  string                              // in the resource_exhausted message
	}{
		{"rows", heldLimits{rows: 3, bytes: 1 << 20}, 3,
			func(r uint32) *record.Record { return bookWith(r, "东旺村", "") },
			"this device has 3 refused changes (1 KiB) held on the server, the limit is 3 refused changes (1 MiB): ask staff to review them"},
		{"bytes", heldLimits{rows: 100, bytes: 2 * heldChangeBytes}, 1,
			func(r uint32) *record.Record { return bookWith(r, "南香村", huge) },
			"this device has 1 refused change (33 KiB) held on the server, the limit is 100 refused changes (64 KiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, _ := openWithAdmin(t, testDSN(t))
			defer s.Close()
			s.heldCap = tc.cap
			vol := enrollAs(t, s, "王芳", Volunteer, "南香村")
			other := enrollAs(t, s, "张伟", Volunteer, "南香村")
			for i := range tc.held {
				res, err := s.Push(ctx, vol, []*record.Record{tc.first(vol.Replica)})
				if err != nil || res[0].Outcome != record.Rejected || res[0].Problem.Code == CodeResourceExhausted {
					t.Fatalf("refusal %d: %+v %v, want it refused and held", i, res, err)
				}
			}
			refused, ok := tc.first(vol.Replica), bookWith(vol.Replica, "南香村", "")
			res, err := s.Push(ctx, vol, []*record.Record{refused, ok})
			if err != nil {
				t.Fatal(err)
			}
			if p := res[0].Problem; res[0].Outcome != record.Rejected || p == nil || p.Code != CodeResourceExhausted ||
				!strings.Contains(p.Msg, tc.want) || p.Field != "books.id" {
				t.Errorf("change past the cap: %+v, want resource_exhausted on books.id saying %q", res[0], tc.want)
			} else {
				t.Logf("%s", p.Error())
			}
			if res[1].Outcome != record.Applied {
				t.Errorf("the acceptable change beside it: %v, want applied", res[1].Outcome)
			}
			var held, heldOther int
			s.Reader().QueryRow(`SELECT count(*) FROM held_changes WHERE replica = ?`, vol.Replica).Scan(&held)
			if held != tc.held {
				t.Errorf("%d changes held, want the %d under the cap", held, tc.held)
			}
			res, err = s.Push(ctx, other, []*record.Record{tc.first(other.Replica)})
			if err != nil || res[0].Outcome != record.Rejected || res[0].Problem.Code == CodeResourceExhausted {
				t.Errorf("another device's refusal: %+v %v, want it held", res, err)
			}
			s.Reader().QueryRow(`SELECT count(*) FROM held_changes WHERE replica = ?`, other.Replica).Scan(&heldOther)
			if heldOther != 1 {
				t.Errorf("another device has %d held, want 1", heldOther)
			}
		})
	}
}

// Refusals for records outside a volunteer's villages read alike whether
// the record exists or not (same code, field and message), name no
// village she did not name herself, and hand back no state. A delete of a
// record the server does not have, naming no village, is one of them.
func TestRefusalsOutsideScopeReadAlike(t *testing.T) {
	ctx := context.Background()
	s, admin := openWithAdmin(t, testDSN(t))
	defer s.Close()
	vol := enrollAs(t, s, "王芳", Volunteer, "南香村")
	stf := enrollAs(t, s, "陈静", Staff)
	theirs := bookWith(admin.Replica, "东旺村", "")
	if res, err := s.Push(ctx, admin, []*record.Record{theirs}); err != nil || res[0].Outcome != record.Applied {
		t.Fatal(res, err)
	}
	mine := bookWith(vol.Replica, "南香村", "")
	if res, err := s.Push(ctx, vol, []*record.Record{mine}); err != nil || res[0].Outcome != record.Applied {
		t.Fatal(res, err)
	}
	counter := uint64(1)
	change := func(p Principal, id string, fields map[string]string, del bool) *record.Record {
		counter++
		d := vv.Dot{Replica: p.Replica, Counter: counter, HLC: s.Clock().Now()}
		r := &record.Record{Table: "books", ID: id, Version: vv.VV{p.Replica: counter}, Fields: map[string]record.Field{}}
		for name, v := range fields {
			r.Fields[name] = record.Field{Value: schema.TextValue(v), Dot: d}
		}
		if del {
			r.Tombstone = &record.Tombstone{Dot: d, Context: r.Version.Clone()}
		}
		return r
	}
	push := func(p Principal, c *record.Record) protocol.Result {
		t.Helper()
		res, err := s.Push(ctx, p, []*record.Record{c})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	unknown := func() string { return uuid.Must(uuid.NewV7()).String() }
	title := map[string]string{"title": "改"}

	var first string
	for _, tc := range []struct {
		name string
		c    *record.Record
	}{
		{"an edit of another village's record", change(vol, theirs.ID, title, false)},
		{"an edit of an unknown id", change(vol, unknown(), title, false)},
		{"a delete of another village's record", change(vol, theirs.ID, nil, true)},
		{"a delete of an unknown id", change(vol, unknown(), nil, true)},
		{"a deleted new record without a village", change(vol, unknown(), title, true)},
		{"a move of another village's record into hers", change(vol, theirs.ID, map[string]string{"village": "南香村"},
			false)},
	} {
		r := push(vol, tc.c)
		got := "<nil>"
		if r.Problem != nil {
			got = fmt.Sprintf("%s %s", r.Problem.Code, r.Problem.Error())
		}
		if first == "" {
			first = got
		}
		if r.Outcome != record.Rejected || got != first || r.Current != nil || strings.Contains(got, "东旺村") ||
			!strings.HasPrefix(got, "permission_denied books.village: ") {
			t.Errorf("%s: %v %q (current %v); want the refusal all of them get: %q", tc.name, r.Outcome, got,
				r.Current != nil, first)
		}
	}
	t.Logf("%s", first)

	// What she may do still goes: delete her own record (the server knows
	// its village); staff delete an id the server does not have (nothing
	// to do); and a village she names is named back.
	if r := push(vol, change(vol, mine.ID, nil, true)); r.Outcome != record.Applied {
		t.Errorf("her delete of her own record: %v %v", r.Outcome, r.Problem)
	}
	if r := push(stf, change(stf, unknown(), nil, true)); r.Outcome != record.AlreadyHad {
		t.Errorf("staff's delete of an unknown id: %v %v, want already had", r.Outcome, r.Problem)
	}
	for _, id := range []string{theirs.ID, unknown()} {
		r := push(vol, change(vol, id, map[string]string{"village": "东旺村", "title": "x", "library": "children"}, false))
		if r.Problem == nil || !strings.Contains(r.Problem.Msg, "东旺村 is not one of your villages") {
			t.Errorf("a change naming 东旺村: %+v", r)
		}
	}
}

// A change refused for its table or id keeps only the first bytes of
// either, and everything a held row stores counts against the cap; past
// the cap one audit line stands for the push's further refusals.
func TestHeldKeysAndAuditAreBounded(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	p := enrollAs(t, s, "王芳", Volunteer, "南香村")
	huge := strings.Repeat("x", 1<<20)
	var batch []*record.Record
	for i := range 3 {
		badTable := bookWith(p.Replica, "南香村", "")
		badTable.Table = huge + fmt.Sprint(i)
		badID := bookWith(p.Replica, "南香村", "")
		badID.ID = huge + fmt.Sprint(i)
		batch = append(batch, badTable, badID)
	}
	if _, err := s.Push(ctx, p, batch); err != nil {
		t.Fatal(err)
	}
	var stored, counted int64
	if err := s.Reader().QueryRow(`SELECT COALESCE(sum(length(tbl) + length(record_id) + length(message) +
		octet_length(change)), 0), COALESCE(sum(bytes), 0) FROM held_changes`).Scan(&stored, &counted); err != nil {
		t.Fatal(err)
	}
	if stored > 6*(heldChangeBytes+heldMessageBytes+2*heldKeyBytes+200) || counted < stored {
		t.Errorf("six refusals with 1 MiB tables or ids hold %d bytes and count %d", stored, counted)
	}
	var audited int64
	if err := s.Reader().QueryRow(`SELECT COALESCE(sum(length(tbl) + length(record_id) + length(detail)), 0)
		FROM audit`).Scan(&audited); err != nil {
		t.Fatal(err)
	}
	if audited > 6*(heldMessageBytes+2*heldKeyBytes+200) {
		t.Errorf("their audit lines hold %d bytes", audited)
	}

	// Past the cap, one audit line for a push of many refusals.
	s.heldCap = heldLimits{rows: 1, bytes: 10 << 20}
	var refused []*record.Record
	for range 50 {
		r := bookWith(p.Replica, "东旺村", "")
		refused = append(refused, r)
	}
	before := countRows(t, s, "audit")
	res, err := s.Push(ctx, p, refused)
	if err != nil {
		t.Fatal(err)
	}
	if res[49].Problem == nil || res[49].Problem.Code != CodeResourceExhausted {
		t.Fatalf("past the cap: %+v", res[49])
	}
	if n := countRows(t, s, "audit") - before; n != 1 {
		t.Errorf("50 refusals past the cap wrote %d audit lines, want one", n)
	}
}

func countRows(t *testing.T, s *Store, table string) int64 {
	t.Helper()
	var n int64
	if err := s.Reader().QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
