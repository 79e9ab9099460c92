package chromium

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/systest/require"
)

var (
	browser context.Context
	failed  error
)

// Main starts Chromium, runs the package's tests and stops it: call it
// from TestMain. Without a browser the tests still run, and each that
// needs one skips (see Browser).
func Main(m *testing.M) int {
	path, err := find()
	if err != nil {
		failed = err
		return m.Run()
	}
	profile, err := os.MkdirTemp("", "villagesync-chromium-")
	if err != nil {
		failed = err
		return m.Run()
	}
	defer os.RemoveAll(profile)
	// The flags this closed network wants: without the background ones
	// Chromium keeps dialling Google's hosts and is refused.
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
	// Started under a context of its own that has no deadline: the first
	// call binds the browser's life to the context it is given.
	if err := chromedp.Do(bctx); err != nil {
		failed = fmt.Errorf("start %s: %w", path, err)
		return m.Run()
	}
	if _, err := chromedp.Run(start, chromedp.Evaluate[int](`1`)); err != nil {
		failed = fmt.Errorf("start %s: %w", path, err)
		return m.Run()
	}
	browser = bctx
	return m.Run()
}

// Browser is the shared browser's context, for new browser contexts (one
// per device); without a browser the test skips, or fails under
// VILLAGESYNC_REQUIRE_ALL.
func Browser(t testing.TB) context.Context {
	t.Helper()
	if browser == nil {
		require.SkipOrFail(t, "%v", failed)
	}
	return browser
}

// find is VILLAGESYNC_CHROMIUM, else Debian's chromium.
func find() (string, error) {
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
