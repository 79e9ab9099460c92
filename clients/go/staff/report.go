package staff

import (
	"context"
	"fmt"
	"net/http"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/report"
)

// Report asks the server at url for the coordinators' village totals: the
// months q.FromMonth to q.ToMonth ("YYYY-MM", empty: unbounded) of the
// villages q.Villages (any spelling the server knows; empty: all). q.Now
// is not sent: a report is dated by the server's clock. Errors keep their
// Connect code (connect.CodeOf); a bad query is InvalidArgument naming the
// field. Render the report with package reportfmt.
func Report(ctx context.Context, hc connect.HTTPClient, url string, q report.Request) (*report.Report, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	client := villagesyncv1connect.NewReportServiceClient(hc, url)
	req := &v1.GetReportRequest{FromMonth: q.FromMonth, ToMonth: q.ToMonth, Villages: q.Villages}
	resp, err := client.GetReport(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("report from %s: %w", url, err)
	}
	return wire.FromReport(resp), nil
}
