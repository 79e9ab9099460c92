package store

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wantProblem checks err is an invalid_argument naming field.
func wantProblem(t *testing.T, what string, err error, field string) {
	t.Helper()
	var p *record.Problem
	if !errors.As(err, &p) || p.Code != record.CodeInvalidArgument || p.Field != field ||
		!strings.Contains(p.Msg, "control character") {
		t.Errorf("%s: %v, want invalid_argument naming %s", what, err, field)
	}
}

// Names staff tools print (devices, users, villages) may not carry
// control characters: an escape sequence in one would drive a terminal.
func TestNamesRefuseControlCharacters(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	const red = "\x1b[31mred"
	_, err := s.Register(ctx, red)
	wantProblem(t, "Register", err, "name")
	wantProblem(t, "CreateUser", s.CreateUser(ctx, "王\x1b]0;x\x07芳", Staff, nil), "name")
	code, err := s.CodeFor(ctx, "王芳", Staff, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.Enroll(ctx, code, red)
	wantProblem(t, "Enroll", err, "device_name")
	if _, _, err := s.Enroll(ctx, code, "王芳的手机"); err != nil {
		t.Errorf("the code was spent by the refused enrollment: %v", err)
	}
	for _, tc := range []struct {
		name, pinyin string
		aliases      []string
		field        string
	}{
		{"新\x1b[2J村", "Xincun", nil, "name"},
		{"新村", "Xin\u009bcun", nil, "pinyin"},
		{"新村", "Xincun", []string{"新邨", "\u202e村新"}, "aliases"},
	} {
		_, err := s.AddVillage(ctx, tc.name, tc.pinyin, tc.aliases)
		wantProblem(t, "AddVillage "+tc.field, err, tc.field)
	}
	if _, err := s.AddVillage(ctx, "新村", "Xincun", []string{"a,b"}); err == nil ||
		!strings.Contains(err.Error(), "aliases: \"a,b\" holds a comma") {
		t.Errorf("an alias with a comma: %v", err)
	}
	if _, err := s.AddVillage(ctx, "新村", "Xincun", []string{"新邨"}); err != nil {
		t.Errorf("a plain village: %v", err)
	}
}

func loanOf(replica uint32, counter uint64, fields map[string]string) *record.Record {
	d := vv.Dot{Replica: replica, Counter: counter, HLC: counter}
	r := &record.Record{Table: "loans", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{replica: counter},
		Fields: map[string]record.Field{}}
	for k, v := range fields {
		r.Fields[k] = record.Field{Value: schema.TextValue(v), Dot: d}
	}
	return r
}

// A loan due in 9999, due before it was lent, or returned before it was
// lent is refused, naming the field; the rule holds on the merged record,
// so a change carrying the return alone is checked against the lending
// date the server holds.
func TestLoanDatesRefused(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	code, err := s.CodeFor(ctx, "王芳", Volunteer, []string{"南香村"})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]string{"village": "南香村", "book_id": uuid.NewString(), "borrower_card": "NX-1",
		"lent_on": "2024-06-03"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for k, v := range base {
			m[k] = v
		}
		return m
	}
	ok := loanOf(p.Replica, 1, with("due_on", "2024-06-17"))
	res, err := s.Push(ctx, p, []*record.Record{
		loanOf(p.Replica, 1, with("due_on", "9999-12-31")),
		loanOf(p.Replica, 1, with("due_on", "2024-06-01")),
		loanOf(p.Replica, 1, with("returned_on", "2024-06-02")),
		ok,
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"loans.due_on", "loans.due_on", "loans.returned_on"} {
		if res[i].Outcome != record.Rejected || res[i].Problem.Code != record.CodeInvalidArgument ||
			res[i].Problem.Field != want {
			t.Errorf("change %d: %+v, want invalid_argument on %s", i, res[i], want)
		}
	}
	if res[3].Outcome != record.Applied {
		t.Fatalf("the good loan: %+v", res[3])
	}
	ret := &record.Record{Table: "loans", ID: ok.ID, Version: vv.VV{p.Replica: 2},
		Fields: map[string]record.Field{"returned_on": {Value: schema.TextValue("2024-06-01"),
			Dot: vv.Dot{Replica: p.Replica, Counter: 2, HLC: 2}}}}
	res, err = s.Push(ctx, p, []*record.Record{ret})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Outcome != record.Rejected || res[0].Problem.Field != "loans.returned_on" ||
		!strings.Contains(res[0].Problem.Msg, "before lent_on 2024-06-03") {
		t.Errorf("a return before the lending, alone: %+v", res[0])
	}
}

// A loan made under older rules (due two years after it was lent) still
// takes a note and its return: a rule between dates is checked only for a
// change that writes one of them.
func TestLoanMadeUnderOlderRulesTakesItsReturn(t *testing.T) {
	ctx := context.Background()
	s := openTest(t)
	code, err := s.CodeFor(ctx, "王芳", Volunteer, []string{"南香村"})
	if err != nil {
		t.Fatal(err)
	}
	p, _, err := s.Enroll(ctx, code, "phone")
	if err != nil {
		t.Fatal(err)
	}
	old := loanOf(p.Replica, 1, map[string]string{"village": "南香村", "book_id": uuid.NewString(),
		"borrower_card": "NX-1", "lent_on": "2023-01-05", "due_on": "2025-01-05"})
	loans, _ := schema.Lookup("loans")
	// Written as an earlier version accepted it, past today's checks.
	if _, err := s.w.Exec(upsert(loans), sqlite.Args(loans, old, 1, p.Replica)...); err != nil {
		t.Fatal(err)
	}
	edit := func(counter uint64, field, value string) protocol.Result {
		t.Helper()
		c := &record.Record{Table: "loans", ID: old.ID, Version: vv.VV{p.Replica: counter},
			Fields: map[string]record.Field{field: {Value: schema.TextValue(value),
				Dot: vv.Dot{Replica: p.Replica, Counter: counter, HLC: counter}}}}
		res, err := s.Push(ctx, p, []*record.Record{c})
		if err != nil {
			t.Fatal(err)
		}
		return res[0]
	}
	if r := edit(2, "notes", "封面破了"); r.Outcome != record.Applied {
		t.Errorf("a note on a loan due two years out: %+v", r)
	}
	if r := edit(3, "returned_on", "2023-02-01"); r.Outcome != record.Applied {
		t.Errorf("the return of a loan due two years out: %+v", r)
	}
	if r := edit(4, "due_on", "2026-01-05"); r.Outcome != record.Rejected || r.Problem.Field != "loans.due_on" {
		t.Errorf("a new due date three years out: %+v, want refused on loans.due_on", r)
	}
}
