package console

import (
	"bytes"
	"fmt"
	"image/png"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
)

// firstLoadBudget is the issue's: the console's first load, everything
// included, at most 250 KB compressed on the wire (counted here in
// thousands of bytes, the stricter reading).
const firstLoadBudget = 250_000

// isFile says whether an exchange fetched one of the console's files
// rather than calling the API.
func (x exchange) isFile() bool { return x.procedure() == "" }

func (x exchange) path() string {
	u, err := url.Parse(x.URL)
	if err != nil {
		return x.URL
	}
	return u.Path
}

// The first load of the console on a browser with an empty cache, from
// the enrollment link to the drawn overview (index.html, scripts, styles,
// and every call of the sign-in and the overview), fits the budget; a
// second load takes the scripts and styles from the cache. Bytes are
// counted as the browser received them (compressed, headers included).
func TestFirstLoadBudget(t *testing.T) {
	s := startSeason(t)
	d := newDevice(t, s.URL, phone)
	d.signIn(s.code(coordinator))
	first := d.settled()
	var total, files, calls float64
	var assets int
	for _, x := range first {
		if strings.HasPrefix(x.URL, "data:") || strings.HasPrefix(x.URL, "blob:") {
			continue
		}
		if !strings.HasPrefix(x.URL, s.URL+"/") {
			t.Errorf("the console fetched %s from another host: everything must come from the server", x.URL)
		}
		if x.Err != "" || x.Status >= 400 {
			t.Errorf("%s %s: status %d %s", x.Method, x.path(), x.Status, x.Err)
		}
		total += x.Wire
		what := x.procedure()
		if x.isFile() {
			files += x.Wire
			what = x.path()
			if x.Type == network.ResourceTypeScript || x.Type == network.ResourceTypeStylesheet {
				assets++
			}
		} else {
			calls += x.Wire
		}
		t.Logf("first load: %-44s %-10s %3d %7.0f B on the wire (%7d B decoded, %s)",
			what, x.Type, x.Status, x.Wire, len(x.Body), x.respHeader("Content-Encoding"))
	}
	t.Logf("first load: files %.1f KB + calls %.1f KB = %.1f KB on the wire (budget %d KB), %d requests",
		files/1000, calls/1000, total/1000, firstLoadBudget/1000, len(first))
	if total > firstLoadBudget {
		t.Errorf("the first load took %.0f bytes on the wire, over the budget of %d", total, firstLoadBudget)
	}
	if assets == 0 {
		t.Fatalf("the first load fetched no script or style sheet: nothing was measured")
	}
	checkCSP(t, first, s.URL)

	// Again, in the same browser: a new load, not a same-page navigation.
	mark := d.mark()
	d.navigate("about:blank")
	d.open("#/overview", "overview")
	var again float64
	seen := 0
	for _, x := range d.since(mark) {
		if strings.HasPrefix(x.URL, "about:") || strings.HasPrefix(x.URL, "data:") || strings.HasPrefix(x.URL, "blob:") {
			continue
		}
		again += x.Wire
		t.Logf("second load: %-43s %-10s %6.0f B on the wire, from the cache or revalidated: %v", x.procedure()+x.pathIfFile(),
			x.Type, x.Wire, x.Cached)
		if x.Type != network.ResourceTypeScript && x.Type != network.ResourceTypeStylesheet {
			continue
		}
		seen++
		if !x.Cached || x.Wire > 1000 {
			t.Errorf("the second load fetched %s again (%0.f B, status %d)", x.path(), x.Wire, x.Status)
		}
	}
	if seen == 0 {
		t.Errorf("the second load asked for no script or style sheet")
	}
	t.Logf("second load: %.1f KB on the wire", again/1000)
}

func (x exchange) pathIfFile() string {
	if x.isFile() {
		return x.path()
	}
	return ""
}

func (x exchange) respHeader(name string) string {
	for k, v := range x.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// checkCSP checks the page's Content-Security-Policy: no inline script,
// nothing from another origin.
func checkCSP(t testing.TB, xs []exchange, base string) {
	t.Helper()
	for _, x := range xs {
		if x.Type != network.ResourceTypeDocument {
			continue
		}
		csp := x.respHeader("Content-Security-Policy")
		t.Logf("Content-Security-Policy: %s", csp)
		script := regexp.MustCompile(`(?:^|;)\s*script-src([^;]*)`).FindStringSubmatch(csp)
		def := regexp.MustCompile(`(?:^|;)\s*default-src([^;]*)`).FindStringSubmatch(csp)
		src := ""
		switch {
		case script != nil:
			src = script[1]
		case def != nil:
			src = def[1]
		default:
			t.Errorf("%s has no script-src or default-src in its Content-Security-Policy %q", x.path(), csp)
			return
		}
		for _, bad := range []string{"'unsafe-inline'", "'unsafe-eval'", "*", "http:", "https:", "data:"} {
			if strings.Contains(" "+src+" ", " "+bad+" ") {
				t.Errorf("the Content-Security-Policy lets scripts from %s: %q", bad, csp)
			}
		}
		return
	}
	t.Errorf("no document among the first load's responses")
}

// Screenshots of the overview, the review queue and the enrollment page,
// in Chinese, at a phone's and a laptop's size: written to -screenshots
// when it is set, checked as PNG of the viewport's size either way.
func TestScreenshots(t *testing.T) {
	s := startSeason(t)
	for _, vp := range []viewport{phone, laptop} {
		d := newDevice(t, s.URL, vp)
		d.signIn(s.code(townStaff))
		shots := map[string][]byte{"overview": d.screenshot()}
		d.click("[data-test=nav-review]")
		d.waitPage("review")
		shots["review"] = d.screenshot()
		d.click("[data-test=nav-enroll]")
		d.waitPage("enroll")
		d.selectValue("[data-test=enroll-user]", nanxiangVolunteer)
		d.click("[data-test=enroll-create]")
		d.WaitFor("the QR code", `!!document.querySelector("[data-test=enroll-qr]")`)
		// The card that holds the QR code and the code, from its top.
		d.Eval("show the QR code", `(() => {
  const code = document.querySelector("[data-test=enroll-code]");
  let e = document.querySelector("[data-test=enroll-qr]");
  while (e && !e.contains(code)) e = e.parentElement;
  (e || document.body).scrollIntoView({block: "start"});
  return true;
})()`, nil)
		shots["enroll"] = d.screenshot()
		if l, _ := d.attr("html", "lang"); l != "zh" {
			t.Errorf("the screenshots are in %q, not Chinese", l)
		}
		for name, b := range shots {
			img, err := png.Decode(bytes.NewReader(b))
			if err != nil {
				t.Errorf("%s-%s: %v", name, vp.name, err)
				continue
			}
			w, h := int(float64(vp.width)*vp.scale), int(float64(vp.height)*vp.scale)
			if got := img.Bounds().Size(); got.X != w || got.Y != h {
				t.Errorf("%s-%s is %v, want %dx%d", name, vp.name, got, w, h)
			}
			if *screenshotDir == "" {
				continue
			}
			file := filepath.Join(*screenshotDir, name+"-"+vp.name+".png")
			if err := os.WriteFile(file, b, 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("wrote %s (%d KB)", file, len(b)/1024)
		}
	}
}
