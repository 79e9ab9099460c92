package appworker

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/chromedp"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/api/wire"
	web "github.com/futian-xiaomo/villagesync/clients/web"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/appharness"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

var screenshotDir = flag.String("screenshots", "", "write the carried files' screenshots as PNG files to this folder (e.g. docs/screenshots)")

// desk is a CarryService in front of the server, for the console's side
// of carried files: it opens push files for real (api/wire, its own box
// keys) and answers each change's outcome as the server's handler does
// (applied the first time, already had after), and writes pull files
// with the acknowledgements of what it took. The server's own handler is
// tested end to end on its branch (iss15-server); here the files are the
// browser's and the outcomes the console shows.
type desk struct {
	keys    wire.BoxKeys
	mu      sync.Mutex
	devices map[uint32]*[wire.BoxKeySize]byte
	had     map[string]uint64 // table/id -> the counter carried
	carried int               // files applied
	server  uint64            // the server id the device's files name
}

// langKey holds the request's language in the desk's context, as the
// server's interceptor does, so its refusals read as the server's would.
type langKey struct{}

func withLang(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := schema.EN
		if strings.HasPrefix(r.Header.Get("Accept-Language"), "zh") {
			l = schema.ZH
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), langKey{}, l)))
	})
}

func refuse(ctx context.Context, code connect.Code, err error) error {
	if m, ok := err.(*schema.Message); ok {
		l, _ := ctx.Value(langKey{}).(schema.Lang)
		return connect.NewError(code, errors.New(m.In(l)))
	}
	return connect.NewError(code, err)
}

func (d *desk) Carry(ctx context.Context, req *v1.CarryRequest) (*v1.CarryResponse, error) {
	f, err := wire.ReadCarried(req.File)
	if err != nil {
		return nil, refuse(ctx, connect.CodeInvalidArgument, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	pub := d.devices[f.Replica]
	if pub == nil {
		return nil, connect.NewError(connect.CodeFailedPrecondition, fmt.Errorf("device %d is not known", f.Replica))
	}
	p, err := wire.OpenPush(f, d.keys, pub)
	if err != nil {
		return nil, refuse(ctx, connect.CodeInvalidArgument, err)
	}
	d.carried++
	d.server = p.ServerId
	out := &v1.CarryResponse{Replica: p.Replica, Device: "手机", User: "xiaoli"}
	for i, c := range p.Request.Changes {
		k := c.Table + "/" + c.Id
		res := &v1.PushResult{Index: uint32(i), Outcome: v1.Outcome_OUTCOME_APPLIED, Current: c}
		if _, ok := d.had[k]; ok {
			res.Outcome = v1.Outcome_OUTCOME_ALREADY_HAD
		}
		for _, fl := range c.Fields {
			if fl.Dot.Replica == p.Replica && fl.Dot.Counter > d.had[k] {
				d.had[k] = fl.Dot.Counter
			}
		}
		out.Results = append(out.Results, res)
	}
	return out, nil
}

func (d *desk) CarryFor(_ context.Context, req *v1.CarryForRequest) (*v1.CarryForResponse, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	pub := d.devices[req.Replica]
	if pub == nil {
		return nil, connect.NewError(connect.CodeNotFound, fmt.Errorf("device %d is not known", req.Replica))
	}
	pull := &v1.CarriedPull{ServerId: d.server, Replica: req.Replica, MadeAtMs: time.Now().UnixMilli()}
	for k, n := range d.had {
		table, id, _ := strings.Cut(k, "/")
		pull.Acks = append(pull.Acks, &v1.CarriedAck{Table: table, Id: id, Counter: n})
	}
	b, err := wire.SealPull(pull, d.keys, pub)
	if err != nil {
		return nil, err
	}
	return &v1.CarryForResponse{File: b, Device: "手机", Acks: uint32(len(pull.Acks))}, nil
}

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
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "server.db"), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	d := &desk{keys: keys, devices: map[uint32]*[wire.BoxKeySize]byte{}, had: map[string]uint64{}}
	mux := http.NewServeMux()
	path, h := villagesyncv1connect.NewCarryServiceHandler(d)
	mux.Handle(path, withLang(h))
	mux.Handle("/", appharness.Handler(server.NewHandler(st, slog.New(slog.DiscardHandler), server.Options{UI: web.Handler()})))
	e := &env{st: st, handler: mux}
	e.serve(t, mux)

	p := e.phone(t)
	id := p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "zh"}`,
		js(e.code(t, "xiaoli", store.Volunteer, "南香村")))).Identity
	pub, _ := hex.DecodeString(p.meta("box_public_key"))
	var dpub [wire.BoxKeySize]byte
	copy(dpub[:], pub)
	d.devices[id.Replica] = &dpub
	p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_box_public_key', ?)", bind: [%q]}`,
		hex.EncodeToString(keys.Public[:])))
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
	if msg := c.Str("error", `document.querySelector("[data-test=carried-out] [data-test=error]")?.textContent ?? ""`); !strings.Contains(msg, "fails its seal") && !strings.Contains(msg, "未通过校验") {
		t.Errorf("a tampered file: %q; want the seal's refusal", msg)
	}
	if d.carried != 2 {
		t.Errorf("%d files applied; want 2 (the tampered one refused)", d.carried)
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
	if why != "" || got.Acks != 2 {
		t.Fatalf("the phone opens the staff's file: %+v %q; want two acknowledgements", got, why)
	}
	if s := p.call(`{op: "state", lang: "zh"}`).State; s.Pending != 0 {
		t.Fatalf("after the staff's file: %+v; want nothing pending", s)
	}
}
