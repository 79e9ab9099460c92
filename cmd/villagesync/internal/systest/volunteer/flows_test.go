package volunteer

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// recordRequests makes every later document of the phone keep what it
// posts to its workers in window.sent, so a test can see the ops the
// screens send.
func (p *phone) recordRequests() {
	p.t.Helper()
	p.do("record the worker requests", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `
window.sent = [];
const post = Worker.prototype.postMessage;
Worker.prototype.postMessage = function (m, ...rest) { window.sent.push(m); return post.call(this, m, ...rest); };`})
		return err
	}))
}

// waitAcrossReload polls expr until it is true, through a reload (whose
// torn-down document fails an evaluation: that try does not count).
func (p *phone) waitAcrossReload(what, expr string) {
	p.t.Helper()
	deadline := time.Now().Add(actionTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		ctx, cancel := context.WithTimeout(p.ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%s: not after %v (last error %v)\n%s", what, actionTimeout, err, p.describe())
		}
	}
}

// lastSent is the last request of op the page sent its worker.
func (p *phone) lastSent(op string, out any) {
	p.t.Helper()
	p.eval("the last "+op, `window.sent.filter((m) => m.op === "`+op+`").at(-1) ?? null`, out)
}

// Editing sends only what she changed; deleting asks once more; a loan
// is made from a book found by title, with the due date the form's
// default, and returned from the list of open loans.
func TestEditDeleteLendReturn(t *testing.T) {
	srv := httptest.NewServer(fakeHandler(false))
	t.Cleanup(srv.Close)
	p := newPhone(t, srv.URL)
	p.recordRequests()
	p.open("#/enroll?code=GOOD")
	p.waitPage("home")

	p.route("#/log-session", "log-session")
	p.set("log-session", "children_present", "10")
	p.click("form[data-form=log-session] [data-test=save]")
	p.waitFor("saved", `!!document.querySelector("[data-test=saved]")`)

	p.route("#/records?table=tutoring_sessions", "records")
	p.click("[data-test=record] [data-test=edit]")
	p.waitPage("edit")
	p.set("log-session", "subjects", "美术")
	p.click("form[data-form=log-session] [data-test=save]")
	p.waitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	var edit struct {
		Table  string            `json:"table"`
		Fields map[string]string `json:"fields"`
	}
	p.lastSent("edit", &edit)
	if edit.Table != "tutoring_sessions" || len(edit.Fields) != 1 || edit.Fields["subjects"] != "美术" {
		t.Errorf("the edit sent %+v, want only subjects", edit)
	}

	p.route("#/records?table=tutoring_sessions", "records")
	p.click("[data-test=record] [data-test=delete]")
	p.click("[data-test=record] [data-test=delete-confirm]")
	p.waitFor("the class gone", `document.querySelectorAll("[data-test=record]").length === 0`)

	p.route("#/lend", "lend")
	p.eval("search a title", `(() => {
  const s = document.querySelector("[data-test=book-search]");
  s.value = "小王";
  s.dispatchEvent(new Event("input", {bubbles: true}));
  return true;
})()`, nil)
	p.click("[data-test=book-result]")
	p.set("lend", "borrower_card", "B-17")
	p.set("lend", "lent_on", "2026-11-02")
	p.click("form[data-form=lend] [data-test=save]")
	p.waitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	var lend struct {
		Form   string            `json:"form"`
		Fields map[string]string `json:"fields"`
	}
	p.lastSent("save", &lend)
	if lend.Form != "lend" || lend.Fields["book_id"] == "" || lend.Fields["village"] != "南香村" || lend.Fields["due_on"] != "2026-11-16" {
		t.Errorf("the loan sent %+v, want the chosen book, its village and due 14 days after lending", lend)
	}

	p.route("#/return", "return")
	p.waitFor("the open loan", `document.querySelectorAll("[data-test=loan] option[value]:not([value=''])").length === 1`)
	p.eval("choose it", `(() => { const s = document.querySelector("[data-test=loan]"); s.value = s.options[1].value; return true; })()`, nil)
	p.click("form[data-form=return] [data-test=save]")
	p.waitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	var ret struct {
		Form     string            `json:"form"`
		RecordID string            `json:"recordId"`
		Fields   map[string]string `json:"fields"`
	}
	p.lastSent("save", &ret)
	if ret.Form != "return" || ret.RecordID == "" || ret.Fields["returned_on"] == "" {
		t.Errorf("the return sent %+v, want the loan's id and today", ret)
	}
}

// A second tab of the same browser says the app is open elsewhere and
// shows nothing else; the language switch is remembered.
func TestSecondTabAndLanguage(t *testing.T) {
	srv := httptest.NewServer(fakeHandler(false))
	t.Cleanup(srv.Close)
	p := newPhone(t, srv.URL)
	p.open("#/enroll?code=GOOD")
	p.waitPage("home")

	ctx, cancel := chromedp.NewContext(p.ctx)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a second tab: %v", err)
	}
	second := &phone{t: t, ctx: ctx, base: p.base}
	second.open("#/")
	second.waitPage("other-tab")
	var shown struct {
		Lock  string `json:"lock"`
		Forms int    `json:"forms"`
		Text  string `json:"text"`
	}
	second.eval("the second tab", `({lock: document.body.dataset.lock, forms: document.querySelectorAll("form, nav").length, text: document.body.innerText})`, &shown)
	if shown.Lock != "other-tab" || shown.Forms != 0 || shown.Text == "" {
		t.Errorf("the second tab shows %+v, want only the other-tab message", shown)
	}
	cancel()

	// The switch reloads the page (whose stand-in worker then forgets the
	// enrollment); the choice comes back from localStorage.
	p.eval("switch to English", `(document.querySelector("[data-test=lang]").click(), true)`, nil)
	p.waitAcrossReload("the enroll screen in English", `document.body.dataset.page === "enroll" && document.documentElement.lang === "en" &&
  document.querySelector("h1")?.textContent === "Enroll this device"`)
	var stored string
	p.eval("the remembered language", `localStorage.getItem("villagesync-app-lang")`, &stored)
	if stored != "en" {
		t.Errorf("localStorage holds the language %q, want en", stored)
	}
}
