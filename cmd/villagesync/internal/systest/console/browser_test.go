package console

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
)

var screenshotDir = flag.String("screenshots", "",
	"write the console's screenshots as PNG files to this folder (e.g. docs/screenshots)")

// One Chromium serves every test of the package: starting it costs a
// second or two, a browser context (one per device) a few milliseconds.
func TestMain(m *testing.M) {
	flag.Parse()
	os.Exit(chromium.Main(m))
}

// A viewport is a screen the console is used on.
type viewport struct {
	name          string
	width, height int64
	scale         float64
	mobile        bool
}

var (
	laptop = viewport{"laptop", 1366, 900, 1, false}
	phone  = viewport{"phone", 390, 844, 2, true}
)

// A device is one browser with its own profile (a browser context:
// its own localStorage, cache and downloads) and one tab, whose network
// traffic it records.
type device struct {
	*chromium.Tab
	base string // the server's URL
	net  *recorder
	id   cdp.BrowserContextID
}

// actionTimeout bounds one step; a step that waits on the page fails with
// the page's state rather than hanging the package.
const actionTimeout = 20 * time.Second

func newDevice(t testing.TB, base string, vp viewport) *device {
	t.Helper()
	rec := newRecorder()
	ctx, _ := chromium.NewContext(t, chromium.Browser(t), "open a tab", chromedp.WithNewBrowserContext(), chromedp.WithListener(rec.listen))
	// Registered after the tab's cancel, so run before it.
	t.Cleanup(rec.stop)
	d := &device{Tab: chromium.New(t, ctx, chromium.Options{StepTimeout: actionTimeout}), base: base, net: rec}
	d.id = chromedp.FromContext(ctx).BrowserContextID
	go rec.fetchBodies(ctx)
	d.Do("set the viewport", d.emulate(vp))
	return d
}

func (d *device) emulate(vp viewport) chromedp.Action[chromedp.Void] {
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(vp.scale)}
	if vp.mobile {
		opts = append(opts, chromedp.EmulateMobile)
	}
	return chromedp.EmulateViewport(vp.width, vp.height, opts...)
}

// pageReady is the selector of a route drawn with its data.
func pageReady(route string) string {
	return fmt.Sprintf(`body[data-page=%q][data-ready]`, route)
}

// open navigates to a route of the console ("#/overview") and waits until
// the page named page is drawn with its data.
func (d *device) open(route, page string) {
	d.T.Helper()
	d.navigate(d.base + "/" + route)
	d.waitPage(page)
}

// navigate loads url once the bodies of the responses so far are read:
// a new document drops its predecessor's.
func (d *device) navigate(url string) {
	d.T.Helper()
	d.settled()
	d.Do("open "+url, chromedp.Navigate(url))
}

// reload reloads the page, its responses' bodies read first.
func (d *device) reload() {
	d.T.Helper()
	d.settled()
	d.Do("reload", chromedp.Reload())
}

// waitPage waits until the page is drawn with its data.
func (d *device) waitPage(page string) {
	d.T.Helper()
	d.Do("wait for the "+page+" page", chromedp.WaitReady(chromedp.CSS(pageReady(page))))
}

// click clicks the first element sel matches, once it is visible.
func (d *device) click(sel string) {
	d.T.Helper()
	d.Do("click "+sel, chromedp.WaitVisible(chromedp.CSS(sel)), chromedp.Click(chromedp.CSS(sel)))
}

// text is the text content of the first element sel matches, trimmed;
// ok is false when there is none.
func (d *device) text(sel string) (s string, ok bool) {
	d.T.Helper()
	var v *string
	d.Eval("read "+sel, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.textContent.trim() : null })()`, sel), &v)
	if v == nil {
		return "", false
	}
	return *v, true
}

// attr is an attribute of the first element sel matches; ok is false
// when there is no such element or attribute.
func (d *device) attr(sel, name string) (s string, ok bool) {
	d.T.Helper()
	var v *string
	d.Eval("read "+sel+" "+name, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e ? e.getAttribute(%q) : null })()`, sel, name), &v)
	if v == nil {
		return "", false
	}
	return *v, true
}

// count is how many elements sel matches.
func (d *device) count(sel string) int {
	d.T.Helper()
	var n int
	d.Eval("count "+sel, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n)
	return n
}

// signIn opens the enrollment link for code, as a phone that scanned the
// QR code does, and waits for the overview.
func (d *device) signIn(code string) {
	d.T.Helper()
	d.open("#/signin?code="+code, "overview")
}

// screenshot is a PNG of the viewport.
func (d *device) screenshot() []byte {
	d.T.Helper()
	ctx, cancel := context.WithTimeout(d.Ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		d.T.Fatalf("screenshot: %v", err)
	}
	return png
}

// elementShot is a PNG of the first element sel matches, at scale.
func (d *device) elementShot(sel string, scale float64) []byte {
	d.T.Helper()
	ctx, cancel := context.WithTimeout(d.Ctx, actionTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.ScreenshotScale(chromedp.CSS(sel), scale))
	if err != nil {
		d.T.Fatalf("screenshot of %s: %v\n%s", sel, err, d.Describe())
	}
	return png
}

// localStorage is the page's localStorage, every key and value.
func (d *device) localStorage() map[string]string {
	d.T.Helper()
	m := map[string]string{}
	d.Eval("read localStorage", `Object.fromEntries(Object.entries(localStorage))`, &m)
	return m
}

// download clicks sel and waits for the browser to save the file it
// starts, in dir; it returns the name the page gave the file and where
// the browser wrote it.
func (d *device) download(sel, dir string) (suggested, path string) {
	d.T.Helper()
	ctx, cancel := context.WithTimeout(d.Ctx, actionTimeout)
	defer cancel()
	_, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, BrowserContextID: d.id,
		DownloadPath: dir, EventsEnabled: new(true),
	})
	if err != nil {
		d.T.Fatalf("allow downloads: %v", err)
	}
	// Subscribed before the click, so no event is missed.
	begins := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	d.click(sel)
	var guid string
	for ev, err := range begins {
		if err != nil {
			d.T.Fatalf("download from %s did not begin: %v\n%s", sel, err, d.Describe())
		}
		guid, suggested = ev.GUID, ev.SuggestedFilename
		break
	}
	for ev, err := range progress {
		if err != nil {
			d.T.Fatalf("download of %s did not complete: %v", suggested, err)
		}
		if ev.GUID != guid {
			continue
		}
		switch ev.State {
		case browser.DownloadProgressStateCompleted:
			path = ev.FilePath
			if path == "" {
				path = dir + "/" + guid
			}
			return suggested, path
		case browser.DownloadProgressStateCanceled:
			d.T.Fatalf("download of %s was canceled", suggested)
		}
	}
	panic("unreachable")
}

// An exchange is one request of the page and its response, as the
// browser's network events describe them.
type exchange struct {
	URL, Method string
	PostData    []byte
	ReqHeaders  network.Headers
	Type        network.ResourceType
	Status      int64
	Headers     network.Headers
	MIME        string
	// Cached: served from the memory or disk cache, or revalidated (304).
	Cached bool
	// Wire is what the browser received for it, headers included.
	Wire           float64
	Body           []byte
	Err            string // the request failed, or its body could not be read
	finished, done bool
}

// A recorder keeps every exchange of one tab with its body: bodies are
// fetched as each response finishes, before a later navigation can drop
// them.
type recorder struct {
	mu      sync.Mutex
	byID    map[network.RequestID]*exchange
	order   []*exchange
	queue   []network.RequestID
	changed chan struct{} // closed and replaced at every change
	quit    chan struct{}
}

func newRecorder() *recorder {
	return &recorder{byID: map[network.RequestID]*exchange{}, changed: make(chan struct{}), quit: make(chan struct{})}
}

func (r *recorder) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	select {
	case <-r.quit:
	default:
		close(r.quit)
	}
}

// note wakes the waiters; r.mu is held.
func (r *recorder) note() {
	close(r.changed)
	r.changed = make(chan struct{})
}

// listen runs in the tab's event loop: it must be quick and send no
// command, so bodies are fetched by fetchBodies.
func (r *recorder) listen(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	get := func(id network.RequestID) *exchange {
		x := r.byID[id]
		if x == nil {
			x = &exchange{}
			r.byID[id] = x
			r.order = append(r.order, x)
		}
		return x
	}
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		x := get(ev.RequestID)
		x.URL, x.Method, x.ReqHeaders = ev.Request.URL, ev.Request.Method, ev.Request.Headers
		x.PostData = nil
		for _, e := range ev.Request.PostDataEntries {
			x.PostData = append(x.PostData, e.Bytes...)
		}
		x.Type = ev.Type
	case *network.EventRequestServedFromCache:
		get(ev.RequestID).Cached = true
	case *network.EventResponseReceived:
		x := get(ev.RequestID)
		x.Type, x.Status, x.Headers, x.MIME = ev.Type, ev.Response.Status, ev.Response.Headers, ev.Response.MimeType
		if ev.Response.FromDiskCache || ev.Response.FromPrefetchCache || ev.Response.Status == 304 {
			x.Cached = true
		}
	case *network.EventResponseReceivedExtraInfo:
		// The status on the wire: a revalidated response is 304 here and
		// 200 in responseReceived.
		if ev.StatusCode == 304 {
			get(ev.RequestID).Cached = true
		}
	case *network.EventLoadingFinished:
		x := get(ev.RequestID)
		x.Wire, x.finished = ev.EncodedDataLength, true
		r.queue = append(r.queue, ev.RequestID)
	case *network.EventLoadingFailed:
		x := get(ev.RequestID)
		x.Err, x.finished, x.done = "failed: "+ev.ErrorText, true, true
	default:
		return
	}
	r.note()
}

// fetchBodies reads the body of every finished response, until ctx ends.
func (r *recorder) fetchBodies(ctx context.Context) {
	for {
		r.mu.Lock()
		changed := r.changed
		var id network.RequestID
		if len(r.queue) > 0 {
			id, r.queue = r.queue[0], r.queue[1:]
		}
		r.mu.Unlock()
		if id == "" {
			select {
			case <-changed:
				continue
			case <-ctx.Done():
				return
			case <-r.quit:
				return
			}
		}
		res, err := chromedp.Call(ctx, network.GetResponseBody, network.GetResponseBodyParams{RequestID: id})
		r.mu.Lock()
		x := r.byID[id]
		x.Body, x.done = res.Body, true
		if err != nil && x.Err == "" {
			x.Err = "body: " + err.Error()
		}
		r.note()
		r.mu.Unlock()
	}
}

// settled returns every exchange so far once each request has finished
// and its body has been read (or failed).
func (d *device) settled() []exchange {
	d.T.Helper()
	ctx, cancel := context.WithTimeout(d.Ctx, actionTimeout)
	defer cancel()
	r := d.net
	for {
		r.mu.Lock()
		var open []string
		for _, x := range r.order {
			if !x.done {
				open = append(open, x.Method+" "+x.URL)
			}
		}
		changed := r.changed
		if len(open) == 0 {
			out := make([]exchange, len(r.order))
			for i, x := range r.order {
				out[i] = *x
			}
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			d.T.Fatalf("requests still open: %s", strings.Join(open, ", "))
		}
	}
}

// mark is the number of exchanges so far; since(mark) are those after.
func (d *device) mark() int {
	d.net.mu.Lock()
	defer d.net.mu.Unlock()
	return len(d.net.order)
}

func (d *device) since(mark int) []exchange {
	d.T.Helper()
	all := d.settled()
	return all[mark:]
}
