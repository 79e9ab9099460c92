package volunteer

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// recordRequests makes every later document of the phone keep what it
// posts to its workers in window.sent, so a test can see the ops the
// screens send.
func (p *phone) recordRequests() {
	p.T.Helper()
	p.Do("record the worker requests", chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
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
	p.T.Helper()
	deadline := time.Now().Add(actionTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		ctx, cancel := context.WithTimeout(p.Ctx, 2*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			p.T.Fatalf("%s: not after %v (last error %v)\n%s", what, actionTimeout, err, p.Describe())
		}
	}
}

// lastSent is the last request of op the page sent its worker.
func (p *phone) lastSent(op string, out any) {
	p.T.Helper()
	p.Eval("the last "+op, `window.sent.filter((m) => m.op === "`+op+`").at(-1) ?? null`, out)
}

// books puts books of 南香村 on the server from a staff device, as the
// coordinators would catalogue them; it returns their ids by title.
func (s *realSrv) books(t *testing.T) map[string]string {
	t.Helper()
	dev := s.device(t, "图书管理员", store.Staff)
	ids := map[string]string{}
	for _, b := range []struct{ library, title, author, isbn string }{
		{"children", "小王子", "圣埃克苏佩里", "9787020042494"},
		{"party_villagers", "乡土中国", "费孝通", "9787101052039"},
	} {
		id, err := dev.Put(context.Background(), "books", "", map[string]schema.Value{
			"village": schema.TextValue("南香村"), "library": schema.TextValue(b.library),
			"title": schema.TextValue(b.title), "author": schema.TextValue(b.author), "isbn": schema.TextValue(b.isbn),
		})
		if err != nil {
			t.Fatalf("put the book %s: %v", b.title, err)
		}
		ids[b.title] = id
	}
	replicatest.SyncOK(t, dev)
	return ids
}

// Editing sends only what she changed; deleting asks once more; a loan
// is made from a book (catalogued on the server, synced to the phone)
// found by title, in the book's village (shown, not asked), with the
// due date the form's default, and returned from the list of open loans;
// the server ends with the loan returned.
func TestRealEditDeleteLendReturn(t *testing.T) {
	s := realServer(t)
	books := s.books(t)
	p := newPhone(t, s.URL)
	p.recordRequests()
	p.open("#/enroll?code=" + s.code(t, "南香志愿者", store.Volunteer, "南香村"))
	p.waitPage("home")
	p.WaitFor("the first sync", `document.body.dataset.sync === "idle" && document.querySelector("[data-test=last-sync]")?.dataset.ms !== "0"`)

	p.logClass(10, "")
	p.route("#/records?table=tutoring_sessions", "records")
	p.click("[data-test=record] [data-test=edit]")
	p.waitPage("edit")
	p.set("log-session", "subjects", "美术")
	p.click("form[data-form=log-session] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
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
	p.WaitFor("the class gone", `document.querySelectorAll("[data-test=record]").length === 0`)

	p.route("#/lend", "lend")
	var asked bool
	p.Eval("a village to choose", `!!document.querySelector("form[data-form=lend] [name=village]")`, &asked)
	if asked {
		t.Error("the lend form asks the village; the loan's is the book's")
	}
	p.Eval("search a title", `(() => {
  const s = document.querySelector("[data-test=book-search]");
  s.value = "小王";
  s.dispatchEvent(new Event("input", {bubbles: true}));
  return true;
})()`, nil)
	p.click("[data-test=book-result]")
	if got := p.text("[data-test=loan-village]"); got != "南香村" {
		t.Errorf("the lend form shows the village %q, want the book's 南香村", got)
	}
	p.set("lend", "borrower_card", "B-17")
	p.set("lend", "lent_on", "2026-11-02")
	if *screenshotDir != "" {
		p.screenshot("lend")
	}
	p.click("form[data-form=lend] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	var lend struct {
		Form   string            `json:"form"`
		Fields map[string]string `json:"fields"`
	}
	p.lastSent("save", &lend)
	if lend.Form != "lend" || lend.Fields["book_id"] != books["小王子"] || lend.Fields["due_on"] != "2026-11-16" {
		t.Errorf("the loan sent %+v, want the chosen book %s and due 14 days after lending", lend, books["小王子"])
	}
	if got := p.text("[data-test=loan-village]"); got != "" {
		t.Errorf("after the save the lend form still shows the village %q", got)
	}

	p.route("#/return", "return")
	p.WaitFor("the open loan", `document.querySelectorAll("[data-test=loan] option[value]:not([value=''])").length === 1`)
	p.Eval("choose it", `(() => { const s = document.querySelector("[data-test=loan]"); s.value = s.options[1].value; return true; })()`, nil)
	p.click("form[data-form=return] [data-test=save]")
	p.WaitFor("saved", `!!document.querySelector("[data-test=saved]")`)
	var ret struct {
		Form     string            `json:"form"`
		RecordID string            `json:"recordId"`
		Fields   map[string]string `json:"fields"`
	}
	p.lastSent("save", &ret)
	if ret.Form != "return" || ret.RecordID == "" || ret.Fields["returned_on"] == "" {
		t.Errorf("the return sent %+v, want the loan's id and today", ret)
	}

	p.syncUntil("synced", `document.body.dataset.pending === "0" && document.body.dataset.sync === "idle"`)
	v := s.staffView(t)
	replicatest.SyncOK(t, v.r)
	loan, err := v.r.Get(context.Background(), "loans", ret.RecordID)
	if err != nil {
		t.Fatalf("the loan on the server: %v", err)
	}
	f := replica.JSON(loan).Fields
	if f["village"] != "南香村" || f["book_id"] != books["小王子"] || f["borrower_card"] != "B-17" ||
		f["due_on"] != "2026-11-16" || f["returned_on"] != time.Now().Format(time.DateOnly) {
		t.Errorf("the server has the loan as %v, want 小王子 lent in 南香村 to B-17, due 2026-11-16, back today", f)
	}
	if classes := v.classes(t); len(classes) != 0 {
		t.Errorf("the server has the classes %v, want the deleted one gone", classes)
	}
}
