package volunteer

import (
	"context"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/server"
	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// The real thing: a server, the app's real worker and replica on the
// phone's OPFS. The QR link enrolls; a class she logs waits, then syncs
// and is on the server.
func TestRealEnrollLogAClassSynced(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	srv := httptest.NewServer(server.NewHandler(st, slog.New(slog.DiscardHandler), server.Options{UI: web.Handler()}))
	t.Cleanup(srv.Close)
	code, err := st.CodeFor(context.Background(), "南香志愿者", store.Volunteer, []string{"南香村"})
	if err != nil {
		t.Fatal(err)
	}

	p := newPhone(t, srv.URL)
	p.open("#/enroll?code=" + code)
	p.waitPage("home")
	p.waitFor("the first sync", `document.body.dataset.sync === "idle" && document.querySelector("[data-test=last-sync]")?.dataset.ms !== "0"`)

	p.route("#/log-session", "log-session")
	p.set("log-session", "children_present", "250")
	p.click("form[data-form=log-session] [data-test=save]")
	p.waitFor("the field's problem", `document.querySelector("[data-error-for=children_present]").textContent !== ""`)
	p.set("log-session", "children_present", "12")
	p.set("log-session", "subjects", "数学")
	p.eval("watch the pending count", `(window.sawPending = false, new MutationObserver(() => {
  if (document.body.dataset.pending === "1") window.sawPending = true;
}).observe(document.body, {attributes: true, attributeFilter: ["data-pending"]}), true)`, nil)
	p.click("form[data-form=log-session] [data-test=save]")
	p.waitFor("saved, one change waiting", `!!document.querySelector("[data-test=saved]") && window.sawPending`)
	p.waitFor("synced by the scheduler", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	p.route("#/records?table=tutoring_sessions", "records")
	p.waitFor("the class, synced", `document.querySelectorAll("[data-test=record][data-pending='0']").length === 1`)
	if *screenshotDir != "" {
		p.route("#/", "home")
		p.screenshot("home-synced")
	}
}
