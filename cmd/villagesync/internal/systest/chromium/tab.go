package chromium

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Options are how a Tab bounds its steps and what it says when one
// fails; each package keeps the bounds its pages need (a worker's
// benchmark runs for minutes, a console click for seconds).
type Options struct {
	// StepTimeout bounds one Do and WaitFor's polling: a step that waits on the
	// page fails with the page's state rather than hanging the package.
	// Zero is 30 s.
	StepTimeout time.Duration
	// EvalTimeout bounds one Eval; zero is StepTimeout.
	EvalTimeout time.Duration
	// Name, when set, opens every failure ("tab NAME: ..."), for tests
	// that drive several tabs of one profile.
	Name string
	// HTML is how much of the body's markup Describe shows; zero is 600
	// characters.
	HTML int
	// Quiet leaves the page's description out of failures, for pages
	// (the worker's harness) whose markup says nothing.
	Quiet bool
}

// A Tab is one page of a browser test, failing its test with what the
// page shows when a step fails.
type Tab struct {
	T   testing.TB
	Ctx context.Context
	Options
}

// New is a Tab on ctx, a tab's context opened by NewContext.
func New(t testing.TB, ctx context.Context, o Options) *Tab {
	if o.StepTimeout == 0 {
		o.StepTimeout = 30 * time.Second
	}
	if o.EvalTimeout == 0 {
		o.EvalTimeout = o.StepTimeout
	}
	if o.HTML == 0 {
		o.HTML = 600
	}
	return &Tab{T: t, Ctx: ctx, Options: o}
}

// NewContext opens a tab under parent (a new browser context with
// chromedp.WithNewBrowserContext), closed at the end of the test or by
// cancel. It is opened here, without a deadline: the first call binds
// the tab's life to the context it is given, and every later step has a
// deadline of its own. what names the tab in the failure.
func NewContext(t testing.TB, parent context.Context, what string, opts ...chromedp.ContextOption) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(parent, opts...)
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return ctx, cancel
}

// Do runs steps, failing the test with what the page shows when one fails.
func (tb *Tab) Do(what string, steps ...chromedp.Action[chromedp.Void]) {
	tb.T.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, tb.StepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.fail(what, err)
	}
}

// Eval evaluates a JavaScript expression (awaiting a promise) and
// decodes its value into out, unless out is nil.
func (tb *Tab) Eval(what, expr string, out any) {
	tb.T.Helper()
	ctx, cancel := context.WithTimeout(tb.Ctx, tb.EvalTimeout)
	defer cancel()
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr, chromedp.EvalAwaitPromise))
	if err == nil && out != nil {
		err = json.Unmarshal(raw, out)
	}
	if err != nil {
		tb.fail(what, err)
	}
}

// WaitFor waits until the JavaScript expression is truthy: the state of
// the page is polled, nothing waits for a fixed time.
func (tb *Tab) WaitFor(what, expr string) {
	tb.T.Helper()
	tb.Do(what, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := chromedp.Poll[chromedp.Void](expr, chromedp.WithPollingInterval(20*time.Millisecond),
			chromedp.WithPollingTimeout(tb.StepTimeout))(ctx, t)
		return err
	}))
}

// Str evaluates a JavaScript expression to a string; null is "".
func (tb *Tab) Str(what, expr string) string {
	tb.T.Helper()
	var s *string
	tb.Eval(what, expr, &s)
	if s == nil {
		return ""
	}
	return *s
}

// Describe is what the page shows, for a failure message: its address,
// the start of its markup and of its text.
func (tb *Tab) Describe() string {
	ctx, cancel := context.WithTimeout(tb.Ctx, 3*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`location.href + "\n" + document.body.outerHTML.slice(0, %d) +
		"\n---\n" + document.body.innerText.slice(0, 1500)`, tb.HTML)))
	if err != nil {
		return fmt.Sprintf("(page unreadable: %v)", err)
	}
	return "page: " + s
}

func (tb *Tab) fail(what string, err error) {
	tb.T.Helper()
	prefix := ""
	if tb.Name != "" {
		prefix = "tab " + tb.Name + ": "
	}
	if tb.Quiet {
		tb.T.Fatalf("%s%s: %v", prefix, what, err)
		return
	}
	tb.T.Fatalf("%s%s: %v\n%s", prefix, what, err, tb.Describe())
}
