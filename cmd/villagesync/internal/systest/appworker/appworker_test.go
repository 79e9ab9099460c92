package appworker

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/api/server"
	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/appharness"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

func TestMain(m *testing.M) {
	os.Exit(chromium.Main(m))
}

type env struct {
	st      *store.Store
	url     string
	handler http.Handler // the server's API, the web apps and the harness
}

func start(t testing.TB) *env {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e := &env{st: st, handler: appharness.Handler(server.NewHandler(st, slog.New(slog.DiscardHandler),
		server.Options{UI: web.Handler()}))}
	e.serve(t, e.handler)
	return e
}

// serve serves h on 127.0.0.1 for the rest of the test, at e.url.
func (e *env) serve(t testing.TB, h http.Handler) {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	e.url = srv.URL
}

// eval evaluates a JavaScript expression (awaiting a promise) into out;
// a failure names the expression.
func (p *phone) eval(expr string, out any) {
	p.T.Helper()
	p.Eval(expr, expr, out)
}

func (e *env) code(t testing.TB, user string, role store.Role, villages ...string) string {
	t.Helper()
	c, err := e.st.CodeFor(context.Background(), user, role, villages)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// phone is one browser context (its own OPFS) with the harness open.
type phone struct {
	*chromium.Tab
}

func (e *env) phone(t testing.TB) *phone {
	t.Helper()
	ctx, _ := chromium.NewContext(t, chromium.Browser(t), "open a browser context", chromedp.WithNewBrowserContext())
	// The harness's markup says nothing of the worker: failures name the
	// step alone.
	p := &phone{chromium.New(t, ctx, chromium.Options{StepTimeout: time.Minute, EvalTimeout: 2 * time.Minute, Quiet: true})}
	p.Do("open the harness", chromedp.Navigate(e.url+appharness.Path))
	p.call(`{op: "open"}`)
	return p
}

// response is protocol.ts's Response.
type response struct {
	OK       bool   `json:"ok"`
	Error    string `json:"error"`
	Code     string `json:"code"`
	Problems []struct {
		Field   string `json:"field"`
		Message string `json:"message"`
	} `json:"problems"`
	RecordID string           `json:"recordId"`
	Identity *identity        `json:"identity"`
	State    *state           `json:"state"`
	Listed   []listed         `json:"listed"`
	Refused  []refused        `json:"refused"`
	Exported *json.RawMessage `json:"exported"`
	Opened   *json.RawMessage `json:"opened"`
}

type identity struct {
	Replica  uint32   `json:"replica"`
	User     string   `json:"user"`
	Villages []string `json:"villages"`
}

type state struct {
	Pending  int      `json:"pending"`
	Oldest   int64    `json:"oldestPendingMs"`
	LastSync int64    `json:"lastSyncMs"`
	Error    string   `json:"lastError"`
	Offline  bool     `json:"offline"`
	Rejected int      `json:"rejected"`
	Villages []string `json:"villages"`
	// The photos of the attachment lane.
	PhotosPending int `json:"photosPending"`
	PhotosRefused int `json:"photosRefused"`
}

type listed struct {
	ID      string            `json:"id"`
	Fields  map[string]string `json:"fields"`
	Pending bool              `json:"pending"`
}

type refused struct {
	Table    string            `json:"table"`
	RecordID string            `json:"recordId"`
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Change   map[string]string `json:"change"`
}

// try sends one request (a JavaScript object literal) and returns the
// worker's answer, refused or not.
func (p *phone) try(req string) response {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, time.Minute)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](`Promise.race([vs.call(`+req+`), new Promise((r) => setTimeout(() => r({ok: false, error: "no answer in 20 s; page errors: " + JSON.stringify(window.__errors || [])}), 20000))])`, chromedp.EvalAwaitPromise))
	if err != nil {
		p.T.Fatalf("%s: %v", req, err)
	}
	var r response
	if err := json.Unmarshal(raw, &r); err != nil {
		p.T.Fatalf("%s: %v in %s", req, err, raw)
	}
	return r
}

// call is try for a request that must succeed.
func (p *phone) call(req string) response {
	p.T.Helper()
	r := p.try(req)
	if !r.OK {
		p.T.Fatalf("%s: refused: %s (%s) %v", req, r.Error, r.Code, r.Problems)
	}
	return r
}

// str evaluates a JavaScript expression to a string.
func (p *phone) str(expr string) string {
	p.T.Helper()
	return p.Str(expr, expr)
}

func js(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A volunteer's phone enrolls with its code, checks a form as the server
// would (in her language, naming the field) and saves nothing then,
// saves a class that waits as pending, syncs it to the server, and sees a
// change the server refused with the server's reason in Chinese.
func TestEnrollSaveSyncRefuse(t *testing.T) {
	e := start(t)
	p := e.phone(t)
	if r := p.try(fmt.Sprintf(`{op: "enroll", code: "nope", deviceName: "手机", lang: "zh"}`)); r.OK || r.Code == "" {
		t.Fatalf("a bad code: %+v; want a refusal with its code", r)
	}
	id := p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`, js(e.code(t, "xiaoli", store.Volunteer, "南香村"))))
	if id.Identity == nil || id.Identity.User != "xiaoli" || strings.Join(id.Identity.Villages, ",") != "南香村" {
		t.Fatalf("identity %+v; want xiaoli of 南香村", id.Identity)
	}
	bad := p.try(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "很多"}}`)
	if bad.OK || len(bad.Problems) == 0 || bad.Problems[0].Field != "children_present" || bad.Code != "invalid_argument" {
		t.Fatalf("children_present=很多: %+v; want refused naming children_present", bad)
	}
	// Said in her language alone, as the server would.
	if over := p.try(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "250"}}`); over.OK ||
		len(over.Problems) != 1 || over.Problems[0].Message != "出席儿童数应在0到200之间，实为250" {
		t.Fatalf("children_present=250: %+v; want the Chinese alone", over)
	}
	if s := p.call(`{op: "state", lang: "zh"}`).State; s.Pending != 0 {
		t.Fatalf("a refused form saved something: %+v", s)
	}
	saved := p.call(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "14", class_group: "三年级"}}`)
	got := p.call(fmt.Sprintf(`{op: "get", table: "tutoring_sessions", recordId: %s, lang: "zh"}`, js(saved.RecordID)))
	if len(got.Listed) != 1 || got.Listed[0].Fields["children_present"] != "14" || got.Listed[0].Fields["start_time"] == "" ||
		got.Listed[0].Fields["session_date"] == "" || !got.Listed[0].Pending {
		t.Fatalf("saved %s: %+v; want 14 children, the form's defaults, pending", saved.RecordID, got.Listed)
	}
	if s := p.call(`{op: "state", lang: "zh"}`).State; s.Pending != 1 || s.Oldest == 0 {
		t.Fatalf("after a save: %+v; want one pending since now", s)
	}
	// The unsynced changes as a file (a sealed push file): carry_test.go.
	// A change the server refuses although this device let it through, as
	// one saved by an older version of the app that lacked a rule: its
	// reason comes back in her language.
	other := p.call(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "3"}}`)
	p.call(fmt.Sprintf(`{op: "exec", sql: "UPDATE tutoring_sessions SET children_present = -4 WHERE id = ?", bind: [%s]}`, js(other.RecordID)))
	s := p.call(`{op: "sync", lang: "zh"}`).State
	if s.Pending != 0 || s.LastSync == 0 || s.Error != "" || s.Rejected != 1 {
		t.Fatalf("after sync: %+v; want nothing pending, synced, one refused", s)
	}
	rs := p.call(`{op: "rejected", lang: "zh"}`).Refused
	if len(rs) != 1 || rs[0].RecordID != other.RecordID || rs[0].Code != "invalid_argument" || rs[0].Message != "夜间7点钟课堂.出席儿童数：出席儿童数应在0到200之间，实为-4" ||
		rs[0].Change["children_present"] != "-4" {
		t.Fatalf("refused: %+v; want the class of -4 children, invalid_argument, its reason in Chinese alone", rs)
	}
	var n int
	if err := e.st.Reader().QueryRow(`SELECT count(*) FROM tutoring_sessions WHERE _deleted = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("server holds %d classes; want the one of her village", n)
	}
}

func hasHan(s string) bool {
	for _, r := range s {
		if r >= 0x4e00 && r <= 0x9fff {
			return true
		}
	}
	return false
}

// An edit's emptied box clears the field (NULL, not ""), and a required
// one emptied is refused in her words; a box that says "null" keeps the
// word. A file made by an earlier app, lacking a column this one has,
// opens and takes the column; the villages she serves come with the
// sync's state.
func TestEditsAndAnOlderFile(t *testing.T) {
	e := start(t)
	p := e.phone(t)
	p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`, js(e.code(t, "xiaoli", store.Volunteer, "南香村"))))
	id := p.call(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "9", notes: "雨天"}}`).RecordID
	p.call(fmt.Sprintf(`{op: "edit", table: "tutoring_sessions", recordId: %s, lang: "zh", fields: {notes: ""}}`, js(id)))
	notes := p.str(fmt.Sprintf(`vs.call({op: "query", sql: "SELECT quote(notes) AS q FROM tutoring_sessions WHERE id = ?", bind: [%s]}).then((r) => r.rows[0].q)`, js(id)))
	if notes != "NULL" {
		t.Errorf("notes emptied in an edit: stored %s; want NULL", notes)
	}
	if r := p.try(fmt.Sprintf(`{op: "edit", table: "tutoring_sessions", recordId: %s, lang: "zh", fields: {village: ""}}`, js(id))); r.OK ||
		len(r.Problems) != 1 || r.Problems[0].Field != "village" {
		t.Errorf("village emptied: %+v; want refused naming village", r)
	}
	p.call(fmt.Sprintf(`{op: "edit", table: "tutoring_sessions", recordId: %s, lang: "zh", fields: {notes: "null"}}`, js(id)))
	if got := p.call(fmt.Sprintf(`{op: "get", table: "tutoring_sessions", recordId: %s, lang: "zh"}`, js(id))).Listed; got[0].Fields["notes"] != "null" {
		t.Errorf(`notes typed "null": %q; want the word`, got[0].Fields["notes"])
	}
	if s := p.call(`{op: "sync", lang: "zh"}`).State; s.Error != "" || strings.Join(s.Villages, ",") != "南香村" {
		t.Errorf("after sync: %+v; want her village", s)
	}

	// An older app's file: no notes column in tutoring_sessions, and no
	// record with a notes field.
	p.call(`{op: "exec", sql: "UPDATE tutoring_sessions SET _dots = json_remove(_dots, '$.notes')"}`)
	p.call(`{op: "exec", sql: "ALTER TABLE tutoring_sessions DROP COLUMN notes"}`)
	p.call(`{op: "close"}`)
	p.call(`{op: "open"}`)
	again := p.call(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "5", notes: "升级之后"}}`).RecordID
	if got := p.call(fmt.Sprintf(`{op: "get", table: "tutoring_sessions", recordId: %s, lang: "zh"}`, js(again))).Listed; len(got) != 1 ||
		got[0].Fields["notes"] != "升级之后" {
		t.Errorf("saved after the upgrade: %+v; want its notes", got)
	}
	if got := p.call(fmt.Sprintf(`{op: "get", table: "tutoring_sessions", recordId: %s, lang: "zh"}`, js(id))).Listed; len(got) != 1 ||
		got[0].Fields["children_present"] != "9" {
		t.Errorf("the class saved before the upgrade: %+v; want it kept", got)
	}
}
