package volunteer

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// enrolled is a phone that has opened the QR link's route and made its
// first sync.
func enrolled(t *testing.T, s *realSrv) *phone {
	t.Helper()
	p := newPhone(t, s.URL)
	p.open("#/enroll?code=" + s.code(t, "南香志愿者", store.Volunteer, "南香村"))
	p.waitPage("home")
	p.WaitFor("the first sync", `document.body.dataset.sync === "idle" && document.querySelector("[data-test=last-sync]")?.dataset.ms !== "0"`)
	return p
}

// tab is another tab of the phone's browser context (same storage).
func (p *phone) tab() *phone {
	p.T.Helper()
	ctx, _ := chromium.NewContext(p.T, p.Ctx, "open a tab")
	q := &phone{Tab: chromium.New(p.T, ctx, p.Options), base: p.base}
	q.Do("set the viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	return q
}

// close closes the tab as she would, leaving its browser context open.
func (p *phone) close() {
	p.T.Helper()
	id := chromedp.FromContext(p.Ctx).Target.TargetID
	ctx, cancel := context.WithTimeout(p.Ctx, actionTimeout)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, target.CloseTarget, target.CloseTargetParams{TargetID: id}); err != nil {
		p.T.Fatalf("close the tab: %v", err)
	}
	p.untilTargets("the closed tab gone", func(ts []*target.Info) bool {
		return !slices.ContainsFunc(ts, func(i *target.Info) bool { return i.TargetID == id })
	})
}

// untilTargets polls the browser's targets until ok holds.
func (p *phone) untilTargets(what string, ok func([]*target.Info) bool) []*target.Info {
	p.T.Helper()
	deadline := time.Now().Add(actionTimeout)
	for {
		ts, err := chromedp.Targets(p.Ctx)
		if err == nil && ok(ts) {
			return ts
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("%s: not after %v (last error %v)", what, actionTimeout, err)
		}
		time.Sleep(20 * time.Millisecond) // a poll's interval, not a wait for an outcome
	}
}

// setOffline emulates no signal in this tab: its own requests fail and
// navigator.onLine says so (its dedicated worker's requests are not
// affected: realSrv.drop cuts those).
func (p *phone) setOffline(off bool) {
	p.T.Helper()
	p.Do(fmt.Sprintf("offline %v", off), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		if _, err := cdp.Call(ctx, t, network.Enable, network.EnableParams{}); err != nil {
			return err
		}
		// The deprecated command: the by-rule one's parameters differ
		// between cdproto and this Chromium. It also sets navigator.onLine.
		return t.Call(ctx, "Network.emulateNetworkConditions", map[string]any{
			"offline": off, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1}, nil)
	}))
}

// logClass saves a class through the form (more: other fields, name,
// value); the records screen gives the ids.
func (p *phone) logClass(children int, notes string, more ...string) {
	p.T.Helper()
	p.route("#/", "home")
	p.route("#/log-session", "log-session")
	p.set("log-session", "children_present", fmt.Sprint(children))
	p.set("log-session", "notes", notes)
	for i := 0; i+1 < len(more); i += 2 {
		p.set("log-session", more[i], more[i+1])
	}
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
}

// classIDs are the ids the records screen lists for the classes.
func (p *phone) classIDs() []string {
	p.T.Helper()
	p.route("#/", "home")
	p.route("#/records?table=tutoring_sessions", "records")
	var ids []string
	p.Eval("the records", `[...document.querySelectorAll("[data-test=record]")].map((e) => e.dataset.id)`, &ids)
	return ids
}

// syncNow presses the sync button and waits for the sync to end.
func (p *phone) syncNow() {
	p.T.Helper()
	p.Eval("mark", `(window.syncSeen = document.body.dataset.sync === "syncing", new MutationObserver(() => {
  if (document.body.dataset.sync === "syncing") window.syncSeen = true;
}).observe(document.body, {attributes: true, attributeFilter: ["data-sync"]}), true)`, nil)
	p.click("[data-test=sync-now]")
	p.WaitFor("the sync's end", `window.syncSeen && document.body.dataset.sync !== "syncing"`)
}

// syncUntil presses the sync button until cond holds, as she would
// press it again: a press during a sync that then fails waits for the
// scheduler's backoff.
func (p *phone) syncUntil(what, cond string) {
	p.T.Helper()
	p.WaitFor(what, fmt.Sprintf(`(() => {
  if (%s) return true;
  const now = performance.now();
  if (document.body.dataset.sync !== "syncing" && !(window.lastPress > now - 500)) {
    window.lastPress = now;
    document.querySelector("[data-test=sync-now]")?.click();
  }
  return false;
})()`, cond))
}

// staffView is what the coordinators see, through the same services the
// console calls (a staff device's token): every class on the server, the
// overview's totals and the review queue.
type staffView struct {
	s *realSrv
	r *replica.Replica
}

func (s *realSrv) staffView(t *testing.T) *staffView {
	return &staffView{s: s, r: s.device(t, "协调员", store.Staff)}
}

func (v *staffView) classes(t *testing.T) map[string]map[string]any {
	t.Helper()
	replicatest.SyncOK(t, v.r)
	recs, err := v.r.List(context.Background(), "tutoring_sessions")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]any{}
	for _, rec := range recs {
		if !rec.Deleted() {
			out[rec.ID] = replica.JSON(rec).Fields
		}
	}
	return out
}

func (v *staffView) totals(t *testing.T) report.Tutoring {
	t.Helper()
	rep, err := staff.Report(context.Background(), v.r.HTTPClient(), v.s.URL, report.Request{})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Total.Tutoring
}

func (v *staffView) openConflicts(t *testing.T) []staff.Conflict {
	t.Helper()
	var out []staff.Conflict
	if err := staff.Conflicts(context.Background(), v.r.HTTPClient(), v.s.URL, staff.Filter{OpenOnly: true},
		func(c staff.Conflict) error { out = append(out, c); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// Three classes logged with no signal wait on the phone through a
// reload and through closing the tab and opening the app in a new one;
// back online they sync, and the coordinators' totals count them.
func TestRealOfflineClassesSurviveAndSync(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.WaitFor("the service worker in charge", `!!navigator.serviceWorker.controller`)
	p.setOffline(true)
	s.drop.Store(true)
	// Three evenings: classes of one village at the same date and time
	// are one class logged twice, and the report counts it once.
	for i, n := range []int{11, 12, 13} {
		p.logClass(n, fmt.Sprintf("第%d节", i+1), "session_date", time.Now().AddDate(0, 0, -i).Format(time.DateOnly))
	}
	p.syncNow()
	p.WaitFor("three waiting, offline", `document.body.dataset.pending === "3" && document.body.dataset.sync === "offline"`)
	if s.dropped.Load() == 0 {
		t.Fatal("the worker did not try to sync")
	}

	p.route("#/", "home")
	p.Do("reload", chromedp.Reload())
	p.waitAcrossReload("home after the reload", `document.body.dataset.page === "home" && document.body.dataset.ready === "1" && document.body.dataset.pending === "3"`)
	if ids := p.classIDs(); len(ids) != 3 {
		t.Fatalf("after the reload the records list %d classes, want 3", len(ids))
	}

	q := p.tab()
	q.setOffline(true)
	p.close()
	q.open("#/")
	q.waitPage("home")
	q.WaitFor("still three waiting", `document.body.dataset.pending === "3"`)
	if ids := q.classIDs(); len(ids) != 3 {
		t.Fatalf("in a new tab the records list %d classes, want 3", len(ids))
	}
	s.drop.Store(false)
	q.setOffline(false)
	q.syncUntil("synced", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	v := s.staffView(t)
	got := map[string]bool{}
	for _, f := range v.classes(t) {
		got[fmt.Sprint(f["notes"], "/", f["children_present"])] = true
	}
	for _, want := range []string{"第1节/11", "第2节/12", "第3节/13"} {
		if !got[want] {
			t.Errorf("the server lacks the class %s; it has %v", want, got)
		}
	}
	if tot := v.totals(t); tot.Sessions != 3 || tot.StudentAttendances != 11+12+13 {
		t.Errorf("the coordinators' totals: %d classes, %d attendances; want 3, 36", tot.Sessions, tot.StudentAttendances)
	}
}

// A second tab of the app is told the app is open elsewhere and shows
// nothing else; the first keeps working. The language switch reloads
// the page and is remembered.
func TestRealSecondTabAndLanguage(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	q := p.tab()
	q.open("#/")
	q.waitPage("other-tab")
	var shown struct {
		Lock  string `json:"lock"`
		Forms int    `json:"forms"`
		Text  string `json:"text"`
	}
	q.Eval("the second tab", `({lock: document.body.dataset.lock, forms: document.querySelectorAll("form, nav").length, text: document.querySelector("[data-test=lock-message]")?.textContent ?? ""})`, &shown)
	if shown.Lock != "other-tab" || shown.Forms != 0 || shown.Text == "" {
		t.Errorf("the second tab shows %+v, want only the other-tab message", shown)
	}
	p.logClass(9, "第一个标签页")
	p.WaitFor("synced", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	if ids := p.classIDs(); len(ids) != 1 {
		t.Errorf("the first tab lists %d classes, want 1", len(ids))
	}
	q.close()

	p.route("#/", "home")
	p.Eval("switch to English", `(document.querySelector("[data-test=lang]").click(), true)`, nil)
	p.waitAcrossReload("home in English", `document.body.dataset.page === "home" && document.body.dataset.ready === "1" &&
  document.documentElement.lang === "en" && document.querySelector(".brand")?.textContent === "Three villages · volunteer"`)
	var stored string
	p.Eval("the remembered language", `localStorage.getItem("villagesync-app-lang")`, &stored)
	if stored != "en" {
		t.Errorf("localStorage holds the language %q, want en", stored)
	}
}

// With the server refusing everything, the app still opens from the
// service worker's cache, with her records.
func TestRealAppOpensFromTheServiceWorker(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.logClass(8, "缓存")
	p.WaitFor("synced", `document.body.dataset.pending === "0"`)
	p.WaitFor("the service worker in charge", `!!navigator.serviceWorker.controller`)
	s.refuse.Store(true)
	p.route("#/", "home")
	p.Do("reload", chromedp.Reload())
	p.waitAcrossReload("home from the cache", `document.body.dataset.page === "home" && document.body.dataset.ready === "1"`)
	if ids := p.classIDs(); len(ids) != 1 {
		t.Errorf("offline the records list %d classes, want 1", len(ids))
	}
}

// A change the server refuses (an older app's rules, simulated by
// rewriting the stored value in the worker's database) shows the
// server's reason; fixing it from the refused screen syncs it.
func TestRealRefusedChangeShowsTheReason(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.setOffline(true)
	s.drop.Store(true)
	p.logClass(7, "会被拒绝")
	ids := p.classIDs()
	if len(ids) != 1 {
		t.Fatalf("%d classes, want 1", len(ids))
	}
	p.inWorker("store a refused value", fmt.Sprintf(
		`self.onmessage({data: {id: 999999, op: "exec", sql: "UPDATE tutoring_sessions SET children_present = -4 WHERE id = ?", bind: [%q]}})`, ids[0]))
	s.drop.Store(false)
	p.setOffline(false)
	p.syncUntil("one refused", `document.body.dataset.rejected === "1"`)
	p.route("#/refused", "refused")
	msg := p.text("[data-test=refused] [data-test=refused-message]")
	if !strings.Contains(msg, "出席儿童数") {
		t.Errorf("the refusal says %q, want the field named 出席儿童数", msg)
	}
	t.Logf("the refused screen says: %s", msg)
	p.click("[data-test=refused-fix]")
	p.waitPage("edit")
	var v string
	p.Eval("the refused value", `document.querySelector("form[data-form=log-session] [name=children_present]").value`, &v)
	if v != "-4" {
		t.Errorf("the fix form opens with children_present %q, want the refused -4", v)
	}
	p.set("log-session", "children_present", "4")
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	p.syncUntil("synced, nothing refused", `document.body.dataset.pending === "0" && document.body.dataset.rejected === "0"`)
	// The server never had the refused class (a new record), so the
	// device dropped it and the fix saves it afresh, under a new id.
	classes := s.staffView(t).classes(t)
	if len(classes) != 1 {
		t.Fatalf("the server has the classes %v, want the fixed one", classes)
	}
	for _, f := range classes {
		if fmt.Sprint(f["children_present"]) != "4" || f["notes"] != "会被拒绝" {
			t.Errorf("the server has the class as %v, want 4 children and the notes kept", f)
		}
	}
}

// inWorker evaluates expr in the page's dedicated worker (the app's
// database worker) through its own DevTools target.
func (p *phone) inWorker(what, expr string) {
	p.T.Helper()
	worker := web.AppWorker()
	ts := p.untilTargets("the app's worker", func(ts []*target.Info) bool {
		return slices.ContainsFunc(ts, func(i *target.Info) bool { return i.Type == "worker" && strings.Contains(i.URL, worker) })
	})
	i := slices.IndexFunc(ts, func(i *target.Info) bool { return i.Type == "worker" && strings.Contains(i.URL, worker) })
	ctx, cancel := chromedp.NewContext(p.Ctx, chromedp.WithTargetID(ts[i].TargetID))
	defer cancel()
	tctx, tcancel := context.WithTimeout(ctx, actionTimeout)
	defer tcancel()
	if _, err := chromedp.Run(tctx, chromedp.Evaluate[any](expr)); err != nil {
		p.T.Fatalf("%s: %v", what, err)
	}
}

// The app and a Go device change the same class's notes while apart;
// after both sync they hold what the server holds, and the review queue
// has the conflict with both values.
func TestRealConcurrentEditIsMergedAndReviewed(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.logClass(10, "原来的")
	ids := p.classIDs()
	if len(ids) != 1 {
		t.Fatalf("%d classes, want 1", len(ids))
	}
	id := ids[0]
	// On the server, not just "nothing pending" on the page: right after
	// the save the page may not yet count it as pending.
	s.waitHolds(t, "the class on the server", `SELECT count(*) FROM tutoring_sessions WHERE id = ? AND _deleted = 0`, id)
	dev := s.device(t, "电脑", store.Volunteer, "南香村")
	replicatest.SyncOK(t, dev)

	p.setOffline(true)
	s.drop.Store(true)
	p.route("#/edit?table=tutoring_sessions&id="+id, "edit")
	p.set("log-session", "notes", "手机写的")
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	if _, err := dev.Put(context.Background(), "tutoring_sessions", id, map[string]schema.Value{"notes": schema.TextValue("电脑写的")}); err != nil {
		t.Fatal(err)
	}
	s.drop.Store(false)
	replicatest.SyncOK(t, dev)
	p.setOffline(false)
	p.syncUntil("synced", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	replicatest.SyncOK(t, dev)

	v := s.staffView(t)
	server := fmt.Sprint(v.classes(t)[id]["notes"])
	rec, err := dev.Get(context.Background(), "tutoring_sessions", id)
	if err != nil {
		t.Fatal(err)
	}
	goNotes := fmt.Sprint(replica.JSON(rec).Fields["notes"])
	p.route("#/", "home")
	p.route("#/edit?table=tutoring_sessions&id="+id, "edit")
	var appNotes string
	p.Eval("the app's notes", `document.querySelector("form[data-form=log-session] [name=notes]").value`, &appNotes)
	if server != goNotes || server != appNotes || (server != "手机写的" && server != "电脑写的") {
		t.Errorf("notes: server %q, Go device %q, app %q; want one of the two edits everywhere", server, goNotes, appNotes)
	}
	var found bool
	for _, c := range v.openConflicts(t) {
		if c.RecordID == id && c.Field == "notes" {
			found = true
			vals := []string{fmt.Sprint(c.Winner.Value), fmt.Sprint(c.Loser.Value)}
			slices.Sort(vals)
			if vals[0] != "手机写的" || vals[1] != "电脑写的" || fmt.Sprint(c.Winner.Value) != server {
				t.Errorf("the conflict holds winner %v, loser %v; want the server's %q winning over the other edit", c.Winner.Value, c.Loser.Value, server)
			}
		}
	}
	t.Logf("server, Go device and app hold notes %q", server)
	if !found {
		t.Errorf("no open conflict on the class's notes: %+v", v.openConflicts(t))
	}
}

// A new build of the app waits while she is on a form (nothing she typed
// is lost to a reload); back on the home screen with nothing being
// written the page asks it to take over; and the change she saved
// meanwhile, not yet synced, is there on the new build and then syncs.
func TestRealUpdateWaitsAndKeepsPendingChanges(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.WaitFor("the service worker in charge", `!!navigator.serviceWorker.controller`)
	var before []string
	p.Eval("the caches", `caches.keys()`, &before)
	s.dropSync.Store(true)

	p.route("#/", "home")
	p.route("#/log-session", "log-session")
	p.set("log-session", "notes", "更新前写的")
	p.Eval("mark the page", `(window.samePage = true, true)`, nil)
	s.nextBuild.Store(true)
	p.Eval("look for the new build", `navigator.serviceWorker.getRegistration().then((r) => r.update()).then(() => true)`, nil)
	// The page has seen the new build and declined it for now.
	p.WaitFor("the new build waiting for her", `document.body.dataset.update === "waiting"`)
	var kept bool
	p.Eval("the form is not reloaded under her", `window.samePage === true &&
		document.querySelector("form[data-form=log-session] [name=notes]").value === "更新前写的"`, &kept)
	if !kept {
		t.Fatal("the page reloaded for the new build while she was on a form")
	}
	p.set("log-session", "children_present", "6")
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	p.WaitFor("one change waiting", `document.body.dataset.pending === "1"`)

	// Home and idle, the page asks the new build to take over. Chromium
	// then reloads the page on it, or on a loaded machine may leave it
	// waiting until the app's next launch: this test takes the next
	// launch (she closes the app and opens it again), which both reach.
	p.Do("back home", chromedp.Evaluate[chromedp.Void](`location.hash = "#/"`))
	p.waitAcrossReload("the page asks the new build to take over, or has switched to it",
		`document.body.dataset.update === "applying" || window.samePage === undefined`)
	q := p.tab()
	p.close()
	q.open("#/")
	q.WaitFor("home on the new build", `document.body.dataset.page === "home" && document.body.dataset.ready === "1"`)
	p = q
	// The old build's cache goes once the new worker has activated.
	var after []string
	for deadline := time.Now().Add(actionTimeout); ; {
		p.Eval("the caches", `caches.keys()`, &after)
		if len(after) == 1 && strings.HasSuffix(after[0], "ffffffffffffffff") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("caches %v after the update; want the new build's alone (before: %v)", after, before)
		}
		time.Sleep(20 * time.Millisecond) // a poll's interval, not a wait for an outcome
	}
	var pending string
	p.Eval("pending", `document.body.dataset.pending`, &pending)
	if pending != "1" {
		t.Fatalf("after the update %s changes wait; want the one saved before it", pending)
	}
	s.dropSync.Store(false)
	p.syncUntil("synced", `document.body.dataset.pending === "0"`)
	var n int
	if err := s.st.Reader().QueryRow(`SELECT count(*) FROM tutoring_sessions WHERE notes = '更新前写的' AND _deleted = 0`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("the server holds %d of the class saved across the update; want 1", n)
	}
	t.Logf("caches before %v, after %v", before, after)
}
