package rpc

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"connectrpc.com/connect"
	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
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
	return wire.Report(rep), nil
}

// ExportReport renders the report as a file. (Being built: issue 12.)
func (s *ReportService) ExportReport(ctx context.Context, req *v1.ExportReportRequest) (*v1.ExportReportResponse, error) {
	return nil, connect.NewError(connect.CodeUnimplemented, errors.New("export: not yet"))
}
