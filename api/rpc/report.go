package rpc

import (
	"bytes"
	"context"
	"log/slog"
	"slices"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/reportfmt"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/record"
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

func (s *ReportService) svc() *Service { return &Service{Store: s.Store, Log: s.Log} }

// GetReport computes the report the request selects. A volunteer's holds
// her villages only, and only her devices.
func (s *ReportService) GetReport(ctx context.Context, req *v1.GetReportRequest) (*v1.GetReportResponse, error) {
	rep, err := s.build(ctx, req)
	if err != nil {
		return nil, err
	}
	return wire.Report(rep), nil
}

// build is GetReport's report, for both calls: the sync times noted in
// memory written first, the past months it reports noted.
func (s *ReportService) build(ctx context.Context, req *v1.GetReportRequest) (*report.Report, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	q := report.Request{FromMonth: req.GetFromMonth(), ToMonth: req.GetToMonth(), Villages: req.GetVillages()}
	if !p.AllVillages() {
		q.Scope, q.User = p.Villages, p.User
	}
	if s.Now != nil {
		q.Now = s.Now()
	}
	if err := s.Store.FlushSeen(ctx); err != nil {
		return nil, s.svc().toConnect(err)
	}
	rep, err := report.Build(ctx, s.Store, q)
	if err != nil {
		// The same mapping as the sync services: a *record.Problem names the
		// field (InvalidArgument), anything unexpected is logged and Internal.
		return nil, s.svc().toConnect(err)
	}
	return rep, nil
}

// Content types of the exported files.
const (
	csvType  = "text/csv; charset=utf-8"
	xlsxType = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
)

// ExportReport is GetReport as a file: the figures GetReport returns (it
// returns them too), rendered by reportfmt as `villagesync report
// --format csv|xlsx` renders what it fetched, so the file is byte for byte
// the one the command line writes of the same report.
func (s *ReportService) ExportReport(ctx context.Context, req *v1.ExportReportRequest) (*v1.ExportReportResponse, error) {
	var format reportfmt.Format
	switch f := reportfmt.Format(req.GetFormat()); f {
	case reportfmt.FormatCSV, reportfmt.FormatXLSX:
		format = f
	default:
		return nil, refuse(connect.CodeInvalidArgument, "format", "%q is not csv or xlsx", req.GetFormat())
	}
	lang := reportfmt.ZH
	switch l := reportfmt.Lang(req.GetLang()); l {
	case "":
	case reportfmt.ZH, reportfmt.EN:
		lang = l
	default:
		return nil, refuse(connect.CodeInvalidArgument, "lang", "%q is not zh or en", req.GetLang())
	}
	rep, err := s.build(ctx, req.GetReport())
	if err != nil {
		return nil, inReport(err)
	}
	m := wire.Report(rep)
	// What the command line renders is the report as it came off the
	// wire (times to the millisecond, in China time): render that.
	var out bytes.Buffer
	if err := reportfmt.Render(&out, wire.FromReport(m), format, lang); err != nil {
		return nil, s.svc().internal(err)
	}
	typ := csvType
	if format == reportfmt.FormatXLSX {
		typ = xlsxType
	}
	return &v1.ExportReportResponse{Filename: "villagesync-report-" + m.GetFromMonth() + "-" + m.GetToMonth() +
		"." + string(format), ContentType: typ, Content: out.Bytes(), Report: m}, nil
}

// reportFields are GetReportRequest's fields, which a report's problems
// name.
var reportFields = []string{"from_month", "to_month", "villages"}

// inReport names a field of the export's report request as the export
// request holds it: "from_month" becomes "report.from_month".
func inReport(err error) error {
	ce, ok := err.(*connect.Error)
	if !ok {
		return err
	}
	p, ok := ce.Unwrap().(*record.Problem)
	if !ok || !slices.Contains(reportFields, p.Field) {
		return err
	}
	q := *p
	q.Field = "report." + p.Field
	out := connect.NewError(ce.Code(), &q)
	for k, vs := range ce.Meta() {
		out.Meta()[k] = vs
	}
	return out
}

// ListRecords lists a program table's live records in the caller's
// villages, newest first: what the console shows behind a village's
// figures (each class with its sign-in sheet, each task's before and
// after). Like GetReport it is open to volunteers, narrowed to theirs.
func (s *ReportService) ListRecords(ctx context.Context, req *v1.ListRecordsRequest) (*v1.ListRecordsResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetLimit() > store.MaxRecordsPage {
		return nil, refuse(connect.CodeInvalidArgument, "limit", "%d is more than %d", req.GetLimit(),
			store.MaxRecordsPage)
	}
	f := store.RecordFilter{Table: req.GetTable(), Village: req.GetVillage(), BeforeID: req.GetBeforeId(),
		Limit: int(req.GetLimit())}
	if !p.AllVillages() {
		f.Scope = p.Villages
		if f.Scope == nil {
			f.Scope = []string{}
		}
	}
	page, err := s.Store.ListRecords(ctx, f)
	if err != nil {
		return nil, s.svc().toConnect(err)
	}
	resp := &v1.ListRecordsResponse{NextBeforeId: page.NextBeforeID, GeneratedAtMs: page.ReadAt.UnixMilli(),
		FeedSeq: page.Seq, Records: make([]*v1.ConflictRecord, 0, len(page.Records))}
	for _, r := range page.Records {
		cr := &v1.ConflictRecord{Id: r.ID, Device: r.Device, User: r.User, Fields: wire.Record(r.Record).GetFields()}
		if !r.WrittenAt.IsZero() {
			cr.WrittenAtMs = r.WrittenAt.UnixMilli()
		}
		resp.Records = append(resp.Records, cr)
	}
	return resp, nil
}
