package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// ListRecords: a 南香村 volunteer never gets a 东旺村 record (nor its
// name, anywhere in the bytes), coordinators get every village's, newest
// first, page by page with nothing missed or repeated; bad input is
// refused naming its field.
func TestListRecordsScopePagingAndRefusals(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	staff := e.replicaOf(t, "陈伟", store.Staff)
	var all, nanxiang []string
	for i, v := range []string{"南香村", "东旺村", "南香村", "旺渔村", "南香村", "东旺村", "南香村"} {
		id := session(t, staff, v, "2024-03-0"+string(rune('1'+i)), "三年级", 20+i)
		all = append(all, id)
		if v == "南香村" {
			nanxiang = append(nanxiang, id)
		}
	}
	replicatest.SyncOK(t, staff)
	slices.Reverse(all)
	slices.Reverse(nanxiang)
	e.replicaOf(t, "王芳", store.Volunteer, "南香村")
	e.replicaOf(t, "coordinator", store.Coordinator)
	client := func(user string) villagesyncv1connect.ReportServiceClient {
		return villagesyncv1connect.NewReportServiceClient(bearer.Client(nil, e.token(t, user)), e.url)
	}
	vol, coord := client("王芳"), client("coordinator")
	// pages lists everything req selects, limit at a time.
	pages := func(c villagesyncv1connect.ReportServiceClient, req *v1.ListRecordsRequest) (ids []string, n int) {
		t.Helper()
		for {
			resp, err := c.ListRecords(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := proto.Marshal(resp)
			if l := leaks(b); c == vol && len(l) > 0 {
				t.Errorf("the volunteer's page holds %v", l)
			}
			if resp.GeneratedAtMs == 0 || resp.FeedSeq == 0 {
				t.Errorf("no freshness: %v", resp)
			}
			for _, r := range resp.Records {
				ids = append(ids, r.Id)
				if r.Device != "陈伟-phone" || r.User != "陈伟" || r.WrittenAtMs == 0 || r.Deleted {
					t.Errorf("record %s: writer %q %q at %d", r.Id, r.Device, r.User, r.WrittenAtMs)
				}
			}
			n++
			if resp.NextBeforeId == "" {
				return ids, n
			}
			req = proto.CloneOf(req)
			req.BeforeId = resp.NextBeforeId
		}
	}
	for _, tt := range []struct {
		name  string
		c     villagesyncv1connect.ReportServiceClient
		req   *v1.ListRecordsRequest
		want  []string
		pages int
	}{
		{"volunteer, her villages", vol, &v1.ListRecordsRequest{Table: "tutoring_sessions", Limit: 3}, nanxiang, 2},
		{"volunteer, her village by pinyin", vol,
			&v1.ListRecordsRequest{Table: "tutoring_sessions", Village: "nanxiang"}, nanxiang, 1},
		{"coordinator, all", coord, &v1.ListRecordsRequest{Table: "tutoring_sessions", Limit: 2}, all, 4},
		{"coordinator, 南香村", coord,
			&v1.ListRecordsRequest{Table: "tutoring_sessions", Village: "南香村", Limit: 4}, nanxiang, 1},
		{"an empty table", coord, &v1.ListRecordsRequest{Table: "cleanup_tasks"}, nil, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, n := pages(tt.c, tt.req)
			if !slices.Equal(got, tt.want) || n != tt.pages {
				t.Errorf("listed %v in %d pages, want %v in %d", got, n, tt.want, tt.pages)
			}
		})
	}
	for _, tt := range []struct {
		name  string
		c     villagesyncv1connect.ReportServiceClient
		req   *v1.ListRecordsRequest
		code  connect.Code
		field string
	}{
		{"another village", vol, &v1.ListRecordsRequest{Table: "tutoring_sessions", Village: "东旺村"},
			connect.CodePermissionDenied, "village"},
		{"unknown table", coord, &v1.ListRecordsRequest{Table: "sessions"}, connect.CodeInvalidArgument, "table"},
		{"reference table", coord, &v1.ListRecordsRequest{Table: "villages"}, connect.CodeInvalidArgument, "table"},
		{"unknown village", coord, &v1.ListRecordsRequest{Table: "loans", Village: "北村"},
			connect.CodeInvalidArgument, "village"},
		{"limit", coord, &v1.ListRecordsRequest{Table: "loans", Limit: 201}, connect.CodeInvalidArgument, "limit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.c.ListRecords(ctx, tt.req)
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != tt.code || errorField(err) != tt.field {
				t.Errorf("got %v (field %q), want %v naming %s", err, errorField(err), tt.code, tt.field)
			}
		})
	}
}

// A full page (200 sessions, each with a sheet photo and two volunteers
// named) stays far under a megabyte on the wire: a phone on a village
// connection can page through a season.
func TestListRecordsFullPageSize(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	staff := e.replicaOf(t, "陈伟", store.Staff)
	for i := range 200 {
		replicatest.Put(t, staff, "tutoring_sessions", "", "village", "南香村", "session_date",
			fmt.Sprintf("2024-%02d-%02d", 3+i/28, 1+i%28), "class_group", fmt.Sprint(i), "children_present", 20,
			"volunteers", "王芳,李娜", "sheet_photos", strings.Repeat("ab", 32))
	}
	replicatest.SyncOK(t, staff)
	c := villagesyncv1connect.NewReportServiceClient(bearer.Client(nil, e.token(t, "陈伟")), e.url)
	resp, err := c.ListRecords(context.Background(), &v1.ListRecordsRequest{Table: "tutoring_sessions", Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	size := proto.Size(resp)
	t.Logf("ListRecords of %d sessions: %d bytes (%d a record)", len(resp.Records), size, size/len(resp.Records))
	if len(resp.Records) != 200 || resp.NextBeforeId != "" || size > 256<<10 {
		t.Errorf("%d records, next %q, %d bytes", len(resp.Records), resp.NextBeforeId, size)
	}
}
