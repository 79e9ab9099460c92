package rpc_test

import (
	"context"
	"testing"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// A month is first reported by a report of every village, never by a
// volunteer's of hers: else a late sync into a month only she had looked
// at would show the coordinators a revision of figures none of them was
// ever shown. Her report reads the marks the coordinators' made.
func TestOnlyAReportOfEveryVillageMarksMonths(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	phone := e.replicaOf(t, "王芳", store.Volunteer, "南香村")
	coord := e.replicaOf(t, "李主任", store.Coordinator)
	mine := villagesyncv1connect.NewReportServiceClient(bearer.Client(nil, e.token(t, "王芳")), e.url)
	theirs := villagesyncv1connect.NewReportServiceClient(coord.HTTPClient(), e.url)
	month := func(c villagesyncv1connect.ReportServiceClient, m string) *v1.ReportRow {
		t.Helper()
		rep, err := c.GetReport(ctx, &v1.GetReportRequest{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rep.Rows {
			if r.Village == "南香村" && r.Month == m {
				return r
			}
		}
		t.Fatalf("no row of 南香村 %s in %v", m, rep.Rows)
		return nil
	}
	late := func(date string) {
		t.Helper()
		session(t, phone, "南香村", date, "三年级", 20)
		replicatest.SyncOK(t, phone)
	}

	// A past month she reports alone, then a late session in it.
	late("2024-03-05")
	if r := month(mine, "2024-03"); r.FirstReportedAtMs != 0 || r.RevisedAtMs != 0 {
		t.Errorf("her report marks March: first reported %d, revised %d", r.FirstReportedAtMs, r.RevisedAtMs)
	}
	late("2024-03-12")
	if r := month(theirs, "2024-03"); r.FirstReportedAtMs == 0 || r.RevisedAtMs != 0 {
		t.Errorf("the coordinator's first report of March: first reported %d, revised %d; want first reported "+
			"now, not revised", r.FirstReportedAtMs, r.RevisedAtMs)
	}

	// A month the coordinator reported, then a late session in it: revised,
	// and her report shows both marks.
	late("2024-04-02")
	first := month(theirs, "2024-04").FirstReportedAtMs
	if first == 0 {
		t.Fatal("the coordinator's report does not mark April")
	}
	late("2024-04-09")
	if r := month(theirs, "2024-04"); r.RevisedAtMs == 0 || r.FirstReportedAtMs != first {
		t.Errorf("April after a late session: first reported %d (was %d), revised %d; want it revised",
			r.FirstReportedAtMs, first, r.RevisedAtMs)
	}
	if r := month(mine, "2024-04"); r.FirstReportedAtMs != first || r.RevisedAtMs == 0 {
		t.Errorf("her report of April: first reported %d, revised %d; want the coordinator's marks",
			r.FirstReportedAtMs, r.RevisedAtMs)
	}
}
