package volunteer

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
)

var screenshotDir = flag.String("screenshots", "", "write the app's phone-width screenshots (app-*.png) to this folder")

func TestMain(m *testing.M) {
	os.Exit(chromium.Main(m))
}

// A phone: one browser context (its own storage) at 390×844, scale 2.
type phone struct {
	t    testing.TB
	ctx  context.Context
	base string
}

const actionTimeout = 30 * time.Second

func newPhone(t testing.TB, base string) *phone {
	t.Helper()
	ctx, cancel := chromedp.NewContext(chromium.Browser(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	p := &phone{t: t, ctx: ctx, base: base}
	p.do("set the viewport", chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile))
	return p
}

func (p *phone) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		p.t.Fatalf("%s: %v\n%s", what, err, p.describe())
	}
}

func (p *phone) eval(what, expr string, out any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err == nil && out != nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		p.t.Fatalf("%s: %v\n%s", what, err, p.describe())
	}
}

// waitFor polls until the expression is truthy: no fixed waits.
func (p *phone) waitFor(what, expr string) {
	p.t.Helper()
	p.do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond),
			chromedp.WithPollingTimeout(actionTimeout))(ctx, t)
		return err
	}))
}

func (p *phone) open(hash string) {
	p.t.Helper()
	p.do("open "+hash, chromedp.Navigate(p.base+"/app/"+hash))
}

// waitPage waits until the screen named page is drawn.
func (p *phone) waitPage(page string) {
	p.t.Helper()
	p.waitFor("the "+page+" screen", fmt.Sprintf(`document.body.dataset.page === %q && document.body.dataset.ready === "1"`, page))
}

// go moves to a route in the page (no reload: the stand-in worker keeps
// its records only while the page lives).
func (p *phone) route(hash, page string) {
	p.t.Helper()
	p.eval("go to "+hash, fmt.Sprintf(`(location.hash = %q, true)`, hash), nil)
	p.waitPage(page)
}

func (p *phone) click(sel string) {
	p.t.Helper()
	p.do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// set gives a form's field a value as typing would (input event).
func (p *phone) set(form, name, value string) {
	p.t.Helper()
	var ok bool
	p.eval("set "+name, fmt.Sprintf(`(() => {
  const e = document.querySelector('form[data-form=%q] [name=%q]');
  if (!e) return false;
  e.value = %q;
  e.dispatchEvent(new Event("input", {bubbles: true}));
  return true;
})()`, form, name, value), &ok)
	if !ok {
		p.t.Fatalf("form %s has no field %s\n%s", form, name, p.describe())
	}
}

func (p *phone) text(sel string) string {
	p.t.Helper()
	var s string
	p.eval("the text of "+sel, fmt.Sprintf(`document.querySelector(%q)?.textContent ?? ""`, sel), &s)
	return s
}

func (p *phone) describe() string {
	ctx, cancel := context.WithTimeout(p.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.outerHTML.slice(0, 600) +
		"\n---\n" + document.body.innerText.slice(0, 1500)`))
	if err != nil {
		return fmt.Sprintf("(page unreadable: %v)", err)
	}
	return "page: " + s
}

func (p *phone) screenshot(name string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, actionTimeout)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		p.t.Fatalf("screenshot %s: %v", name, err)
	}
	if got := img.Bounds().Size(); got.X != 780 || got.Y != 1688 {
		p.t.Errorf("screenshot %s is %v, want 780x1688", name, got)
	}
	if *screenshotDir != "" {
		if err := os.WriteFile(filepath.Join(*screenshotDir, "app-"+name+".png"), b, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
}

// The QR link enrolls at once; a class she logs shows as waiting, then
// as synced once the page's scheduler has synced it (about 2 s after the
// save), and a field the checks refuse keeps what she typed, with the
// reason beside it.
func TestEnrollLogAClassSeeItSynced(t *testing.T) {
	srv := httptest.NewServer(fakeHandler(false))
	t.Cleanup(srv.Close)
	p := newPhone(t, srv.URL)
	p.open("#/enroll?code=GOOD")
	p.waitPage("home")
	p.waitFor("the status bar", `document.body.dataset.pending === "0" && document.body.dataset.lock === "held"`)

	p.route("#/log-session", "log-session")
	var pre map[string]string
	p.eval("the prefilled fields", `Object.fromEntries([...document.querySelectorAll("form[data-form=log-session] [name]")].map((e) => [e.name, e.value]))`, &pre)
	if pre["village"] != "南香村" || pre["start_time"] != "19:00" || pre["session_date"] == "" {
		t.Errorf("the form opens with %v, want her one village, 19:00 and today", pre)
	}
	p.set("log-session", "children_present", "250")
	p.click("form[data-form=log-session] [data-test=save]")
	p.waitFor("the field's problem", `document.querySelector("[data-error-for=children_present]").textContent !== ""`)
	var kept string
	p.eval("what she typed", `document.querySelector("[name=children_present]").value`, &kept)
	if kept != "250" {
		t.Errorf("after the refusal the field holds %q, want what she typed", kept)
	}
	p.set("log-session", "children_present", "12")
	p.set("log-session", "subjects", "数学")
	// The sync follows the save by about 2 s; an observer sees the change
	// wait however slowly the test polls.
	p.eval("watch the pending count", `(window.sawPending = false, new MutationObserver(() => {
  if (document.body.dataset.pending === "1") window.sawPending = true;
}).observe(document.body, {attributes: true, attributeFilter: ["data-pending"]}), true)`, nil)
	p.click("form[data-form=log-session] [data-test=save]")
	p.waitFor("saved, one change waiting", `!!document.querySelector("[data-test=saved]") && window.sawPending`)
	p.waitFor("synced by the scheduler", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	p.route("#/records?table=tutoring_sessions", "records")
	p.waitFor("the class, synced", `document.querySelectorAll("[data-test=record][data-pending='0']").length === 1`)
}

// A refused code says why and offers a field to type another.
func TestARefusedCodeSaysWhy(t *testing.T) {
	srv := httptest.NewServer(fakeHandler(false))
	t.Cleanup(srv.Close)
	p := newPhone(t, srv.URL)
	p.open("#/enroll?code=USED")
	p.waitPage("enroll")
	p.waitFor("the reason", `document.querySelector("[data-test=enroll-message]").textContent.includes("注册码无效或已用过")`)
	p.eval("type a good code", `(document.querySelector("[data-test=enroll-code]").value = "GOOD", true)`, nil)
	p.click("[data-test=enroll-submit]")
	p.waitPage("home")
}

// Home with old unsynced changes and a refusal, the class form with a
// field refused, the records and the refused list, at phone width.
func TestScreenshots(t *testing.T) {
	srv := httptest.NewServer(fakeHandler(true))
	t.Cleanup(srv.Close)
	p := newPhone(t, srv.URL)
	p.open("#/enroll?code=GOOD")
	p.waitPage("home")
	p.waitFor("the old-pending warning and the offline state", `!!document.querySelector("[data-test=old-pending]") && document.body.dataset.sync === "offline"`)
	p.screenshot("home")

	p.route("#/log-session", "log-session")
	p.set("log-session", "children_present", "250")
	p.set("log-session", "subjects", "数学、语文")
	p.set("log-session", "class_group", "三年级")
	p.click("form[data-form=log-session] [data-test=save]")
	p.waitFor("the field's problem", `document.querySelector("[data-error-for=children_present]").textContent !== ""`)
	p.eval("show the field", `(document.querySelector("[data-field-row=children_present]").scrollIntoView({block: "center"}), true)`, nil)
	p.screenshot("log-session-error")

	p.route("#/records?table=tutoring_sessions", "records")
	p.screenshot("records")
	p.route("#/refused", "refused")
	if got := p.text("[data-test=refused-message]"); got == "" {
		t.Errorf("the refused change shows no reason")
	}
	p.screenshot("refused")
	p.click("[data-test=refused-fix]")
	p.waitPage("edit")
	var v string
	p.eval("the refused value", `document.querySelector("form [name=children_present]").value`, &v)
	if v != "250" {
		t.Errorf("the fix form opens with children_present %q, want the refused 250", v)
	}
}
