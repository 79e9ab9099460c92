package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// One Chromium serves every test of the package (the console package's
// harness, reduced to what the app's tests need); each test gets a
// browser context of its own, so its own origin-private file system.
var (
	browserCtx context.Context
	browserErr error
)

func TestMain(m *testing.M) {
	os.Exit(runWithBrowser(m))
}

func runWithBrowser(m *testing.M) int {
	path, err := chromium()
	if err != nil {
		browserErr = err
		return m.Run()
	}
	profile, err := os.MkdirTemp("", "villagesync-chromium-app-")
	if err != nil {
		browserErr = err
		return m.Run()
	}
	defer os.RemoveAll(profile)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	start, cancelStart := context.WithTimeout(bctx, time.Minute)
	defer cancelStart()
	// Started under a context without a deadline: the first call binds
	// the browser's life to the context it is given.
	if err := chromedp.Do(bctx); err != nil {
		browserErr = fmt.Errorf("start %s: %w", path, err)
		return m.Run()
	}
	if _, err := chromedp.Run(start, chromedp.Evaluate[int](`1`)); err != nil {
		browserErr = fmt.Errorf("start %s: %w", path, err)
		return m.Run()
	}
	browserCtx = bctx
	return m.Run()
}

// chromium finds the browser: VILLAGESYNC_CHROMIUM, else Debian's.
func chromium() (string, error) {
	if p := os.Getenv("VILLAGESYNC_CHROMIUM"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("VILLAGESYNC_CHROMIUM=%s: %w; install Debian's chromium: apt-get install chromium", p, err)
		}
		return p, nil
	}
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no Chromium found: install Debian's chromium: apt-get install chromium " +
		"(or set VILLAGESYNC_CHROMIUM to a Chromium binary)")
}

// skipOrFail skips, or fails where VILLAGESYNC_REQUIRE_ALL is set.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("VILLAGESYNC_REQUIRE_ALL") != "" {
		t.Fatalf(format+" (VILLAGESYNC_REQUIRE_ALL is set, so this does not skip)", args...)
	}
	t.Skipf(format, args...)
}

// A profile is one browser context (its own storage, OPFS and locks),
// kept alive by a blank tab of its own so that closing any tab the test
// opens in it ends that tab only.
type profile struct {
	t    testing.TB
	ctx  context.Context
	base string
}

func newProfile(t testing.TB, base string) *profile {
	t.Helper()
	if browserCtx == nil {
		skipOrFail(t, "%v", browserErr)
	}
	ctx, cancel := chromedp.NewContext(browserCtx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	return &profile{t: t, ctx: ctx, base: base}
}

// A tab is one page of a profile.
type tab struct {
	t     testing.TB
	ctx   context.Context
	close context.CancelFunc
	name  string
}

// actionTimeout bounds one step: a step that waits on the page fails with
// the page's state rather than hanging the package.
const actionTimeout = 30 * time.Second

// tab opens a new tab in the profile (the same browser context).
func (p *profile) tab(name string) *tab {
	p.t.Helper()
	ctx, cancel := chromedp.NewContext(p.ctx)
	p.t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		p.t.Fatalf("open tab %s: %v", name, err)
	}
	return &tab{t: p.t, ctx: ctx, close: cancel, name: name}
}

func (tb *tab) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, actionTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.t.Fatalf("tab %s: %s: %v\n%s", tb.name, what, err, tb.describe())
	}
}

// eval evaluates a JavaScript expression (awaiting a promise) and
// decodes its value into out.
func (tb *tab) eval(what, expr string, out any) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Minute)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err == nil && out != nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		tb.t.Fatalf("tab %s: %s: %v\n%s", tb.name, what, err, tb.describe())
	}
}

// waitFor polls until the expression is truthy: no fixed waits.
func (tb *tab) waitFor(what, expr string) {
	tb.t.Helper()
	tb.do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond),
			chromedp.WithPollingTimeout(actionTimeout))(ctx, t)
		return err
	}))
}

func (tb *tab) str(what, expr string) string {
	tb.t.Helper()
	var s *string
	tb.eval(what, expr, &s)
	if s == nil {
		return ""
	}
	return *s
}

func (tb *tab) describe() string {
	ctx, cancel := context.WithTimeout(tb.ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`location.href + "\n" + document.body.outerHTML.slice(0, 800) +
		"\n---\n" + document.body.innerText.slice(0, 1500)`))
	if err != nil {
		return fmt.Sprintf("(page unreadable: %v)", err)
	}
	return "page: " + s
}
