package rpc_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/rpc"
	"github.com/futian-xiaomo/villagesync/sync/server"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

func start(t *testing.T) (villagesyncv1connect.SyncServiceClient, *v1.RegisterResponse) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "s.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.Start(st, "127.0.0.1:0", slog.New(slog.DiscardHandler), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Stop(); st.Close() })
	c := villagesyncv1connect.NewSyncServiceClient(http.DefaultClient, srv.URL)
	reg, err := c.Register(context.Background(), &v1.RegisterRequest{Name: "t"})
	if err != nil {
		t.Fatal(err)
	}
	return c, reg
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
	c, reg := start(t)
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
		{"wrong type", change(r, "tutoring_sessions", uuid.NewString(), "children_present", text("thirty")), "tutoring_sessions.children_present: want integer, got text"},
		{"text for real", change(r, "cleanup_tasks", uuid.NewString(), "quantity", integer(3)), "cleanup_tasks.quantity: want real, got integer"},
		{"someone else's dot", change(r+7, "books", uuid.NewString(), "notes", text("x")), "a device pushes only its own writes"},
		{"mismatched version", &v1.Record{Table: "books", Id: uuid.NewString(), Version: &v1.VersionVector{Replicas: []uint32{r}}}, "version: 1 replicas but 0 counters"},
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
		if res.Outcome != v1.Outcome_OUTCOME_REJECTED || res.Code != "invalid_argument" || !strings.Contains(res.Message, tc.want) {
			t.Errorf("%s: %v %s %q; want rejected, invalid_argument, %q", tc.name, res.Outcome, res.Code, res.Message, tc.want)
		}
	}
	// A second device sees only the good record.
	reg2, _ := c.Register(context.Background(), &v1.RegisterRequest{Name: "u"})
	pull, err := c.Sync(context.Background(), &v1.SyncRequest{Replica: reg2.Replica})
	if err != nil {
		t.Fatal(err)
	}
	if len(pull.Changes) != 1 || pull.Changes[0].Id != good {
		t.Errorf("feed holds %v, want only %s", pull.Changes, good)
	}
}

func TestBadRequestsGetPreciseCodes(t *testing.T) {
	c, reg := start(t)
	many := make([]*v1.Record, rpc.MaxChanges+1)
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
		{"no replica", &v1.SyncRequest{}, connect.CodeInvalidArgument, "replica: missing"},
		{"unknown replica", &v1.SyncRequest{Replica: 999}, connect.CodeNotFound, "replica"},
		{"too many changes", &v1.SyncRequest{Replica: reg.Replica, Changes: many}, connect.CodeInvalidArgument, "changes: 1001 in one request"},
		{"oversized request", &v1.SyncRequest{Replica: reg.Replica, Changes: []*v1.Record{huge}}, connect.CodeResourceExhausted, "larger than configured max"},
		{"other server", &v1.SyncRequest{Replica: reg.Replica, ServerId: reg.ServerId ^ 0xff}, connect.CodeFailedPrecondition, "server_id"},
		{"cursor from the future", &v1.SyncRequest{Replica: reg.Replica, Cursor: 1 << 40}, connect.CodeFailedPrecondition, "cursor"},
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

func TestRegisterNeedsAName(t *testing.T) {
	c, _ := start(t)
	for _, name := range []string{"", "   ", strings.Repeat("名", 65)} {
		_, err := c.Register(context.Background(), &v1.RegisterRequest{Name: name})
		if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "name") {
			t.Errorf("Register(%q) = %v, want invalid_argument naming the field", name, err)
		}
	}
}

func timeNow() time.Time { return time.Now() }
