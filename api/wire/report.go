package wire

import (
	"time"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/sync/report"
)

// Report converts a report to the wire (the server's side). Times go as
// Unix milliseconds, a zero one as 0; the generation time always goes.
//
// A row's open flags (the engine keeps them in the freshness, beside the
// figures they may change) ride on the row itself.
func Report(r *report.Report) *v1.GetReportResponse {
	flags := map[report.MonthKey]report.OpenConflictCounts{}
	for _, rf := range r.Freshness.OpenFlags {
		flags[report.MonthKey{Village: rf.Village, Month: rf.Month}] = rf.Flags
	}
	row := func(r report.Row) *v1.ReportRow {
		m := reportRow(r)
		for _, c := range flags[report.MonthKey{Village: r.Village, Month: r.Month}] {
			m.OpenFlags = append(m.OpenFlags, &v1.OpenConflicts{Kind: c.Kind, Count: c.Count})
		}
		return m
	}
	m := &v1.GetReportResponse{FromMonth: r.FromMonth, ToMonth: r.ToMonth, Total: row(r.Total)}
	for _, x := range r.Rows {
		m.Rows = append(m.Rows, row(x))
	}
	for _, x := range r.VillageTotals {
		m.VillageTotals = append(m.VillageTotals, row(x))
	}
	f := &v1.Freshness{GeneratedAtMs: r.Freshness.GeneratedAt.UnixMilli(), FeedSeq: r.Freshness.FeedSeq}
	for _, d := range r.Freshness.Devices {
		f.Devices = append(f.Devices, &v1.DeviceSeen{Replica: d.Replica, Name: d.Name,
			LastSeenMs: optionalMs(d.LastSeen), User: d.User, PulledSeq: d.PulledSeq, Behind: d.Behind,
			RevokedAtMs: optionalMs(d.Revoked)})
	}
	for _, c := range r.Freshness.OpenConflicts {
		f.OpenConflicts = append(f.OpenConflicts, &v1.OpenConflicts{Kind: c.Kind, Count: c.Count})
	}
	m.Freshness = f
	return m
}

func reportRow(r report.Row) *v1.ReportRow {
	m := &v1.ReportRow{
		Village: r.Village, VillagePinyin: r.VillagePinyin, Month: r.Month,
		Tutoring: &v1.TutoringFigures{Sessions: r.Tutoring.Sessions, StudentAttendances: r.Tutoring.StudentAttendances,
			Volunteers: r.Tutoring.Volunteers},
		FirstReportedAtMs: optionalMs(r.FirstReportedAt),
		RevisedAtMs:       optionalMs(r.RevisedAt),
	}
	for _, c := range r.Cleanup {
		cm := &v1.CleanupFigures{Kind: c.Kind, Reported: c.Reported, Done: c.Done, Checked: c.Checked}
		for _, q := range c.Quantities {
			cm.Quantities = append(cm.Quantities, &v1.Quantity{Unit: q.Unit, Amount: q.Amount})
		}
		m.Cleanup = append(m.Cleanup, cm)
	}
	for _, l := range r.Loans {
		m.Loans = append(m.Loans, &v1.LoanFigures{Library: l.Library, Made: l.Made, Returned: l.Returned, Open: l.Open,
			Overdue: l.Overdue, Borrowers: l.Borrowers})
	}
	return m
}

// FromReport reads a report off the wire (the coordinators' side). Times
// are in report.Zone, 0 ms a zero time (the generation time aside, which
// the server always sets), and no slice is nil, so the report's JSON has
// [] where a list is empty.
func FromReport(m *v1.GetReportResponse) *report.Report {
	r := &report.Report{FromMonth: m.GetFromMonth(), ToMonth: m.GetToMonth(), Total: fromReportRow(m.GetTotal()),
		Rows: []report.Row{}, VillageTotals: []report.Row{}}
	var flags []report.RowFlags
	noteFlags := func(row *v1.ReportRow) {
		if len(row.GetOpenFlags()) == 0 {
			return
		}
		rf := report.RowFlags{Village: row.GetVillage(), Month: row.GetMonth(), Flags: report.OpenConflictCounts{}}
		for _, c := range row.GetOpenFlags() {
			rf.Flags = append(rf.Flags, report.OpenConflicts{Kind: c.GetKind(), Count: c.GetCount()})
		}
		flags = append(flags, rf)
	}
	for _, row := range m.GetRows() {
		r.Rows = append(r.Rows, fromReportRow(row))
		noteFlags(row)
	}
	for _, row := range m.GetVillageTotals() {
		r.VillageTotals = append(r.VillageTotals, fromReportRow(row))
		noteFlags(row)
	}
	noteFlags(m.GetTotal())
	f := m.GetFreshness()
	r.Freshness = report.Freshness{GeneratedAt: time.UnixMilli(f.GetGeneratedAtMs()).In(report.Zone),
		FeedSeq: f.GetFeedSeq(), Devices: []report.Device{}, OpenConflicts: report.OpenConflictCounts{},
		OpenFlags: flags}
	for _, d := range f.GetDevices() {
		r.Freshness.Devices = append(r.Freshness.Devices,
			report.Device{Replica: d.GetReplica(), Name: d.GetName(), LastSeen: optionalTime(d.GetLastSeenMs()),
				User: d.GetUser(), PulledSeq: d.GetPulledSeq(), Behind: d.GetBehind(),
				Revoked: optionalTime(d.GetRevokedAtMs())})
	}
	for _, c := range f.GetOpenConflicts() {
		r.Freshness.OpenConflicts = append(r.Freshness.OpenConflicts,
			report.OpenConflicts{Kind: c.GetKind(), Count: c.GetCount()})
	}
	return r
}

func fromReportRow(m *v1.ReportRow) report.Row {
	t := m.GetTutoring()
	r := report.Row{Village: m.GetVillage(), VillagePinyin: m.GetVillagePinyin(), Month: m.GetMonth(),
		FirstReportedAt: optionalTime(m.GetFirstReportedAtMs()), RevisedAt: optionalTime(m.GetRevisedAtMs())}
	r.Tutoring = report.Tutoring{Sessions: t.GetSessions(), StudentAttendances: t.GetStudentAttendances(),
		Volunteers: t.GetVolunteers()}
	r.Cleanup, r.Loans = []report.Cleanup{}, []report.Loans{}
	for _, c := range m.GetCleanup() {
		cl := report.Cleanup{Kind: c.GetKind(), Reported: c.GetReported(), Done: c.GetDone(), Checked: c.GetChecked(),
			Quantities: []report.Quantity{}}
		for _, q := range c.GetQuantities() {
			cl.Quantities = append(cl.Quantities, report.Quantity{Unit: q.GetUnit(), Amount: q.GetAmount()})
		}
		r.Cleanup = append(r.Cleanup, cl)
	}
	for _, l := range m.GetLoans() {
		r.Loans = append(r.Loans, report.Loans{Library: l.GetLibrary(), Made: l.GetMade(), Returned: l.GetReturned(),
			Open: l.GetOpen(), Overdue: l.GetOverdue(), Borrowers: l.GetBorrowers()})
	}
	return r
}

// optionalMs is t in Unix milliseconds, 0 for the zero time.
func optionalMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// optionalTime is ms in report.Zone, the zero time for 0.
func optionalTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).In(report.Zone)
}
