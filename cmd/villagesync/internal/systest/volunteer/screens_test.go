package volunteer

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

var screenshotDir = flag.String("screenshots", "", "write the app's phone-width screenshots (app-*.png) to this folder")

func TestMain(m *testing.M) {
	os.Exit(chromium.Main(m))
}

// A phone: one browser context (its own storage) at 390×844, scale 2.
type phone struct {
	*chromium.Tab
	base string
}

const actionTimeout = 30 * time.Second

func newPhone(t testing.TB, base string) *phone {
	t.Helper()
	ctx, _ := chromium.NewContext(t, chromium.Browser(t), "open a browser context", chromedp.WithNewBrowserContext())
	p := &phone{Tab: chromium.New(t, ctx, chromium.Options{StepTimeout: actionTimeout}), base: base}
	p.Do("set the viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	return p
}

func (p *phone) open(hash string) {
	p.T.Helper()
	p.Do("open "+hash, chromedp.Navigate(p.base+"/app/"+hash))
}

// waitPage waits until the screen named page is drawn.
func (p *phone) waitPage(page string) {
	p.T.Helper()
	p.WaitFor("the "+page+" screen", fmt.Sprintf(`document.body.dataset.page === %q && document.body.dataset.ready === "1"`, page))
}

// route moves to a route in the page, as her taps do (no reload).
func (p *phone) route(hash, page string) {
	p.T.Helper()
	p.Eval("go to "+hash, fmt.Sprintf(`(location.hash = %q, true)`, hash), nil)
	p.waitPage(page)
}

func (p *phone) click(sel string) {
	p.T.Helper()
	p.Do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// set gives a form's field a value as typing would (input event).
func (p *phone) set(form, name, value string) {
	p.T.Helper()
	var ok bool
	p.Eval("set "+name, fmt.Sprintf(`(() => {
  const e = document.querySelector('form[data-form=%q] [name=%q]');
  if (!e) return false;
  e.value = %q;
  e.dispatchEvent(new Event("input", {bubbles: true}));
  return true;
})()`, form, name, value), &ok)
	if !ok {
		p.T.Fatalf("form %s has no field %s\n%s", form, name, p.Describe())
	}
}

func (p *phone) text(sel string) string {
	p.T.Helper()
	var s string
	p.Eval("the text of "+sel, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel), &s)
	return s
}

func (p *phone) screenshot(name string) {
	p.T.Helper()
	ctx, cancel := context.WithTimeout(p.Ctx, actionTimeout)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.T.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		p.T.Fatalf("screenshot %s: %v", name, err)
	}
	if got := img.Bounds().Size(); got.X != 780 || got.Y != 1688 {
		p.T.Errorf("screenshot %s is %v, want 780x1688", name, got)
	}
	if *screenshotDir != "" {
		if err := os.WriteFile(filepath.Join(*screenshotDir, "app-"+name+".png"), b, 0o644); err != nil {
			p.T.Fatal(err)
		}
	}
}

// A code the server refuses (one already used) says why and offers a
// field to type another.
func TestRealARefusedCodeSaysWhy(t *testing.T) {
	s := realServer(t)
	used := s.code(t, "南香志愿者", store.Volunteer, "南香村")
	r, err := replica.Init(context.Background(), filepath.Join(s.dir, "first.db"), s.URL, used, "先用的", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p := newPhone(t, s.URL)
	p.open("#/enroll?code=" + used)
	p.waitPage("enroll")
	p.WaitFor("the reason", `document.querySelector("[data-test=enroll-message]").textContent.includes("注册码未被接受")`)
	t.Logf("the enroll screen says: %s", p.text("[data-test=enroll-message]"))
	p.Eval("type a good code", fmt.Sprintf(`(document.querySelector("[data-test=enroll-code]").value = %q, true)`,
		s.code(t, "南香志愿者二", store.Volunteer, "南香村")), nil)
	p.click("[data-test=enroll-submit]")
	p.waitPage("home")
}

// Home with an old unsynced class, no signal and a refusal; the class
// form with a field refused; the records and the refused list, at phone
// width, from the real app. The refusal is the server's (a stored value
// rewritten in the worker's database, as an older app's rules would let
// through); the class is made old by rewriting its dots' clocks, as a
// class saved four days ago and never synced.
func TestScreenshots(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	// Fixed dates and a fixed time of refusal keep the pictures the same
	// from run to run (the warning's "4 days" is counted from now).
	const refusedAt = "2026-11-26"
	const oldClass = "2026-11-27"
	p.setOffline(true)
	s.drop.Store(true)
	p.logClass(20, "拒绝", "subjects", "语文", "session_date", refusedAt)
	ids := p.classIDs()
	if len(ids) != 1 {
		t.Fatalf("%d classes, want 1", len(ids))
	}
	p.inWorker("store a refused value", fmt.Sprintf(
		`self.onmessage({data: {id: 999998, op: "exec", sql: "UPDATE tutoring_sessions SET children_present = 250 WHERE id = ?", bind: [%q]}})`, ids[0]))
	s.drop.Store(false)
	p.setOffline(false)
	p.syncUntil("one refused", `document.body.dataset.rejected === "1" && document.body.dataset.pending === "0"`)
	p.inWorker("fix the time of the refusal", fmt.Sprintf(
		`self.onmessage({data: {id: 999996, op: "exec", sql: "UPDATE rejected SET rejected_ms = ?", bind: [%d]}})`,
		time.Date(2026, 11, 27, 21, 5, 0, 0, time.Local).UnixMilli()))

	p.setOffline(true)
	s.drop.Store(true)
	p.logClass(14, "", "subjects", "数学", "class_group", "三年级",
		"session_date", oldClass)
	var old []string
	for _, id := range p.classIDs() {
		if id != ids[0] {
			old = append(old, id)
		}
	}
	if len(old) != 1 {
		t.Fatalf("the new class: ids %v", old)
	}
	p.ageDots("tutoring_sessions", old[0], time.Now().Add(-4*24*time.Hour))
	p.route("#/", "home")
	p.syncNow()
	p.WaitFor("the old-pending warning and the offline state", `!!document.querySelector("[data-test=old-pending]") && document.body.dataset.sync === "offline" && document.body.dataset.rejected === "1"`)
	p.screenshot("home")

	p.route("#/log-session", "log-session")
	p.set("log-session", "session_date", oldClass)
	p.set("log-session", "children_present", "250")
	p.set("log-session", "subjects", "数学、语文")
	p.set("log-session", "class_group", "三年级")
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("the field's problem", `document.querySelector("[data-error-for=children_present]").textContent !== ""`)
	p.Eval("show the field", `(document.querySelector("[data-field-row=children_present]").scrollIntoView({block: "center"}), true)`, nil)
	p.screenshot("log-session-error")

	p.route("#/records?table=tutoring_sessions", "records")
	p.WaitFor("the waiting class", `document.querySelectorAll("[data-test=record][data-pending='1']").length === 1`)
	p.screenshot("records")
	p.route("#/refused", "refused")
	if got := p.text("[data-test=refused-message]"); !strings.Contains(got, "出席儿童数") {
		t.Errorf("the refused change says %q, want the field named 出席儿童数", got)
	}
	p.screenshot("refused")
	p.click("[data-test=refused-fix]")
	p.waitPage("edit")
	var v string
	p.Eval("the refused value", `document.querySelector("form [name=children_present]").value`, &v)
	if v != "250" {
		t.Errorf("the fix form opens with children_present %q, want the refused 250", v)
	}
}

// ageDots rewrites the clock of every field of a record in the worker's
// database to at, as if it had been written then: the device's oldest
// pending write is its dots' hlc >> 16 ms (device.ts state; _dots is
// {column: [replica, counter, hlc]}, replica.ts dotJSON).
func (p *phone) ageDots(table, id string, at time.Time) {
	p.T.Helper()
	hlc := fmt.Sprint(at.UnixMilli() << 16)
	p.inWorker("age the record's writes", fmt.Sprintf(`self.onmessage({data: {id: 999997, op: "exec", sql:
  "UPDATE %s SET _dots = (SELECT json_group_object(key, json_array(json_extract(value, '$[0]'), json_extract(value, '$[1]'), '%s')) FROM json_each(_dots)) WHERE id = ?",
  bind: [%q]}})`, table, hlc, id))
}
