package rpc

import (
	"context"
	"log/slog"
	"time"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// ReportService implements ReportService: the coordinators' village
// totals, computed by package report over the server store.
type ReportService struct {
	Store *store.Store
	Log   *slog.Logger
	// Now is the report's clock; nil means time.Now.
	Now func() time.Time
}

// GetReport computes the report the request selects.
func (s *ReportService) GetReport(ctx context.Context, req *v1.GetReportRequest) (*v1.GetReportResponse, error) {
	q := report.Request{FromMonth: req.GetFromMonth(), ToMonth: req.GetToMonth(), Villages: req.GetVillages()}
	if s.Now != nil {
		q.Now = s.Now()
	}
	if err := s.Store.FlushSeen(ctx); err != nil {
		return nil, (&Service{Store: s.Store, Log: s.Log}).toConnect(err)
	}
	rep, err := report.Build(ctx, s.Store, q)
	if err != nil {
		// The same mapping as the sync services: a *record.Problem names the
		// field (InvalidArgument), anything unexpected is logged and Internal.
		return nil, (&Service{Store: s.Store, Log: s.Log}).toConnect(err)
	}
	return reportToWire(rep), nil
}

func reportToWire(r *report.Report) *v1.GetReportResponse {
	out := &v1.GetReportResponse{FromMonth: r.FromMonth, ToMonth: r.ToMonth, Total: rowToWire(r.Total)}
	for _, row := range r.Rows {
		out.Rows = append(out.Rows, rowToWire(row))
	}
	for _, row := range r.VillageTotals {
		out.VillageTotals = append(out.VillageTotals, rowToWire(row))
	}
	f := &v1.Freshness{GeneratedAtMs: r.Freshness.GeneratedAt.UnixMilli(), FeedSeq: r.Freshness.FeedSeq}
	for _, d := range r.Freshness.Devices {
		m := &v1.DeviceSeen{Replica: d.Replica, Name: d.Name}
		if !d.LastSeen.IsZero() {
			m.LastSeenMs = d.LastSeen.UnixMilli()
		}
		f.Devices = append(f.Devices, m)
	}
	for _, c := range r.Freshness.OpenConflicts {
		f.OpenConflicts = append(f.OpenConflicts, &v1.OpenConflicts{Kind: c.Kind, Count: c.Count})
	}
	out.Freshness = f
	return out
}

func rowToWire(r report.Row) *v1.ReportRow {
	m := &v1.ReportRow{
		Village: r.Village, VillagePinyin: r.Pinyin, Month: r.Month,
		Tutoring: &v1.TutoringFigures{Sessions: r.Tutoring.Sessions, StudentAttendances: r.Tutoring.StudentAttendances, Volunteers: r.Tutoring.Volunteers},
	}
	if !r.FirstReported.IsZero() {
		m.FirstReportedAtMs = r.FirstReported.UnixMilli()
	}
	if !r.Revised.IsZero() {
		m.RevisedAtMs = r.Revised.UnixMilli()
	}
	for _, c := range r.Cleanup {
		cm := &v1.CleanupFigures{Kind: c.Kind, Reported: c.Reported, Done: c.Done, Checked: c.Checked}
		for _, q := range c.Quantities {
			cm.Quantities = append(cm.Quantities, &v1.Quantity{Unit: q.Unit, Amount: q.Amount})
		}
		m.Cleanup = append(m.Cleanup, cm)
	}
	for _, l := range r.Loans {
		m.Loans = append(m.Loans, &v1.LoanFigures{Library: l.Library, Made: l.Made, Returned: l.Returned, Open: l.Open, Overdue: l.Overdue, Borrowers: l.Borrowers})
	}
	return m
}
