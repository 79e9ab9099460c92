package app

import (
	"context"
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
	ctx, _ := chromium.NewContext(t, chromium.Browser(t), "open a browser context", chromedp.WithNewBrowserContext())
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
	*chromium.Tab
	close context.CancelFunc
}

// actionTimeout bounds one step: a step that waits on the page fails with
// the page's state rather than hanging the package.
const actionTimeout = 30 * time.Second

// tab opens a new tab in the profile (the same browser context).
func (p *profile) tab(name string) *tab {
	p.t.Helper()
	ctx, cancel := chromium.NewContext(p.t, p.ctx, "open tab "+name)
	// A save in a benchmark can take minutes.
	return &tab{Tab: chromium.New(p.t, ctx, chromium.Options{StepTimeout: actionTimeout, EvalTimeout: 10 * time.Minute,
		Name: name, HTML: 800}), close: cancel}
}
