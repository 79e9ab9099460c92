package volunteer

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// realSrv is a real server with the app's files, behind switches a test
// flips: refuse answers 503 to every request (a server that is down),
// drop closes every connection unanswered (no signal: DevTools' offline
// emulation of a tab does not reach its dedicated worker's requests, so
// the link is cut here), and dropped counts the Sync calls cut so.
type realSrv struct {
	URL     string
	st      *store.Store
	dir     string
	refuse  atomic.Bool
	drop    atomic.Bool
	dropped atomic.Int64
	// dropSync cuts the sync calls alone: the app's files still come.
	dropSync atomic.Bool
	// dropUploads cuts the attachment lane's uploads alone.
	dropUploads atomic.Bool
	// nextBuild serves a service worker of another build (its version
	// changed), as the server of a newer binary would.
	nextBuild atomic.Bool
}

func realServer(t *testing.T) *realSrv {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(context.Background(), filepath.Join(dir, "server.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	s := &realSrv{st: st, dir: dir}
	h := server.NewHandler(st, slog.New(slog.DiscardHandler), server.Options{UI: web.Handler()})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.refuse.Load() {
			http.Error(w, "refused by the test", http.StatusServiceUnavailable)
			return
		}
		if s.drop.Load() || (s.dropSync.Load() && strings.HasSuffix(r.URL.Path, "/Sync")) ||
			(s.dropUploads.Load() && strings.HasSuffix(r.URL.Path, "AttachmentService/Upload")) {
			if strings.HasSuffix(r.URL.Path, "/Sync") {
				s.dropped.Add(1)
			}
			panic(http.ErrAbortHandler) // the connection closes with no answer
		}
		if s.nextBuild.Load() && r.URL.Path == "/app/sw.js" {
			rec := httptest.NewRecorder()
			r.Header.Del("Accept-Encoding") // the body to edit, not its gzip
			h.ServeHTTP(rec, r)
			// The build's version is the one quoted 16-digit hash in it
			// (the file names carry theirs inside longer strings).
			version := regexp.MustCompile(`"[0-9a-f]{16}"`)
			if n := len(version.FindAllString(rec.Body.String(), -1)); n != 1 {
				http.Error(w, fmt.Sprintf("sw.js holds %d versions", n), http.StatusInternalServerError)
				return
			}
			body := version.ReplaceAllString(rec.Body.String(), `"ffffffffffffffff"`)
			w.Header().Set("Content-Type", rec.Header().Get("Content-Type"))
			w.Header().Set("Cache-Control", "no-cache")
			fmt.Fprint(w, body)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

// waitHolds polls the server's database until query (a count) is 1:
// what the app synced, seen where it went.
func (s *realSrv) waitHolds(t testing.TB, what, query string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(actionTimeout)
	for {
		var n int
		if err := s.st.Reader().QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if n == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, actionTimeout)
		}
		time.Sleep(20 * time.Millisecond) // a poll's interval, not a wait for an outcome
	}
}

// code is a one-time enrollment code for a new user.
func (s *realSrv) code(t testing.TB, user string, role store.Role, villages ...string) string {
	t.Helper()
	code, err := s.st.CodeFor(context.Background(), user, role, villages)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// device enrolls a Go device (the CLI's replica) for a new user.
func (s *realSrv) device(t testing.TB, user string, role store.Role, villages ...string) *replica.Replica {
	t.Helper()
	r, err := replica.Init(context.Background(), filepath.Join(s.dir, user+".db"), s.URL,
		s.code(t, user, role, villages...), user, replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// The real thing: a server, the app's real worker and replica on the
// phone's OPFS. The QR link enrolls at once; the class form opens with
// her village, 19:00 and today; a field the checks refuse keeps what she
// typed, with the reason beside it; a class she logs shows as waiting,
// then as synced once the page's scheduler has synced it (about 2 s
// after the save).
func TestRealEnrollLogAClassSynced(t *testing.T) {
	s := realServer(t)
	p := newPhone(t, s.URL)
	p.open("#/enroll?code=" + s.code(t, "南香志愿者", store.Volunteer, "南香村"))
	p.waitPage("home")
	p.WaitFor("the first sync", `document.body.dataset.sync === "idle" && document.querySelector("[data-test=last-sync]")?.dataset.ms !== "0"`)

	p.route("#/log-session", "log-session")
	var pre map[string]string
	p.Eval("the prefilled fields", `Object.fromEntries([...document.querySelectorAll("form[data-form=log-session] [name]")].map((e) => [e.name, e.value]))`, &pre)
	if pre["village"] != "南香村" || pre["start_time"] != "19:00" || pre["session_date"] != time.Now().Format(time.DateOnly) {
		t.Errorf("the form opens with %v, want her one village, 19:00 and today", pre)
	}
	p.set("log-session", "children_present", "250")
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("the field's problem", `document.querySelector("[data-error-for=children_present]").textContent !== ""`)
	var kept string
	p.Eval("what she typed", `document.querySelector("[name=children_present]").value`, &kept)
	if kept != "250" {
		t.Errorf("after the refusal the field holds %q, want what she typed", kept)
	}
	p.set("log-session", "children_present", "12")
	p.set("log-session", "subjects", "数学")
	p.Eval("watch the pending count", `(window.sawPending = false, new MutationObserver(() => {
  if (document.body.dataset.pending === "1") window.sawPending = true;
}).observe(document.body, {attributes: true, attributeFilter: ["data-pending"]}), true)`, nil)
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("saved, one change waiting", `!!document.querySelector("[data-test=saved]") && window.sawPending`)
	p.WaitFor("synced by the scheduler", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	p.route("#/records?table=tutoring_sessions", "records")
	p.WaitFor("the class, synced", `document.querySelectorAll("[data-test=record][data-pending='0']").length === 1`)
	if *screenshotDir != "" {
		p.route("#/", "home")
		p.screenshot("home-synced")
	}
}
