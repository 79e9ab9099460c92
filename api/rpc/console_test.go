package rpc_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// langClient sends Accept-Language with every request, as the web
// console does ("" sends none, as the command line does).
type langClient struct {
	hc   connect.HTTPClient
	lang string
}

func (c langClient) Do(r *http.Request) (*http.Response, error) {
	if c.lang != "" {
		r.Header.Set("Accept-Language", c.lang)
	}
	return c.hc.Do(r)
}

// as is an HTTP client that authenticates with token ("" for none) and
// asks for lang.
func as(token, lang string) connect.HTTPClient {
	hc := connect.HTTPClient(http.DefaultClient)
	if token != "" {
		hc = bearer.Client(nil, token)
	}
	return langClient{hc: hc, lang: lang}
}

// replicaOf enrolls a device file for user (made with role and villages
// unless it exists) against e's server.
func (e *accessEnv) replicaOf(t *testing.T, user string, role store.Role, villages ...string) *replica.Replica {
	t.Helper()
	code, err := e.st.CodeFor(context.Background(), user, role, villages)
	if err != nil {
		t.Fatal(err)
	}
	r, err := replica.Init(context.Background(), filepath.Join(t.TempDir(), "device.db"), e.url, code,
		user+"-phone", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// token enrolls one more device (a browser) for an existing user and
// returns its token.
func (e *accessEnv) token(t *testing.T, user string) string {
	t.Helper()
	code, _, err := e.st.NewEnrollmentCode(context.Background(), user, 0)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, e.url).
		Enroll(context.Background(), &v1.EnrollRequest{Code: code, DeviceName: user + "-browser"})
	if err != nil {
		t.Fatal(err)
	}
	return reg.Token
}

func errorField(err error) string {
	var ce *connect.Error
	if !errors.As(err, &ce) {
		return ""
	}
	for _, d := range ce.Details() {
		if m, derr := d.Value(); derr == nil {
			if ed, ok := m.(*v1.ErrorDetail); ok {
				return ed.GetField()
			}
		}
	}
	return ""
}

func hasHan(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// Every refusal a console form can meet names the field at fault (in a
// v1.ErrorDetail and at the start of the message), has its Connect code,
// says it in the language the request asks for, and changes nothing.
// Without Accept-Language (the command line) the message is English.
func TestFormErrorsNameTheFieldInBothLanguages(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	_, adminReg := e.device(t, "root", store.Admin)
	_, staffReg := e.device(t, "陈伟", store.Staff)
	_, volReg := e.device(t, "王芳", store.Volunteer, "南香村")
	expired, _, err := e.st.NewEnrollmentCode(ctx, "王芳", 0)
	if err != nil {
		t.Fatal(err)
	}
	e.exec(t, `UPDATE enrollment_codes SET expires_ms = 1 WHERE used_ms IS NULL`)
	used, _, err := e.st.NewEnrollmentCode(ctx, "王芳", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, e.url).
		Enroll(ctx, &v1.EnrollRequest{Code: used, DeviceName: "first"}); err != nil {
		t.Fatal(err)
	}
	fresh, _, err := e.st.NewEnrollmentCode(ctx, "王芳", 0)
	if err != nil {
		t.Fatal(err)
	}
	// An open flag to resolve wrongly: the same class logged twice.
	dev := e.replicaOf(t, "李雷", store.Staff)
	for range 2 {
		replicatest.Put(t, dev, "tutoring_sessions", "", "session_date", "2024-03-05", "class_group", "三年级")
	}
	replicatest.SyncOK(t, dev)
	flags, err := e.st.ListConflicts(ctx, store.ConflictFilter{OpenOnly: true})
	if err != nil || len(flags) != 1 {
		t.Fatalf("want one open flag: %v %v", flags, err)
	}
	flagID := flags[0].LogID
	record := flags[0].ID

	type clients struct {
		anon                 villagesyncv1connect.AccessServiceClient
		admin, staff, volAcc villagesyncv1connect.AccessServiceClient
		conflicts            villagesyncv1connect.ConflictServiceClient
		report               villagesyncv1connect.ReportServiceClient
		badToken             villagesyncv1connect.AccessServiceClient
	}
	clientsIn := func(lang string) clients {
		return clients{
			anon:      villagesyncv1connect.NewAccessServiceClient(as("", lang), e.url),
			admin:     villagesyncv1connect.NewAccessServiceClient(as(adminReg.Token, lang), e.url),
			staff:     villagesyncv1connect.NewAccessServiceClient(as(staffReg.Token, lang), e.url),
			volAcc:    villagesyncv1connect.NewAccessServiceClient(as(volReg.Token, lang), e.url),
			conflicts: villagesyncv1connect.NewConflictServiceClient(as(staffReg.Token, lang), e.url),
			report:    villagesyncv1connect.NewReportServiceClient(as(staffReg.Token, lang), e.url),
			badToken:  villagesyncv1connect.NewAccessServiceClient(as("not-a-token", lang), e.url),
		}
	}
	long := strings.Repeat("长", 65)
	cases := []struct {
		name  string
		field string
		code  connect.Code
		call  func(c clients) error
	}{
		{"unknown enrollment code", "code", connect.CodeUnauthenticated, func(c clients) error {
			_, err := c.anon.Enroll(ctx, &v1.EnrollRequest{Code: "no-such-code", DeviceName: "x"})
			return err
		}},
		{"expired enrollment code", "code", connect.CodeUnauthenticated, func(c clients) error {
			_, err := c.anon.Enroll(ctx, &v1.EnrollRequest{Code: expired, DeviceName: "x"})
			return err
		}},
		{"used enrollment code", "code", connect.CodeUnauthenticated, func(c clients) error {
			_, err := c.anon.Enroll(ctx, &v1.EnrollRequest{Code: used, DeviceName: "x"})
			return err
		}},
		{"device name with an escape", "device_name", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.anon.Enroll(ctx, &v1.EnrollRequest{Code: fresh, DeviceName: "a\x1b[2Jb"})
			return err
		}},
		{"no device name", "device_name", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.anon.Enroll(ctx, &v1.EnrollRequest{Code: fresh})
			return err
		}},
		{"bad token", "token", connect.CodeUnauthenticated, func(c clients) error {
			_, err := c.badToken.Whoami(ctx, &v1.WhoamiRequest{})
			return err
		}},
		{"a volunteer lists users", "role", connect.CodePermissionDenied, func(c clients) error {
			_, err := c.volAcc.ListUsers(ctx, &v1.ListUsersRequest{})
			return err
		}},
		{"user without a name", "name", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.CreateUser(ctx, &v1.CreateUserRequest{Name: " ", Role: "staff"})
			return err
		}},
		{"user who exists", "name", connect.CodeAlreadyExists, func(c clients) error {
			_, err := c.admin.CreateUser(ctx, &v1.CreateUserRequest{Name: "王芳", Role: "volunteer", Villages: []string{"南香村"}})
			return err
		}},
		{"unknown role", "role", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.CreateUser(ctx, &v1.CreateUserRequest{Name: "新人", Role: "boss"})
			return err
		}},
		{"a village typo", "villages", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.CreateUser(ctx, &v1.CreateUserRequest{Name: "新人", Role: "volunteer", Villages: []string{"南乡村"}})
			return err
		}},
		{"a volunteer without villages", "villages", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.CreateUser(ctx, &v1.CreateUserRequest{Name: "新人", Role: "volunteer"})
			return err
		}},
		{"staff given villages", "villages", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.CreateUser(ctx, &v1.CreateUserRequest{Name: "新人", Role: "staff", Villages: []string{"南香村"}})
			return err
		}},
		{"villages of an unknown user", "user", connect.CodeNotFound, func(c clients) error {
			_, err := c.admin.SetVillages(ctx, &v1.SetVillagesRequest{User: "nobody", Villages: []string{"南香村"}})
			return err
		}},
		{"villages with a typo", "villages", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.SetVillages(ctx, &v1.SetVillagesRequest{User: "王芳", Villages: []string{"Nanxing"}})
			return err
		}},
		{"village without pinyin", "name", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.AddVillage(ctx, &v1.AddVillageRequest{Name: "新村"})
			return err
		}},
		{"village that exists", "name", connect.CodeAlreadyExists, func(c clients) error {
			_, err := c.admin.AddVillage(ctx, &v1.AddVillageRequest{Name: "新村", Pinyin: "Wangyu"})
			return err
		}},
		{"alias with a comma", "aliases", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.admin.AddVillage(ctx, &v1.AddVillageRequest{Name: "新村", Pinyin: "Xincun", Aliases: []string{"a,b"}})
			return err
		}},
		{"code for an unknown user", "user", connect.CodeNotFound, func(c clients) error {
			_, err := c.staff.CreateEnrollmentCode(ctx, &v1.CreateEnrollmentCodeRequest{User: "nobody"})
			return err
		}},
		{"code for an admin's device", "user", connect.CodePermissionDenied, func(c clients) error {
			_, err := c.staff.CreateEnrollmentCode(ctx, &v1.CreateEnrollmentCodeRequest{User: "root"})
			return err
		}},
		{"code valid too long", "ttl_seconds", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.staff.CreateEnrollmentCode(ctx, &v1.CreateEnrollmentCodeRequest{User: "王芳", TtlSeconds: 8 * 24 * 3600})
			return err
		}},
		{"revoke an unknown device", "replica", connect.CodeNotFound, func(c clients) error {
			_, err := c.staff.RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: 9999})
			return err
		}},
		{"revoke an admin's device", "replica", connect.CodePermissionDenied, func(c clients) error {
			_, err := c.staff.RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: adminReg.Replica})
			return err
		}},
		{"resolve no entry", "id", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.conflicts.ResolveConflict(ctx, &v1.ResolveConflictRequest{Resolution: "merge"})
			return err
		}},
		{"resolve an unknown entry", "id", connect.CodeNotFound, func(c clients) error {
			_, err := c.conflicts.ResolveConflict(ctx, &v1.ResolveConflictRequest{Id: 9999, Resolution: "merge"})
			return err
		}},
		{"resolve a flag as a conflict", "resolution", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.conflicts.ResolveConflict(ctx, &v1.ResolveConflictRequest{Id: flagID, Resolution: "take_loser"})
			return err
		}},
		{"resolve for a long name", "by", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.conflicts.ResolveConflict(ctx, &v1.ResolveConflictRequest{Id: flagID, Resolution: "merge", By: long})
			return err
		}},
		{"open and resolved only", "resolved_only", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.conflicts.ListConflicts(ctx, &v1.ListConflictsRequest{OpenOnly: true, ResolvedOnly: true})
			return err
		}},
		{"too many conflicts", "limit", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.conflicts.ListConflicts(ctx, &v1.ListConflictsRequest{Limit: 5000})
			return err
		}},
		{"report from a bad month", "from_month", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.report.GetReport(ctx, &v1.GetReportRequest{FromMonth: "2024-13"})
			return err
		}},
		{"report ending before it starts", "to_month", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.report.GetReport(ctx, &v1.GetReportRequest{FromMonth: "2024-06", ToMonth: "2024-01"})
			return err
		}},
		{"report of a village typo", "villages", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.report.GetReport(ctx, &v1.GetReportRequest{Villages: []string{"南乡村"}})
			return err
		}},
		{"export as pdf", "format", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.report.ExportReport(ctx, &v1.ExportReportRequest{Format: "pdf"})
			return err
		}},
		{"export in French", "lang", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.report.ExportReport(ctx, &v1.ExportReportRequest{Format: "csv", Lang: "fr"})
			return err
		}},
		{"export of a bad month", "report.from_month", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.report.ExportReport(ctx, &v1.ExportReportRequest{Format: "xlsx",
				Report: &v1.GetReportRequest{FromMonth: "June"}})
			return err
		}},
		{"history of an unknown table", "table", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.staff.ListChanges(ctx, &v1.ListChangesRequest{Table: "people", RecordId: record})
			return err
		}},
		{"history of a bad id", "record_id", connect.CodeInvalidArgument, func(c clients) error {
			_, err := c.staff.ListChanges(ctx, &v1.ListChangesRequest{Table: "tutoring_sessions", RecordId: "42"})
			return err
		}},
	}
	adminAcc := villagesyncv1connect.NewAccessServiceClient(bearer.Client(nil, adminReg.Token), e.url)
	users := func() *v1.ListUsersResponse {
		t.Helper()
		u, err := adminAcc.ListUsers(ctx, &v1.ListUsersRequest{})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	openFlags := func() int64 {
		var n int64
		e.st.Reader().QueryRow(`SELECT count(*) FROM conflicts WHERE resolution IS NULL`).Scan(&n)
		return n
	}
	cli, en, zh := clientsIn(""), clientsIn("en"), clientsIn("zh-Hans;q=0.9,en;q=0.8")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before, usersBefore, flagsBefore := e.state(t), users(), openFlags()
			var english string
			for _, l := range []struct {
				name string
				c    clients
			}{{"none", cli}, {"en", en}, {"zh", zh}} {
				err := tc.call(l.c)
				var ce *connect.Error
				if !errors.As(err, &ce) {
					t.Fatalf("%s: %v, want a Connect error", l.name, err)
				}
				if ce.Code() != tc.code {
					t.Errorf("%s: code %v, want %v (%v)", l.name, ce.Code(), tc.code, err)
				}
				if f := errorField(err); f != tc.field {
					t.Errorf("%s: ErrorDetail field %q, want %q (%v)", l.name, f, tc.field, err)
				}
				msg := ce.Message()
				switch l.name {
				case "none":
					english = msg
					if !strings.HasPrefix(msg, tc.field+": ") {
						t.Errorf("%s: %q does not start with %q", l.name, msg, tc.field+": ")
					}
				case "en":
					if msg != english {
						t.Errorf("en: %q, want what the command line gets: %q", msg, english)
					}
				case "zh":
					label := schema.FieldName(schema.ZH, tc.field)
					want := label + "："
					if !strings.HasPrefix(msg, want) || !hasHan(strings.TrimPrefix(msg, want)) || msg == english {
						t.Errorf("zh: %q, want Chinese after %q (en: %q)", msg, want, english)
					}
					// The label says the field already: "角色：角色 志愿者…" reads
					// the word twice.
					if strings.HasPrefix(strings.TrimPrefix(msg, want), label) {
						t.Errorf("zh: %q says %q twice", msg, label)
					}
				}
				t.Logf("%s: %s", l.name, msg)
			}
			if after := e.state(t); after != before {
				t.Errorf("state changed: %s -> %s", before, after)
			}
			if after := users(); !proto.Equal(after, usersBefore) {
				t.Errorf("users changed:\n%v\n%v", usersBefore, after)
			}
			if after := openFlags(); after != flagsBefore {
				t.Errorf("open conflicts %d -> %d", flagsBefore, after)
			}
		})
	}
}

func TestLanguage(t *testing.T) {
	for header, want := range map[string]schema.Lang{
		"zh": schema.ZH, "zh-CN": schema.ZH, "zh-Hans;q=0.9,en;q=0.8": schema.ZH, "zh-TW": schema.ZH,
		"en;q=0.5,zh;q=0.8": schema.ZH, "fr,zh;q=0.5": schema.ZH,
		"en": schema.EN, "en-GB,zh;q=0.5": schema.EN, "": schema.EN, "*": schema.EN, "fr": schema.EN,
		"zh;q=0,en": schema.EN, "@@@": schema.EN,
		// One malformed entry fails the parser: then each entry's primary
		// subtag in the order written, q=0 still excluding one.
		"zh,en;q=2": schema.ZH, "zh;q=abc": schema.ZH, "en,zh;q=2": schema.EN, "zh-CN;q=abc,en": schema.ZH,
		"fr;q=x, ZH-Hant": schema.ZH, "zh;q=0,en;q=abc": schema.EN, "zh;q=0.000,de;q=x": schema.EN,
		"de;q=9,zh_CN": schema.ZH, "x;q=2,en": schema.EN, "en;q=1.5,zh": schema.EN, "zh;q=0.5,en;q=1": schema.EN,
	} {
		if got := rpc.Language(header); got != want {
			t.Errorf("Language(%q) = %s, want %s", header, got, want)
		}
	}
}
