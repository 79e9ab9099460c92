package rpc_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

type testServer struct {
	st  *store.Store
	url string
}

func start(t *testing.T) (villagesyncv1connect.SyncServiceClient, *v1.EnrollResponse, *testServer) {
	t.Helper()
	s := replicatest.Start(t, nil)
	e := &testServer{st: s.Store, url: s.URL}
	c, reg := e.device(t, "t", store.Staff)
	return c, reg, e
}

// device enrolls a device for a new user and returns a sync client that
// authenticates as it.
func (e *testServer) device(t *testing.T, user string, role store.Role,
	villages ...string) (villagesyncv1connect.SyncServiceClient, *v1.EnrollResponse) {
	t.Helper()
	code, err := e.st.CodeFor(context.Background(), user, role, villages)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, e.url).
		Enroll(context.Background(), &v1.EnrollRequest{Code: code, DeviceName: user + "-device"})
	if err != nil {
		t.Fatal(err)
	}
	return villagesyncv1connect.NewSyncServiceClient(bearer.Client(nil, reg.Token), e.url), reg
}

// change builds a one-field push of replica r.
func change(r uint32, table, id, field string, v *v1.Value) *v1.Record {
	return &v1.Record{
		Table: table, Id: id,
		Version: &v1.VersionVector{Replicas: []uint32{r}, Counters: []uint64{1}},
		Fields:  []*v1.Field{{Name: field, Value: v, Dot: &v1.Dot{Replica: r, Counter: 1, Hlc: hlc.FromTime(timeNow())}}},
	}
}

func text(s string) *v1.Value { return &v1.Value{Kind: &v1.Value_Text{Text: s}} }
func integer(i int64) *v1.Value {
	return &v1.Value{Kind: &v1.Value_Integer{Integer: i}}
}

// Each bad change is refused with a code and a message naming the
// problem; the good change in the same request is applied; nothing of the
// bad ones reaches the feed.
func TestBadChangesAreRejectedOneByOne(t *testing.T) {
	c, reg, e := start(t)
	r := reg.Replica
	good := uuid.Must(uuid.NewV7()).String()
	cases := []struct {
		name string
		ch   *v1.Record
		want string
	}{
		{"unknown table", change(r, "pets", uuid.NewString(), "notes", text("x")), `table: unknown table "pets"`},
		{"malformed id", change(r, "books", "12345", "notes", text("x")), `id: "12345" is not a UUID`},
		{"upper-case id", change(r, "books", strings.ToUpper(uuid.NewString()), "notes", text("x")), "canonical form"},
		{"unknown field", change(r, "books", uuid.NewString(), "colour", text("red")), "books.colour: unknown field"},
		{"wrong type", change(r, "tutoring_sessions", uuid.NewString(), "children_present", text("thirty")),
			"tutoring_sessions.children_present: want integer, got text"},
		{"text for real", change(r, "cleanup_tasks", uuid.NewString(), "quantity", integer(3)),
			"cleanup_tasks.quantity: want real, got integer"},
		{"someone else's dot", change(r+7, "books", uuid.NewString(), "notes", text("x")),
			"a device pushes only its own writes"},
		{"mismatched version", &v1.Record{Table: "books", Id: uuid.NewString(),
			Version: &v1.VersionVector{Replicas: []uint32{r}}},
			"version: 1 replicas but 0 counters"},
	}
	ok := change(r, "books", good, "title", text("ok"))
	for _, f := range []*v1.Field{{Name: "village", Value: text("南香村")}, {Name: "library", Value: text("children")}} {
		f.Dot = ok.Fields[0].Dot
		ok.Fields = append(ok.Fields, f)
	}
	req := &v1.SyncRequest{Replica: r, Changes: []*v1.Record{ok}}
	for _, tc := range cases {
		req.Changes = append(req.Changes, tc.ch)
	}
	resp, err := c.Sync(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Results[0].Outcome; got != v1.Outcome_OUTCOME_APPLIED {
		t.Errorf("good change: %v", got)
	}
	for i, tc := range cases {
		res := resp.Results[i+1]
		if res.Outcome != v1.Outcome_OUTCOME_REJECTED || res.Code != "invalid_argument" ||
			!strings.Contains(res.Message, tc.want) {
			t.Errorf("%s: %v %s %q; want rejected, invalid_argument, %q", tc.name, res.Outcome, res.Code, res.Message, tc.want)
		}
	}
	// A second device sees only the good record.
	c2, reg2 := e.device(t, "u", store.Staff)
	pull, err := c2.Sync(context.Background(), &v1.SyncRequest{Replica: reg2.Replica})
	if err != nil {
		t.Fatal(err)
	}
	if len(pull.Changes) != 1 || pull.Changes[0].Id != good {
		t.Errorf("feed holds %v, want only %s", pull.Changes, good)
	}
}

func TestBadRequestsGetPreciseCodes(t *testing.T) {
	c, reg, _ := start(t)
	first, err := c.Sync(context.Background(), &v1.SyncRequest{Replica: reg.Replica})
	if err != nil || !first.Rescoped || first.ScopeHash == 0 {
		t.Fatalf("first sync: %v, %v; want the device's scope", first, err)
	}
	many := make([]*v1.Record, protocol.MaxChanges+1)
	for i := range many {
		many[i] = change(reg.Replica, "books", uuid.NewString(), "notes", text("x"))
	}
	huge := change(reg.Replica, "books", uuid.NewString(), "notes", text(strings.Repeat("长", server.MaxRequestBytes/3+1)))
	cases := []struct {
		name string
		req  *v1.SyncRequest
		code connect.Code
		want string
	}{
		{"no replica", &v1.SyncRequest{}, connect.CodePermissionDenied, "replica: the token belongs to replica"},
		{"another device's replica", &v1.SyncRequest{Replica: 999}, connect.CodePermissionDenied,
			"replica: the token belongs to replica"},
		{"too many changes", &v1.SyncRequest{Replica: reg.Replica, Changes: many}, connect.CodeInvalidArgument,
			"changes: 1001 in one request"},
		{"oversized request", &v1.SyncRequest{Replica: reg.Replica, Changes: []*v1.Record{huge}},
			connect.CodeResourceExhausted,
			"larger than configured max"},
		{"other server", &v1.SyncRequest{Replica: reg.Replica, ServerId: reg.ServerId ^ 0xff}, connect.CodeFailedPrecondition,
			"server_id"},
		{"cursor from the future", &v1.SyncRequest{Replica: reg.Replica, Cursor: 1 << 40, ScopeHash: first.ScopeHash},
			connect.CodeFailedPrecondition, "cursor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := c.Sync(context.Background(), tc.req)
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != tc.code || !strings.Contains(ce.Message(), tc.want) {
				t.Fatalf("err = %v; want %v mentioning %q", err, tc.code, tc.want)
			}
		})
	}
	// None of it was written.
	pull, err := c.Sync(context.Background(), &v1.SyncRequest{Replica: reg.Replica})
	if err != nil {
		t.Fatal(err)
	}
	if len(pull.Changes) != 0 || pull.NextCursor != 0 {
		t.Errorf("bad requests wrote: %d records, cursor %d", len(pull.Changes), pull.NextCursor)
	}
}

func TestEnrollNeedsADeviceName(t *testing.T) {
	_, _, e := start(t)
	access := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, e.url)
	for _, name := range []string{"", "   ", strings.Repeat("名", 65)} {
		code, err := e.st.CodeFor(context.Background(), "v", store.Staff, nil)
		if err != nil {
			t.Fatal(err)
		}
		_, err = access.Enroll(context.Background(), &v1.EnrollRequest{Code: code, DeviceName: name})
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "device_name") {
			t.Errorf("Enroll(%q) = %v, want invalid_argument naming the field", name, err)
		}
	}
}

func timeNow() time.Time { return time.Now() }

// Each program rule the server enforces: the change is rejected with
// invalid_argument and a message naming the field in English and
// Chinese; the valid change beside it is applied.
func TestProgramRulesOnTheServer(t *testing.T) {
	c, reg, e := start(t)
	r := reg.Replica
	hlcNow := hlc.FromTime(timeNow())
	// rec builds a complete new record of table with one field overridden.
	rec := func(table string, override string, v *v1.Value) *v1.Record {
		base := map[string]map[string]*v1.Value{
			"tutoring_sessions": {"village": text("南香村"), "session_date": text("2024-06-03"), "children_present": integer(30)},
			"cleanup_tasks":     {"village": text("东旺村"), "kind": text("street_sweeping"), "status": text("reported")},
			"books":             {"village": text("旺渔村"), "library": text("children"), "title": text("小王子")},
			"loans": {"village": text("旺渔村"), "book_id": text(uuid.NewString()),
				"borrower_card": text("C-1"), "lent_on": text("2024-06-03")},
		}[table]
		if v == nil {
			delete(base, override)
		} else {
			base[override] = v
		}
		m := &v1.Record{Table: table, Id: uuid.Must(uuid.NewV7()).String(),
			Version: &v1.VersionVector{Replicas: []uint32{r}, Counters: []uint64{1}}}
		for name, val := range base {
			m.Fields = append(m.Fields, &v1.Field{Name: name, Value: val, Dot: &v1.Dot{Replica: r, Counter: 1, Hlc: hlcNow}})
		}
		return m
	}
	future := timeNow().AddDate(0, 0, 3).Format(time.DateOnly)
	cases := []struct {
		name, table, field string
		v                  *v1.Value
		en, zh             string
	}{
		{"children over 200", "tutoring_sessions", "children_present", integer(250),
			"250 is outside 0–200", "出席儿童数应在0到200之间"},
		{"negative children", "tutoring_sessions", "children_present", integer(-1), "-1 is outside 0–200", "出席儿童数"},
		{"date not a date", "tutoring_sessions", "session_date", text("3 June"), `"3 June" is not a date`, "日期格式"},
		{"date in the future", "tutoring_sessions", "session_date", text(future),
			"more than a day in the future", "日期不能晚于明天"},
		{"start time", "tutoring_sessions", "start_time", text("7pm"), `"7pm" is not a time`, "时间格式"},
		{"unknown village", "tutoring_sessions", "village", text("北村"), `"北村" is not a known village`, "不是已登记的村"},
		{"alias is not canonical", "books", "village", text("旺鱼村"), `"旺鱼村" is another spelling of 旺渔村`, "村应写作旺渔村"},
		{"missing required", "tutoring_sessions", "session_date", nil, "is required", "日期不能为空"},
		{"cleanup kind", "cleanup_tasks", "kind", text("painting"), `"painting" is not one of`, "类别取值无效"},
		{"cleanup status", "cleanup_tasks", "status", text("finished"), `"finished" is not one of`, "状态取值无效"},
		{"negative quantity", "cleanup_tasks", "quantity", &v1.Value{Kind: &v1.Value_Real{Real: -2}},
			"is negative", "数量不能为负数"},
		{"reported_at", "cleanup_tasks", "reported_at", text("yesterday"), "is not a time like", "报告时间"},
		{"library", "books", "library", text("school"), `"school" is not one of`, "图书馆取值无效"},
		{"isbn check digit", "books", "isbn", text("978-7-02-004237-4"), "is not a valid ISBN", "ISBN无效"},
		{"title too long", "books", "title", text(strings.Repeat("书", 201)),
			"201 characters is longer than the limit of 200", "书名不能超过200个字"},
		{"loan date", "loans", "lent_on", text("2024-02-30"), `"2024-02-30" is not a date`, "借出日期"},
	}
	req := &v1.SyncRequest{Replica: r, Changes: []*v1.Record{rec("books", "isbn", text("978-7-02-004237-1"))}}
	for _, tc := range cases {
		req.Changes = append(req.Changes, rec(tc.table, tc.field, tc.v))
	}
	resp, err := c.Sync(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Results[0]; got.Outcome != v1.Outcome_OUTCOME_APPLIED {
		t.Errorf("valid book with a correct ISBN: %v %s", got.Outcome, got.Message)
	}
	for i, tc := range cases {
		res := resp.Results[i+1]
		path := tc.table + "." + tc.field
		if res.Outcome != v1.Outcome_OUTCOME_REJECTED || res.Code != "invalid_argument" ||
			!strings.HasPrefix(res.Message, path+": ") || !strings.Contains(res.Message, tc.en) ||
			!strings.Contains(res.Message, tc.zh) {
			t.Errorf("%s: %v %s %q; want rejected, invalid_argument, %q with %q and %q",
				tc.name, res.Outcome, res.Code, res.Message, path, tc.en, tc.zh)
		}
	}
	// Nothing of the refused changes reached the feed.
	c2, reg2 := e.device(t, "u", store.Staff)
	pull, err := c2.Sync(context.Background(), &v1.SyncRequest{Replica: reg2.Replica})
	if err != nil {
		t.Fatal(err)
	}
	if len(pull.Changes) != 1 {
		t.Errorf("feed holds %d records, want only the valid book", len(pull.Changes))
	}
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// A refused change's reason comes back in the language the device asked
// for, naming the field at fault, so the volunteer's app can show it as
// it came and mark the box; without Accept-Language it is the English
// the command line always had.
func TestRefusedChangesSayWhyInTheDevicesLanguage(t *testing.T) {
	_, _, e := start(t)
	_, reg := e.device(t, "v", store.Staff)
	bad := change(reg.Replica, "books", uuid.NewString(), "isbn", text("not an isbn"))
	for _, tc := range []struct{ lang, want string }{
		{"", "books.isbn: "},
		{"en", "books.isbn: "},
		{"zh-CN,zh;q=0.9", "图书.ISBN："},
	} {
		c := villagesyncv1connect.NewSyncServiceClient(langClient{hc: bearer.Client(nil, reg.Token), lang: tc.lang}, e.url)
		resp, err := c.Sync(context.Background(), &v1.SyncRequest{Replica: reg.Replica, Changes: []*v1.Record{bad}})
		if err != nil {
			t.Fatal(err)
		}
		res := resp.Results[0]
		if res.Outcome != v1.Outcome_OUTCOME_REJECTED || res.Field != "books.isbn" || !strings.HasPrefix(res.Message, tc.want) {
			t.Errorf("Accept-Language %q: %v field %q message %q; want rejected, books.isbn, %q…", tc.lang, res.Outcome,
				res.Field, res.Message, tc.want)
		}
	}
}
