package rpc_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// accessEnv is a server whose log is captured, with a helper per role.
type accessEnv struct {
	*testServer
	file string
	logs *bytes.Buffer
}

func startAccess(t *testing.T, lim rpc.Limits) *accessEnv {
	t.Helper()
	file := filepath.Join(t.TempDir(), "s.db")
	logs := &bytes.Buffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	st, err := store.Open(context.Background(), file, store.Options{Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln := listen(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Serve(ctx, ln, server.Handler(st, log, lim), log, 0) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	return &accessEnv{testServer: &testServer{st: st, url: "http://" + ln.Addr().String()}, file: file, logs: logs}
}

// book is a complete new book in village, pushed as replica r.
func book(r uint32, village string) *v1.Record {
	d := &v1.Dot{Replica: r, Counter: 1, Hlc: hlc.FromTime(timeNow())}
	m := &v1.Record{Table: "books", Id: uuid.Must(uuid.NewV7()).String(),
		Version: &v1.VersionVector{Replicas: []uint32{r}, Counters: []uint64{1}}}
	for name, v := range map[string]string{"village": village, "library": "children", "title": "小王子"} {
		m.Fields = append(m.Fields, &v1.Field{Name: name, Value: text(v), Dot: d})
	}
	return m
}

// state is what "nothing changed" compares: the feed position and the
// records, users and devices the server holds.
func (e *accessEnv) state(t *testing.T) string {
	t.Helper()
	var out strings.Builder
	for _, q := range []string{
		`SELECT value FROM meta WHERE key = 'seq'`,
		`SELECT count(*) FROM books`, `SELECT count(*) FROM tutoring_sessions`,
		`SELECT count(*) FROM users`, `SELECT count(*) FROM replicas WHERE revoked_ms IS NULL`,
		`SELECT count(*) FROM enrollment_codes WHERE used_ms IS NULL`,
	} {
		var n int64
		if err := e.st.Reader().QueryRow(q).Scan(&n); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&out, "%d ", n)
	}
	return out.String()
}

func (e *accessEnv) exec(t *testing.T, q string) {
	t.Helper()
	d, err := sql.Open("sqlite3", "file:"+e.file+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(q); err != nil {
		t.Fatal(err)
	}
}

// The table of attempts: each gets its code, and nothing changes.
func TestAccessAttempts(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol, volReg := e.device(t, "王芳", store.Volunteer, "南香村")
	coord, coordReg := e.device(t, "coordinator", store.Coordinator)
	stf, stfReg := e.device(t, "陈伟", store.Staff)
	// Staff log a book in each of two villages.
	if resp, err := stf.Sync(ctx, &v1.SyncRequest{Replica: stfReg.Replica,
		Changes: []*v1.Record{book(stfReg.Replica, "南香村"), book(stfReg.Replica, "东旺村")}}); err != nil ||
		resp.Results[1].Outcome != v1.Outcome_OUTCOME_APPLIED {
		t.Fatalf("staff push: %v %v", resp, err)
	}
	_, revokedReg := e.device(t, "lost-phone", store.Staff)
	revoked := villagesyncv1connect.NewSyncServiceClient(bearer.Client(nil, revokedReg.Token), e.url)
	if err := e.st.RevokeDevice(ctx, revokedReg.Replica); err != nil {
		t.Fatal(err)
	}
	anon := villagesyncv1connect.NewSyncServiceClient(http.DefaultClient, e.url)
	wrong := villagesyncv1connect.NewSyncServiceClient(bearer.Client(nil, "not-a-token"), e.url)
	access := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, e.url)
	expired, _, err := e.st.NewEnrollmentCode(ctx, "王芳", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.exec(t, `UPDATE enrollment_codes SET expires_ms = 1 WHERE used_ms IS NULL`)
	reused, _ := e.st.CodeFor(ctx, "王芳", store.Volunteer, []string{"南香村"})
	if _, err := access.Enroll(ctx, &v1.EnrollRequest{Code: reused, DeviceName: "first"}); err != nil {
		t.Fatal(err)
	}
	many := make([]*v1.Record, protocol.MaxChanges+1)
	for i := range many {
		many[i] = book(stfReg.Replica, "南香村")
	}
	huge := book(stfReg.Replica, "南香村")
	huge.Fields[0].Value = text(strings.Repeat("长", server.MaxRequestBytes/3+1))

	cases := []struct {
		name string
		call func() error
		code connect.Code
		want string
	}{
		{"no token", func() error {
			_, err := anon.Sync(ctx, &v1.SyncRequest{Replica: volReg.Replica})
			return err
		}, connect.CodeUnauthenticated, "token"},
		{"wrong token", func() error {
			_, err := wrong.Sync(ctx, &v1.SyncRequest{Replica: volReg.Replica})
			return err
		}, connect.CodeUnauthenticated, "unknown or revoked"},
		{"revoked device", func() error {
			_, err := revoked.Sync(ctx, &v1.SyncRequest{Replica: revokedReg.Replica})
			return err
		}, connect.CodeUnauthenticated, "unknown or revoked"},
		{"expired enrollment code", func() error {
			_, err := access.Enroll(ctx, &v1.EnrollRequest{Code: expired, DeviceName: "x"})
			return err
		}, connect.CodeUnauthenticated, "expired"},
		{"reused enrollment code", func() error {
			_, err := access.Enroll(ctx, &v1.EnrollRequest{Code: reused, DeviceName: "second"})
			return err
		}, connect.CodeUnauthenticated, "used already"},
		{"volunteer lists conflicts", func() error {
			_, err := villagesyncv1connect.NewConflictServiceClient(bearer.Client(nil, volReg.Token), e.url).
				ListConflicts(ctx, &v1.ListConflictsRequest{})
			return err
		}, connect.CodePermissionDenied, "role: volunteer"},
		{"volunteer creates a user", func() error {
			_, err := villagesyncv1connect.NewAccessServiceClient(bearer.Client(nil, volReg.Token), e.url).
				CreateUser(ctx, &v1.CreateUserRequest{Name: "x", Role: "admin"})
			return err
		}, connect.CodePermissionDenied, "role: volunteer"},
		{"another device's replica", func() error {
			_, err := vol.Sync(ctx, &v1.SyncRequest{Replica: coordReg.Replica})
			return err
		}, connect.CodePermissionDenied, "replica"},
		{"oversized request", func() error {
			_, err := stf.Sync(ctx, &v1.SyncRequest{Replica: stfReg.Replica, Changes: []*v1.Record{huge}})
			return err
		}, connect.CodeResourceExhausted, "larger than configured max"},
		{"too many changes", func() error {
			_, err := stf.Sync(ctx, &v1.SyncRequest{Replica: stfReg.Replica, Changes: many})
			return err
		}, connect.CodeInvalidArgument, "changes: 1001"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := e.state(t)
			err := tc.call()
			if connect.CodeOf(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v; want %v mentioning %q", err, tc.code, tc.want)
			}
			if after := e.state(t); after != before {
				t.Errorf("state changed: %s -> %s", before, after)
			}
		})
	}

	// Writes a role or village does not allow: that change is refused with
	// permission_denied, the allowed one beside it goes through.
	writes := []struct {
		name   string
		client villagesyncv1connect.SyncServiceClient
		reg    *v1.EnrollResponse
		denied *v1.Record
		want   string
	}{
		{"volunteer writes another village", vol, volReg, book(volReg.Replica, "东旺村"), "东旺村 is not one of your villages"},
		{"coordinator writes", coord, coordReg, book(coordReg.Replica, "南香村"),
			"coordinators read everything and write nothing"},
		{"staff writes a village", stf, stfReg, &v1.Record{Table: "villages", Id: uuid.NewString(),
			Version: &v1.VersionVector{Replicas: []uint32{stfReg.Replica}, Counters: []uint64{1}},
			Fields: []*v1.Field{
				{Name: "name", Value: text("新村"), Dot: &v1.Dot{Replica: stfReg.Replica, Counter: 1, Hlc: 1}},
				{Name: "pinyin", Value: text("Xincun"), Dot: &v1.Dot{Replica: stfReg.Replica, Counter: 1, Hlc: 1}},
			}},
			"only admins change villages"},
	}
	for _, w := range writes {
		t.Run(w.name, func(t *testing.T) {
			var ok *v1.Record
			if w.reg.Role != "coordinator" {
				ok = book(w.reg.Replica, "南香村")
			}
			changes := []*v1.Record{w.denied}
			if ok != nil {
				changes = append(changes, ok)
			}
			var booksBefore int64
			e.st.Reader().QueryRow(`SELECT count(*) FROM books`).Scan(&booksBefore)
			resp, err := w.client.Sync(ctx, &v1.SyncRequest{Replica: w.reg.Replica, Changes: changes})
			if err != nil {
				t.Fatal(err)
			}
			if r := resp.Results[0]; r.Outcome != v1.Outcome_OUTCOME_REJECTED || r.Code != "permission_denied" ||
				!strings.Contains(r.Message, w.want) {
				t.Errorf("denied change: %v %s %q; want permission_denied, %q", r.Outcome, r.Code, r.Message, w.want)
			}
			var booksAfter, held int64
			e.st.Reader().QueryRow(`SELECT count(*) FROM books`).Scan(&booksAfter)
			e.st.Reader().QueryRow(`SELECT count(*) FROM held_changes WHERE record_id = ?`, w.denied.Id).Scan(&held)
			if ok != nil && (resp.Results[1].Outcome != v1.Outcome_OUTCOME_APPLIED || booksAfter != booksBefore+1) {
				t.Errorf("the allowed change: %v; books %d -> %d", resp.Results[1].Outcome, booksBefore, booksAfter)
			}
			if held != 1 {
				t.Errorf("the refused change is not kept for staff (%d held)", held)
			}
		})
	}

	// A volunteer who pushes to a record of another village, by its id, is
	// refused and is not sent that record's state in the result.
	other := book(stfReg.Replica, "东旺村")
	if _, err := stf.Sync(ctx, &v1.SyncRequest{Replica: stfReg.Replica, Changes: []*v1.Record{other}}); err != nil {
		t.Fatal(err)
	}
	guess := book(volReg.Replica, "南香村")
	guess.Id = other.Id
	resp, err := vol.Sync(ctx, &v1.SyncRequest{Replica: volReg.Replica, Changes: []*v1.Record{guess}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Results[0]; r.Outcome != v1.Outcome_OUTCOME_REJECTED || r.Code != "permission_denied" ||
		r.Current != nil {
		t.Errorf("push to another village's record: %v %s, current %v; want permission_denied and no state",
			r.Outcome, r.Code, r.Current)
	}

	// A volunteer's pull holds none of another village's records.
	pull, err := vol.Sync(ctx, &v1.SyncRequest{Replica: volReg.Replica})
	if err != nil {
		t.Fatal(err)
	}
	if !pull.Rescoped || len(pull.Scope) != 1 || pull.Scope[0] != "南香村" || pull.AllVillages {
		t.Errorf("volunteer scope: %v %v %v", pull.Rescoped, pull.Scope, pull.AllVillages)
	}
	seen := 0
	for _, r := range pull.Changes {
		for _, f := range r.Fields {
			if f.Name == "village" && f.Value.GetText() != "南香村" {
				t.Errorf("volunteer of 南香村 pulled %s %s of %s", r.Table, r.Id, f.Value.GetText())
			}
		}
		seen++
	}
	if seen == 0 {
		t.Error("the volunteer pulled nothing of its own village either")
	}

	// No token in clear in the logs or the database.
	for _, reg := range []*v1.EnrollResponse{volReg, coordReg, stfReg, revokedReg} {
		if strings.Contains(e.logs.String(), reg.Token) {
			t.Errorf("token of replica %d is in the log", reg.Replica)
		}
		for _, f := range []string{e.file, e.file + "-wal"} {
			b, _ := os.ReadFile(f)
			if bytes.Contains(b, []byte(reg.Token)) {
				t.Errorf("token of replica %d is in %s in clear", reg.Replica, filepath.Base(f))
			}
		}
	}
	if strings.Contains(e.logs.String(), reused) {
		t.Error("an enrollment code is in the log")
	}
}

func TestRateLimitPerDevice(t *testing.T) {
	e := startAccess(t, rpc.Limits{RequestsPerSecond: 0.001, Burst: 3})
	ctx := context.Background()
	c, reg := e.device(t, "busy", store.Staff)
	other, otherReg := e.device(t, "calm", store.Staff)
	var last error
	for range 4 {
		_, last = c.Sync(ctx, &v1.SyncRequest{Replica: reg.Replica})
	}
	if connect.CodeOf(last) != connect.CodeResourceExhausted || !strings.Contains(last.Error(), "rate") {
		t.Errorf("4th call in a burst of 3: %v, want resource_exhausted", last)
	}
	// At 0.001 a second the next token is 1,000 s away: the answer says so.
	var ce *connect.Error
	if !errors.As(last, &ce) {
		t.Fatalf("%v is not a Connect error", last)
	}
	if ms, _ := strconv.Atoi(ce.Meta().Get("Retry-After-Ms")); ce.Meta().Get("Retry-After") != "1000" ||
		ms < 990_000 || ms > 1_000_000 {
		t.Errorf("Retry-After %q, Retry-After-Ms %q; want 1000 s",
			ce.Meta().Get("Retry-After"), ce.Meta().Get("Retry-After-Ms"))
	}
	if _, err := other.Sync(ctx, &v1.SyncRequest{Replica: otherReg.Replica}); err != nil {
		t.Errorf("another device is limited too: %v", err)
	}
}

// Found in review: staff enroll and revoke devices of volunteers and
// coordinators only; enrolling a device as an admin would make them one.
func TestStaffCannotBecomeAdmin(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	_, stfReg := e.device(t, "陈伟", store.Staff)
	_, adminReg := e.device(t, "root", store.Admin)
	_, volReg := e.device(t, "王芳", store.Volunteer, "南香村")
	staff := villagesyncv1connect.NewAccessServiceClient(bearer.Client(nil, stfReg.Token), e.url)
	before := e.state(t)
	for _, user := range []string{"root", "陈伟"} {
		if _, err := staff.CreateEnrollmentCode(ctx,
			&v1.CreateEnrollmentCodeRequest{User: user}); connect.CodeOf(err) != connect.CodePermissionDenied {
			t.Errorf("staff enroll a device of %s: %v, want permission_denied", user, err)
		}
	}
	if _, err := staff.RevokeDevice(ctx,
		&v1.RevokeDeviceRequest{Replica: adminReg.Replica}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("staff revoke an admin's device: %v, want permission_denied", err)
	}
	if after := e.state(t); after != before {
		t.Errorf("state changed: %s -> %s", before, after)
	}
	if _, err := staff.CreateEnrollmentCode(ctx, &v1.CreateEnrollmentCodeRequest{User: "王芳"}); err != nil {
		t.Errorf("staff enroll a volunteer's device: %v", err)
	}
	if _, err := staff.RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: volReg.Replica}); err != nil {
		t.Errorf("staff revoke a volunteer's device: %v", err)
	}
}

// Found in review: a device may not vouch for writes of other replicas
// that the server never saw (real ones would later be taken as already
// had): the claim is clamped to what the server has seen.
func TestForgedVersionIsClamped(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol, volReg := e.device(t, "王芳", store.Volunteer, "南香村")
	forged := book(volReg.Replica, "南香村")
	forged.Version = &v1.VersionVector{Replicas: []uint32{1, volReg.Replica}, Counters: []uint64{999, 1}}
	resp, err := vol.Sync(ctx, &v1.SyncRequest{Replica: volReg.Replica, Changes: []*v1.Record{forged}})
	if err != nil {
		t.Fatal(err)
	}
	if r := resp.Results[0]; r.Outcome == v1.Outcome_OUTCOME_REJECTED {
		t.Fatalf("forged version: %v %q", r.Outcome, r.Message)
	}
	stf, stfReg := e.device(t, "陈伟", store.Staff)
	pull, err := stf.Sync(ctx, &v1.SyncRequest{Replica: stfReg.Replica})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range pull.Changes {
		if r.Id == forged.Id && (len(r.Version.Replicas) != 1 || r.Version.Replicas[0] != volReg.Replica) {
			t.Errorf("the server keeps the forged claim: %v", r.Version)
		}
	}
}

// Found in review: enrollment, the one call without a token, is limited
// per client address.
func TestEnrollIsRateLimited(t *testing.T) {
	e := startAccess(t, rpc.Limits{RequestsPerSecond: 0.001, Burst: 2})
	access := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, e.url)
	var last error
	for range 3 {
		_, last = access.Enroll(context.Background(), &v1.EnrollRequest{Code: "guess", DeviceName: "x"})
	}
	if connect.CodeOf(last) != connect.CodeResourceExhausted {
		t.Errorf("third guess in a burst of 2: %v, want resource_exhausted", last)
	}
}
