package report_test

import (
	"context"
	"database/sql"
	"reflect"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/report"
)

// snapshotSource serves a fixed snapshot and remembers nothing.
type snapshotSource struct{ snap *report.Snapshot }

func (s snapshotSource) ReportSnapshot(context.Context) (*report.Snapshot, error) { return s.snap, nil }

func (s snapshotSource) NoteReportedMonths(_ context.Context, _ uint64, digests map[report.MonthKey]string,
	_ time.Time) (map[report.MonthKey]report.ReportedMonth, error) {
	return map[report.MonthKey]report.ReportedMonth{}, nil
}

func (s snapshotSource) ReportedMonths(context.Context, []report.MonthKey) (map[report.MonthKey]report.ReportedMonth, error) {
	return map[report.MonthKey]report.ReportedMonth{}, nil
}

// A row shows the open flags on the records it counts; a village's total
// and the grand total count each entry once, however many of its records
// they count; a caller limited to some villages sees only theirs.
func TestOpenFlagsByRow(t *testing.T) {
	open := func(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }
	snap := &report.Snapshot{
		Seq:      9,
		Villages: schema.Seeded(),
		Sessions: []report.Session{
			{ID: "s1", Village: "南香村", Date: "2024-03-05", Children: 20},
			{ID: "s2", Village: "南香村", Date: "2024-04-02", Children: 20},
			{ID: "s3", Village: "东旺村", Date: "2024-03-05", Children: 20},
		},
		// One copy lent twice, in March and in April; both still out.
		Loans: []report.Loan{
			{ID: "l1", Village: "东旺村", Library: "children", Card: "C-1", Lent: "2024-03-20", Due: open("2024-04-03")},
			{ID: "l2", Village: "东旺村", Library: "children", Card: "C-2", Lent: "2024-04-01", Due: open("2024-04-15")},
		},
		Flags: []report.Flag{
			{ID: 7, Kind: "duplicate_session", Table: "tutoring_sessions", Members: []string{"s1", "s1-copy"}},
			{ID: 8, Kind: "double_loan", Table: "loans", Members: []string{"l1", "l2"}},
		},
		Open: []report.OpenInVillage{{Kind: "double_loan", Village: "东旺村", Count: 1},
			{Kind: "duplicate_session", Village: "南香村", Count: 1}, {Kind: "field", Village: "", Count: 2}},
	}
	now := time.Date(2024, 4, 30, 12, 0, 0, 0, report.Zone)
	rep, err := report.Build(context.Background(), snapshotSource{snap},
		report.Request{FromMonth: "2024-03", ToMonth: "2024-04", Now: now})
	if err != nil {
		t.Fatal(err)
	}
	dup := report.OpenConflictCounts{{Kind: "duplicate_session", Count: 1}}
	loan := report.OpenConflictCounts{{Kind: "double_loan", Count: 1}}
	want := []report.RowFlags{
		{Village: "东旺村", Month: "2024-03", Flags: loan}, // l1 lent, and open at the month's end
		{Village: "东旺村", Month: "2024-04", Flags: loan},
		{Village: "南香村", Month: "2024-03", Flags: dup},
		{Village: "东旺村", Month: "", Flags: loan},
		{Village: "南香村", Month: "", Flags: dup},
		{Village: "", Month: "", Flags: report.OpenConflictCounts{{Kind: "double_loan", Count: 1},
			{Kind: "duplicate_session", Count: 1}}},
	}
	if !reflect.DeepEqual(rep.Freshness.OpenFlags, want) {
		t.Errorf("open flags:\n got %+v\nwant %+v", rep.Freshness.OpenFlags, want)
	}
	if got := rep.Freshness.OpenConflicts; !reflect.DeepEqual(got, report.OpenConflictCounts{
		{Kind: "double_loan", Count: 1}, {Kind: "duplicate_session", Count: 1}, {Kind: "field", Count: 2}}) {
		t.Errorf("open conflicts %v", got)
	}

	mine, err := report.Build(context.Background(), snapshotSource{snap},
		report.Request{FromMonth: "2024-03", ToMonth: "2024-04", Now: now, Scope: []string{"南香村"}})
	if err != nil {
		t.Fatal(err)
	}
	if want := []report.RowFlags{{Village: "南香村", Month: "2024-03", Flags: dup}, {Village: "南香村", Flags: dup},
		{Flags: dup}}; !reflect.DeepEqual(mine.Freshness.OpenFlags, want) {
		t.Errorf("a 南香村 volunteer's flags:\n got %+v\nwant %+v", mine.Freshness.OpenFlags, want)
	}
	if !reflect.DeepEqual(mine.Freshness.OpenConflicts, dup) {
		t.Errorf("a 南香村 volunteer's open conflicts: %v", mine.Freshness.OpenConflicts)
	}
	if len(mine.VillageTotals) != 1 || mine.Total.Tutoring.Sessions != 2 {
		t.Errorf("a 南香村 volunteer's totals: %+v, total %+v", mine.VillageTotals, mine.Total.Tutoring)
	}
}
