package app

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/chromium"
)

// One Chromium serves every test of the package; each test gets a
// browser context of its own, so its own origin-private file system.
func TestMain(m *testing.M) {
	os.Exit(chromium.Main(m))
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
	ctx, cancel := chromedp.NewContext(chromium.Browser(t), chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("open a browser context: %v", err)
	}
	return &profile{t: t, ctx: ctx, base: base}
}

// A killable profile is a Chromium of its own on a profile directory
// that outlives it: kill ends the browser as a crash would, restart
// starts a new one on the same files.
type killableProfile struct {
	*profile
	dir  string
	kill func()
}

func newKillableProfile(t testing.TB, base string) *killableProfile {
	t.Helper()
	dir := t.TempDir()
	ctx, kill := chromium.Start(t, dir)
	return &killableProfile{profile: &profile{t: t, ctx: ctx, base: base}, dir: dir, kill: kill}
}

func (k *killableProfile) restart() *killableProfile {
	k.t.Helper()
	ctx, kill := chromium.Start(k.t, k.dir)
	return &killableProfile{profile: &profile{t: k.t, ctx: ctx, base: k.base}, dir: k.dir, kill: kill}
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
