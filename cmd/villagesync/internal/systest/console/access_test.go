package console

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
)

// selectValue picks value in the <select> sel, as a person does (the page
// hears input and change).
func (d *device) selectValue(sel, value string) {
	d.T.Helper()
	var ok bool
	d.Eval("select "+value+" in "+sel, fmt.Sprintf(`(() => {
  const s = document.querySelector(%q);
  if (!s || ![...s.options].some(o => o.value === %q)) return false;
  s.value = %q;
  s.dispatchEvent(new Event("input", {bubbles: true}));
  s.dispatchEvent(new Event("change", {bubbles: true}));
  return true;
})()`, sel, value, value), &ok)
	if !ok {
		d.T.Fatalf("%s has no option %q\n%s", sel, value, d.Describe())
	}
}

// cookies are the browser's cookies for the server.
func (d *device) cookies() []*network.Cookie {
	d.T.Helper()
	ctx, cancel := context.WithTimeout(d.Ctx, actionTimeout)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{d.base}})
	if err != nil {
		d.T.Fatalf("cookies: %v", err)
	}
	return res.Cookies
}

// enrolled is the token and replica the browser got from its Enroll call.
func enrolled(t testing.TB, d *device) (token string, replica uint32) {
	t.Helper()
	for _, x := range d.settled() {
		if x.procedure() != "villagesync.v1.AccessService/Enroll" || x.Status != 200 {
			continue
		}
		_, resp, err := x.rpcMessages()
		if err != nil {
			t.Fatalf("the browser's Enroll: %v", err)
		}
		e := resp.(*v1.EnrollResponse)
		return e.GetToken(), e.GetReplica()
	}
	t.Fatalf("the browser made no successful Enroll call")
	return "", 0
}

// hasCJK says whether s has a Chinese character.
func hasCJK(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool { return unicode.Is(unicode.Han, r) })
}

// plainSentence says why s is not a sentence for a person: a Connect
// code, a stack of wrapped errors or markup.
func plainSentence(s string) string {
	switch {
	case strings.TrimSpace(s) == "":
		return "empty"
	case regexp.MustCompile(`(?i)unauthenticated|permission_denied|invalid_argument|\[[a-z_]+\]|connect error|undefined|null`).MatchString(s):
		return "it has error codes or programming words"
	}
	return ""
}

// A volunteer's code is for the volunteer app: its QR code opens the app,
// which enrolls the phone as a device, not the console.
func TestVolunteerCodeOpensTheApp(t *testing.T) {
	s := startSeason(t)
	staff := newDevice(t, s.URL, laptop)
	staff.signIn(s.code(townStaff))
	staff.click("[data-test=nav-enroll]")
	staff.waitPage("enroll")
	staff.selectValue("[data-test=enroll-user]", nanxiangVolunteer)
	staff.click("[data-test=enroll-create]")
	staff.WaitFor("a code and its QR code", `(() => {
  const c = document.querySelector("[data-test=enroll-code]");
  return c && c.textContent.trim() !== "" && !!document.querySelector("[data-test=enroll-qr]");
})()`)
	code, _ := staff.text("[data-test=enroll-code]")
	want := s.URL + "/app/#/enroll?code=" + code
	if href, _ := staff.attr("[data-test=enroll-link]", "href"); href != want {
		t.Errorf("the volunteer's enrollment link is %q, want %q", href, want)
	}
	if got := decodeQR(t, staff.elementShot("[data-test=enroll-qr]", 2)); got != want {
		t.Errorf("the volunteer's QR code says %q, want %q", got, want)
	}
}

// Staff create an enrollment code; the QR code on the page decodes to the
// sign-in link, and the link enrolls a fresh browser, once.
func TestEnrollmentQRCodeEnrollsABrowser(t *testing.T) {
	s := startSeason(t)
	staff := newDevice(t, s.URL, laptop)
	staff.signIn(s.code(townStaff))
	staff.click("[data-test=nav-enroll]")
	staff.waitPage("enroll")
	staff.selectValue("[data-test=enroll-user]", coordinator)
	staff.click("[data-test=enroll-create]")
	staff.WaitFor("a code and its QR code", `(() => {
  const c = document.querySelector("[data-test=enroll-code]");
  return c && c.textContent.trim() !== "" && !!document.querySelector("[data-test=enroll-qr]");
})()`)
	code, _ := staff.text("[data-test=enroll-code]")
	want := s.URL + "/#/signin?code=" + code
	href, _ := staff.attr("[data-test=enroll-link]", "href")
	linkText, _ := staff.text("[data-test=enroll-link]")
	if href != want && linkText != want {
		t.Errorf("the enrollment link is %q (text %q), want %q", href, linkText, want)
	}
	got := decodeQR(t, staff.elementShot("[data-test=enroll-qr]", 2))
	if got != want {
		t.Fatalf("the QR code says %q, want %q", got, want)
	}

	// A phone opens what it scanned.
	p := newDevice(t, s.URL, phone)
	p.navigate(got)
	p.waitPage("overview")
	if who, _ := p.text("[data-test=whoami]"); !strings.Contains(who, coordinator) {
		t.Errorf("the enrolled browser's whoami shows %q, want %s", who, coordinator)
	}
	var href2 string
	p.Eval("the address", `location.href`, &href2)
	if strings.Contains(href2, code) {
		t.Errorf("the spent code stays in the address bar (and the history): %s", href2)
	}

	// The code was spent: a second browser is refused, in a sentence.
	again := newDevice(t, s.URL, phone)
	again.navigate(got)
	_, msg := again.signinRefusal()
	if why := plainSentence(msg); why != "" || !hasCJK(msg) {
		t.Errorf("a spent code is refused with %q (%s), not a plain Chinese sentence", msg, why)
	}
}

// Revoking a browser's device (by staff, on the devices page of another
// browser) signs the browser out at its next call, with a sentence, and
// it forgets its token; the token only ever travelled in the
// Authorization header.
func TestRevokedBrowserIsSignedOut(t *testing.T) {
	s := startSeason(t)
	a := newDevice(t, s.URL, phone)
	a.signIn(s.code(coordinator))
	token, replica := enrolled(t, a)
	if token == "" {
		t.Fatalf("the browser's Enroll gave no token")
	}
	holds := func(ls map[string]string) bool {
		for _, v := range ls {
			if strings.Contains(v, token) {
				return true
			}
		}
		return false
	}
	if !holds(a.localStorage()) {
		t.Fatalf("the browser does not keep its token in localStorage: %v", a.localStorage())
	}
	for _, x := range a.settled() {
		if strings.Contains(x.URL, token) {
			t.Errorf("the token is in a URL: %s", x.URL)
		}
		if p := x.procedure(); p != "" && p != "villagesync.v1.AccessService/Enroll" && x.header("Authorization") != "Bearer "+token {
			t.Errorf("%s was sent with Authorization %q, not the token", p, x.header("Authorization"))
		}
	}
	if c := a.cookies(); len(c) > 0 {
		t.Errorf("the console set cookies: %v", c)
	}

	b := newDevice(t, s.URL, laptop)
	b.signIn(s.code(townStaff))
	b.click("[data-test=nav-devices]")
	b.waitPage("devices")
	row := fmt.Sprintf(`[data-test=device][data-replica="%d"]`, replica)
	b.click(row + " [data-test=revoke]")
	b.click("[data-test=confirm]")
	b.WaitFor("the revoked device to offer no revoke button", fmt.Sprintf(`!document.querySelector(%q)`,
		row+" [data-test=revoke]"))
	devs := s.api(townStaff).devices()
	i := slices.IndexFunc(devs, func(d *v1.Device) bool { return d.GetReplica() == replica })
	if i < 0 || devs[i].GetRevokedAtMs() == 0 {
		t.Fatalf("the server does not have device %d revoked: %v", replica, devs)
	}

	// The first browser's next call.
	a.reload()
	a.WaitFor("the sign-in page with a sentence", `(() => {
  const m = document.querySelector("[data-test=signin-message]");
  return document.body.dataset.page === "signin" && document.body.hasAttribute("data-ready") && m && m.textContent.trim() !== "";
})()`)
	msg, _ := a.text("[data-test=signin-message]")
	if why := plainSentence(msg); why != "" || !hasCJK(msg) {
		t.Errorf("the revoked browser is told %q (%s), not a plain Chinese sentence", msg, why)
	}
	t.Logf("a revoked browser reads: %s", msg)
	if holds(a.localStorage()) {
		t.Errorf("the revoked browser still holds its token: %v", a.localStorage())
	}
}

// forbidden is what a volunteer of own must never receive: the other
// villages' names, pinyin, aliases and ids.
func forbidden(villages []*v1.Village, own string) []string {
	var out []string
	for _, v := range villages {
		if v.GetName() == own {
			continue
		}
		out = append(out, v.GetName(), v.GetPinyin(), v.GetId())
		out = append(out, v.GetAliases()...)
	}
	return slices.DeleteFunc(out, func(s string) bool { return s == "" })
}

// leaks lists the forbidden words in b; ASCII words (pinyin, ids) in any
// case, as they also make up user and device names (dongwang-volunteer).
func leaks(b []byte, words []string) []string {
	var out []string
	lower := bytes.ToLower(b)
	for _, w := range words {
		if bytes.Contains(b, []byte(w)) || bytes.Contains(lower, bytes.ToLower([]byte(w))) {
			out = append(out, w)
		}
	}
	return out
}

// The buttons of what a volunteer may not do.
var notForVolunteers = []string{"[data-test^=resolve-]", "[data-test=revoke]", "[data-test=enroll-create]",
	"[data-test=new-user-create]", "[data-test=nav-enroll]", "[data-test=nav-people]", "[data-test=nav-devices]",
	"[data-test=nav-review]"}

// A volunteer's browser shows only her village, on every page she can
// reach, and receives nothing about the other villages in any response;
// it offers her no button for what she may not do.
func TestVolunteerSeesOnlyHerVillage(t *testing.T) {
	s := startSeason(t)
	const own = "南香村"
	words := forbidden(s.api(townStaff).villages(), own)
	if len(words) < 4 {
		t.Fatalf("ListVillages gives too little to look for: %v", words)
	}

	d := newDevice(t, s.URL, phone)
	d.signIn(s.code(nanxiangVolunteer))
	check := func(where string) {
		t.Helper()
		var text string
		d.Eval("the page's text", `document.body.innerText`, &text)
		if l := leaks([]byte(text), words); len(l) > 0 {
			t.Errorf("%s shows %v to the %s volunteer", where, l, own)
		}
		for _, sel := range notForVolunteers {
			if n := d.count(sel); n > 0 {
				t.Errorf("%s offers the volunteer %d %s", where, n, sel)
			}
		}
	}
	var text string
	d.Eval("the page's text", `document.body.innerText`, &text)
	if !strings.Contains(text, own) {
		t.Errorf("the volunteer's overview does not show %s:\n%s", own, text)
	}
	check("the overview")
	var navs []string
	d.Eval("the navigation", `[...document.querySelectorAll("[data-test^=nav-]")].map(e => e.dataset.test)`, &navs)
	for _, nav := range navs {
		d.click(fmt.Sprintf("[data-test=%q]", nav))
		d.waitPage(strings.TrimPrefix(nav, "nav-"))
		check("the " + nav + " page")
	}
	// The pages she has no link to, typed in the address bar.
	for _, route := range []string{"review", "devices", "enroll", "people"} {
		d.navigate("about:blank")
		d.navigate(s.URL + "/#/" + route)
		d.Do("wait for #/"+route, chromedp.WaitReady(chromedp.CSS("body[data-ready]")))
		check("#/" + route)
		for _, sel := range []string{"[data-test=conflict]", "[data-test=user]"} {
			if n := d.count(sel); n > 0 {
				t.Errorf("#/%s shows the volunteer %d %s", route, n, sel)
			}
		}
	}

	xs := d.settled()
	calls := 0
	for _, x := range xs {
		if x.Err != "" && x.Status != 0 {
			t.Errorf("%s %s: %s", x.Method, x.URL, x.Err)
		}
		// The console's files too: a sentence of the bundle naming a
		// village would reach every volunteer's browser.
		if l := leaks(x.Body, words); len(l) > 0 {
			t.Errorf("%s %s (%d) gave the %s volunteer %v", x.Method, x.URL, x.Status, own, l)
		}
		if x.procedure() == "" || x.Status != 200 {
			continue
		}
		calls++
		_, resp, err := x.rpcMessages()
		if err != nil {
			t.Errorf("decode: %v", err)
			continue
		}
		walkStrings(resp.ProtoReflect(), func(field, value string) {
			switch field {
			case "village", "villages", "name":
				if field == "name" && proto.MessageName(resp) != "villagesync.v1.ListVillagesResponse" {
					return
				}
				if value != "" && value != own {
					t.Errorf("%s gave the volunteer %s %q", x.procedure(), field, value)
				}
			case "village_pinyin", "pinyin":
				if value != "" && value != "Nanxiang" {
					t.Errorf("%s gave the volunteer %s %q", x.procedure(), field, value)
				}
			}
		})
	}
	if calls == 0 {
		t.Errorf("the volunteer's browser made no successful call: nothing was checked")
	}
	t.Logf("%d responses checked, %d of them Connect calls", len(xs), calls)
}

// Chinese by default; the switch makes the page English and every call
// ask the server in English; a reload keeps it.
func TestLanguageSwitch(t *testing.T) {
	s := startSeason(t)
	d := newDevice(t, s.URL, laptop)
	d.signIn(s.code(coordinator))
	lang := func() string { l, _ := d.attr("html", "lang"); return l }
	if lang() != "zh" {
		t.Errorf("html[lang] is %q by default, want zh", lang())
	}
	zhLabel, _ := d.text("[data-test=nav-overview]")
	if !hasCJK(zhLabel) {
		t.Errorf("the overview's link reads %q in Chinese", zhLabel)
	}
	mark := d.mark()
	d.click("[data-test=lang]")
	d.WaitFor("English", `document.documentElement.lang === "en"`)
	d.waitPage("overview")
	enLabel, _ := d.text("[data-test=nav-overview]")
	if hasCJK(enLabel) || !regexp.MustCompile(`[A-Za-z]{3}`).MatchString(enLabel) {
		t.Errorf("the overview's link reads %q in English", enLabel)
	}
	d.reload()
	d.waitPage("overview")
	if lang() != "en" {
		t.Errorf("after a reload html[lang] is %q, want en", lang())
	}
	if l, _ := d.text("[data-test=nav-overview]"); l != enLabel {
		t.Errorf("after a reload the overview's link reads %q, want %q", l, enLabel)
	}
	all := d.settled()
	calls := 0
	for i, x := range all {
		if x.procedure() == "" {
			continue
		}
		want := "zh"
		if i >= mark {
			want = "en"
			calls++
		}
		if got := x.header("Accept-Language"); got != want {
			t.Errorf("%s asked in %q, want %q", x.procedure(), got, want)
		}
	}
	if calls == 0 {
		t.Errorf("no call after the switch")
	}
}
