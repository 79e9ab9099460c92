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
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), options(path, profile)...)
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

// options are the flags this closed network wants: without the
// background ones Chromium keeps dialling Google's hosts and is refused.
func options(path, profile string) []chromedp.ExecAllocatorOption {
	return append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(profile),
	)
}

// Start starts a Chromium of its own on the profile directory dir, for a
// test that kills a browser and starts it again on the same files (the
// shared browser's contexts keep their storage in memory, and end with
// it). kill ends the process with SIGKILL, as a crash or a phone's
// task killer would: no shutdown, nothing flushed on the way out.
func Start(t testing.TB, dir string) (ctx context.Context, kill func()) {
	t.Helper()
	path, err := find()
	if err != nil {
		require.SkipOrFail(t, "%v", err)
	}
	// Cancelling the allocator's context kills the process
	// (exec.CommandContext); cancelling the browser's would close it
	// gracefully first.
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), options(path, dir)...)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelBrowser(); cancelAlloc() })
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start %s on %s: %v", path, dir, err)
	}
	kill = func() {
		cancelAlloc()
		// Wait for the process to be gone: the next browser on dir must
		// not meet this one's lock on the profile.
		if a := chromedp.FromContext(bctx).Allocator; a != nil {
			a.Wait()
		}
	}
	return bctx, kill
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
