package report_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// loansStore is a server holding three loans of one children's book in
// 南香村, lent and returned around the summer of 2024.
func loansStore(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	srv := replicatest.Start(t, nil)
	st := srv.Store
	dev := srv.Device(t, "d", store.Staff, nil, replica.Options{})
	put := func(table string, kv ...any) string {
		vals, err := schema.Fields(kv...)
		if err != nil {
			t.Fatal(err)
		}
		id, err := dev.Put(ctx, table, "", vals)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	book := put("books", "village", "南香村", "library", "children", "title", "西游记")
	loan := func(lent, due string, returned any) {
		put("loans", "village", "南香村", "book_id", book, "borrower_card", "C-"+lent,
			"lent_on", lent, "due_on", due, "returned_on", returned)
	}
	loan("2024-06-10", "2024-06-24", nil)          // out all summer, overdue from June
	loan("2024-07-30", "2024-08-10", "2024-08-12") // out at the end of July, not yet due
	loan("2024-08-01", "2024-08-20", nil)          // due after mid-August
	put("tutoring_sessions", "village", "南香村", "session_date", "2024-06-03",
		"volunteers", " 王芳 ，李雷、王芳,, ", "children_present", 9)
	if _, err := dev.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	return st
}

type openOverdue struct{ open, overdue int64 }

func children(r report.Row) openOverdue {
	for _, l := range r.Loans {
		if l.Library == "children" {
			return openOverdue{l.Open, l.Overdue}
		}
	}
	return openOverdue{-1, -1}
}

// Open and overdue are states at each month's end — today's date for the
// current month — and a total holds them at the end of the period. Months
// and today are China time.
func TestOpenAndOverdueByMonth(t *testing.T) {
	st := loansStore(t)
	cst := report.Zone
	for _, tc := range []struct {
		name       string
		now        time.Time
		from, to   string
		wantPeriod [2]string
		months     map[string]openOverdue // 南香村's rows
		total      openOverdue
	}{
		{"mid-August: the third loan is not due yet", time.Date(2024, 8, 15, 10, 0, 0, 0, cst), "", "",
			[2]string{"2024-06", "2024-08"},
			map[string]openOverdue{"2024-06": {1, 1}, "2024-07": {2, 1}, "2024-08": {2, 1}}, openOverdue{2, 1}},
		{"late August: both open loans overdue", time.Date(2024, 8, 25, 10, 0, 0, 0, cst), "", "",
			[2]string{"2024-06", "2024-08"},
			map[string]openOverdue{"2024-06": {1, 1}, "2024-07": {2, 1}, "2024-08": {2, 2}}, openOverdue{2, 2}},
		{"August 31 20:00 UTC is September in the villages", time.Date(2024, 8, 31, 20, 0, 0, 0, time.UTC), "", "",
			[2]string{"2024-06", "2024-09"},
			map[string]openOverdue{"2024-06": {1, 1}, "2024-07": {2, 1}, "2024-08": {2, 2}, "2024-09": {2, 2}},
			openOverdue{2, 2}},
		{"a period ending in July holds July's state", time.Date(2024, 12, 1, 0, 0, 0, 0, cst), "2024-07", "2024-07",
			[2]string{"2024-07", "2024-07"},
			map[string]openOverdue{"2024-07": {2, 1}}, openOverdue{2, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := report.Build(context.Background(), st, report.Request{FromMonth: tc.from, ToMonth: tc.to, Now: tc.now})
			if err != nil {
				t.Fatal(err)
			}
			if got := [2]string{rep.FromMonth, rep.ToMonth}; got != tc.wantPeriod {
				t.Errorf("period %v, want %v", got, tc.wantPeriod)
			}
			got := map[string]openOverdue{}
			for _, r := range rep.Rows {
				if r.Village != "南香村" {
					t.Errorf("row of %s", r.Village)
				}
				got[r.Month] = children(r)
			}
			if len(got) != len(tc.months) {
				t.Errorf("months %v, want %v", got, tc.months)
			}
			for m, w := range tc.months {
				if got[m] != w {
					t.Errorf("%s: open, overdue %v, want %v", m, got[m], w)
				}
			}
			if g := children(rep.Total); g != tc.total {
				t.Errorf("total open, overdue %v, want %v", g, tc.total)
			}
			for _, r := range rep.Rows {
				current := r.Month == tc.now.In(cst).Format("2006-01")
				if r.FirstReportedAt.IsZero() != current {
					t.Errorf("%s: first reported %v (current month: %v)", r.Month, r.FirstReportedAt, current)
				}
			}
		})
	}
}

func TestVolunteersAreDistinctTrimmedNames(t *testing.T) {
	st := loansStore(t)
	rep, err := report.Build(context.Background(), st,
		report.Request{FromMonth: "2024-06", ToMonth: "2024-06", Villages: []string{"NANXIANG"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rows) != 1 || rep.Rows[0].Tutoring != (report.Tutoring{Sessions: 1, StudentAttendances: 9, Volunteers: 2}) {
		t.Errorf("rows %+v", rep.Rows)
	}
	if len(rep.VillageTotals) != 1 || rep.VillageTotals[0].VillagePinyin != "Nanxiang" {
		t.Errorf("village totals %+v", rep.VillageTotals)
	}
}

func TestBadRequests(t *testing.T) {
	st := loansStore(t)
	for _, tc := range []struct {
		req   report.Request
		field string
	}{
		{report.Request{FromMonth: "2024-00"}, "from_month"},
		{report.Request{ToMonth: "2024-13"}, "to_month"},
		{report.Request{FromMonth: "2024-02", ToMonth: "2024-01"}, "to_month"},
		{report.Request{Villages: []string{"东旺村", "北京"}}, "villages"},
	} {
		_, err := report.Build(context.Background(), st, tc.req)
		var p *record.Problem
		if !errors.As(err, &p) || p.Field != tc.field || p.Code != record.CodeInvalidArgument {
			t.Errorf("%+v: %v, want a problem with %s", tc.req, err, tc.field)
		}
	}
}

// Quantities add up exactly: 0.1 km and 0.2 km of road are 0.3 km, not
// 0.30000000000000004.
func TestQuantitiesAddUpExactly(t *testing.T) {
	srv := replicatest.Start(t, nil)
	dev := srv.Device(t, "d", store.Staff, nil, replica.Options{})
	for _, q := range []float64{0.1, 0.2} {
		vals, _ := schema.Fields("village", "东旺村", "kind", "road_levelling", "status", "done", "quantity", q, "unit", "km",
			"reported_at", "2024-06-01T08:00:00+08:00", "finished_at", "2024-06-02T08:00:00+08:00")
		if _, err := dev.Put(context.Background(), "cleanup_tasks", "", vals); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := dev.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	rep, err := report.Build(context.Background(), srv.Store, report.Request{FromMonth: "2024-06", ToMonth: "2024-06"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Total.Cleanup {
		if c.Kind == "road_levelling" {
			if len(c.Quantities) != 1 || c.Quantities[0].Amount != 0.3 {
				t.Errorf("road levelled: %+v, want 0.3 km", c.Quantities)
			}
			return
		}
	}
	t.Error("no road_levelling figures")
}
