package appworker

import (
	"context"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

var screenshotDir = flag.String("screenshots", "", "write the carried files' screenshots as PNG files to this folder (e.g. docs/screenshots)")

// console is a browser context with the console open, signed in as staff.
func (e *env) console(t *testing.T) *chromium.Tab {
	t.Helper()
	ctx, _ := chromium.NewContext(t, chromium.Browser(t), "open a browser context", chromedp.WithNewBrowserContext())
	c := chromium.New(t, ctx, chromium.Options{StepTimeout: time.Minute})
	c.Do("set the viewport", chromedp.EmulateViewport(1366, 900))
	c.Do("sign in", chromedp.Navigate(e.url+"/#/signin?code="+e.code(t, "town-staff", store.Staff)))
	c.Do("wait for the overview", chromedp.WaitReady(chromedp.CSS(`body[data-page=overview][data-ready]`)))
	c.Do("open the devices", chromedp.Navigate(e.url+"/#/devices"))
	c.Do("wait for the devices", chromedp.WaitReady(chromedp.CSS(`body[data-page=devices][data-ready] [data-test=drop-zone]`)))
	return c
}

// drop drops a file on the console's drop zone, as a file dragged from
// the desktop, and waits for the answer.
func drop(c *chromium.Tab, name string, file []byte) {
	c.T.Helper()
	c.Eval("drop "+name, fmt.Sprintf(`(() => {
	  const s = atob(%q); const b = new Uint8Array(s.length);
	  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
	  const dt = new DataTransfer(); dt.items.add(new File([b], %q));
	  document.querySelector("[data-test=carried-out]").replaceChildren();
	  document.querySelector("[data-test=drop-zone]").dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
	  return true;
	})()`, base64.StdEncoding.EncodeToString(file), name), nil)
	c.WaitFor("the answer to "+name, `(() => { const o = document.querySelector("[data-test=carried-out]");
	  return o.querySelector("[data-test=carried-response], [data-test=error]") !== null && document.body.hasAttribute("data-ready"); })()`)
}

// download clicks sel and returns the bytes of the file it downloads.
func download(c *chromium.Tab, sel string) (string, []byte) {
	c.T.Helper()
	dir := c.T.TempDir()
	ctx, cancel := context.WithTimeout(c.Ctx, time.Minute)
	defer cancel()
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: chromedp.FromContext(c.Ctx).BrowserContextID,
		DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		c.T.Fatalf("allow downloads: %v", err)
	}
	begins := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	c.Do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
	var guid, name string
	for ev, err := range begins {
		if err != nil {
			c.T.Fatalf("download from %s did not begin: %v", sel, err)
		}
		guid, name = ev.GUID, ev.SuggestedFilename
		break
	}
	for ev, err := range progress {
		if err != nil {
			c.T.Fatalf("download of %s: %v", name, err)
		}
		if ev.GUID != guid || ev.State != browser.DownloadProgressStateCompleted {
			continue
		}
		path := ev.FilePath
		if path == "" {
			path = filepath.Join(dir, guid)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			c.T.Fatal(err)
		}
		return name, b
	}
	c.T.Fatalf("download of %s did not complete", name)
	return "", nil
}

func shot(c *chromium.Tab, name string) {
	c.T.Helper()
	if *screenshotDir == "" {
		return
	}
	ctx, cancel := context.WithTimeout(c.Ctx, time.Minute)
	defer cancel()
	b, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.T.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(*screenshotDir, name), b, 0o644); err != nil {
		c.T.Fatal(err)
	}
}

// A phone with no signal writes its changes to a file; staff drop it on
// the console's devices page, which shows each change's outcome and whose
// they were; dropped again, the server already had them; a tampered file
// is refused with the seal's sentence and nothing applied. Staff write a
// file for the phone, which imports it: its changes are marked synced.
func TestCarriedThroughTheConsole(t *testing.T) {
	e := start(t)
	p := e.phone(t)
	// Enrollment exchanges the box keys: the phone never syncs after.
	id := p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`,
		js(e.code(t, "xiaoli", store.Volunteer, "南香村")))).Identity
	if p.meta("server_box_public_key") == "" {
		t.Fatal("enrollment left the phone without the server's box key")
	}
	p.call(`{op: "save", form: "log-session", lang: "zh", fields: {village: "南香村", children_present: "14", class_group: "三年级"}}`)
	p.call(`{op: "save", form: "report-cleanup", lang: "zh", fields: {village: "南香村", kind: "street_sweeping"}}`)
	file, why := p.exportFile()
	if why != "" {
		t.Fatalf("export: %s", why)
	}

	c := e.console(t)
	drop(c, "phone.vscarry", file)
	outcomes := func() string {
		return c.Str("outcomes", `[...document.querySelectorAll("[data-test=carried-result]")].map((e) => e.dataset.outcome).join(",")`)
	}
	if got := outcomes(); got != "applied,applied" {
		t.Fatalf("outcomes %q; want both applied\n%s", got, c.Describe())
	}
	if from := c.Str("from", `document.querySelector("[data-test=carried-response]").textContent`); !strings.Contains(from, "手机") ||
		!strings.Contains(from, "xiaoli") {
		t.Errorf("the answer says %q; want the device and user it came from", from)
	}
	shot(c, "devices-carried-laptop.png")
	drop(c, "phone.vscarry", file)
	if got := outcomes(); got != "already_had,already_had" {
		t.Errorf("carried again: %q; want already had", got)
	}
	drop(c, "tampered.vscarry", tamper(t, file))
	if msg := c.Str("error", `document.querySelector("[data-test=carried-out] [data-test=error]")?.textContent ?? ""`); !strings.Contains(msg, "cannot be opened") && !strings.Contains(msg, "无法打开") {
		t.Errorf("a tampered file: %q; want the seal's refusal", msg)
	}
	shot(c, "devices-carried-refused-laptop.png")
	if s := p.call(`{op: "state", lang: "zh"}`).State; s.Pending != 2 {
		t.Fatalf("the phone: %+v; want its two changes pending until it hears back", s)
	}

	name, pull := download(c, fmt.Sprintf(`[data-test=device][data-replica="%d"] [data-test=write-file]`, id.Replica))
	if !strings.HasSuffix(name, ".vscarry") {
		t.Errorf("the file for the phone is named %q", name)
	}
	got, why := p.carryIn(pull)
	if why != "" || got.Acks < 2 {
		t.Fatalf("the phone opens the staff's file: %+v %q; want two acknowledgements", got, why)
	}
	if s := p.call(`{op: "state", lang: "zh"}`).State; s.Pending != 0 {
		t.Fatalf("after the staff's file: %+v; want nothing pending", s)
	}
}
