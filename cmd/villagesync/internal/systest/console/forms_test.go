package console

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// fill sets a form field as a person does: an input or textarea gets the
// text, a <select> the option (added first when the page does not offer
// it, as a form left open while the list changed would).
func (d *device) fill(sel, value string) {
	d.T.Helper()
	var ok bool
	d.Eval("fill "+sel, fmt.Sprintf(`(() => {
  const e = document.querySelector(%[1]q);
  if (!e) return false;
  if (e.tagName === "SELECT") {
    if (![...e.options].some(o => o.value === %[2]q)) e.add(new Option(%[2]q, %[2]q));
    for (const o of e.options) o.selected = o.value === %[2]q;
  } else {
    e.focus();
    e.value = %[2]q;
  }
  e.dispatchEvent(new Event("input", {bubbles: true}));
  e.dispatchEvent(new Event("change", {bubbles: true}));
  return true;
})()`, sel, value), &ok)
	if !ok {
		d.T.Fatalf("no field %s\n%s", sel, d.Describe())
	}
}

// setLang switches the page to lang with its switch, if it is not in it.
func (d *device) setLang(lang string) {
	d.T.Helper()
	if l, _ := d.attr("html", "lang"); l == lang {
		return
	}
	d.click("[data-test=lang]")
	d.WaitFor("the page in "+lang, fmt.Sprintf(`document.documentElement.lang === %q`, lang))
}

// fieldError waits for the form's error naming field and returns its text.
func (d *device) fieldError(field string) string {
	d.T.Helper()
	sel := fmt.Sprintf(`[data-test=error][data-field=%q]`, field)
	d.WaitFor("an error naming "+field, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return e && e.textContent.trim() !== "" })()`, sel))
	s, _ := d.text(sel)
	return s
}

// signinRefusal waits for the sign-in page to say why it refused a code,
// and returns the field its error names and the sentence.
func (d *device) signinRefusal() (field, msg string) {
	d.T.Helper()
	d.WaitFor("the sign-in page's refusal", `(() => {
  const e = document.querySelector("[data-test=error]");
  return document.body.dataset.page === "signin" && document.body.hasAttribute("data-ready") && e && e.textContent.trim() !== "";
})()`)
	field, _ = d.attr("[data-test=error]", "data-field")
	msg, _ = d.text("[data-test=error]")
	return field, msg
}

// accessState is the users and devices the server has, as a refused form
// must leave them (times of the last sync left out: browsers call).
func accessState(a *api) string {
	var b strings.Builder
	for _, u := range a.users() {
		fmt.Fprintf(&b, "user %s %s %v\n", u.GetName(), u.GetRole(), u.GetVillages())
	}
	for _, d := range a.devices() {
		fmt.Fprintf(&b, "device %d %s %s revoked=%v\n", d.GetReplica(), d.GetName(), d.GetUser(), d.GetRevokedAtMs() != 0)
	}
	return b.String()
}

// inLang checks that a message is in the page's language; villages keep
// their Chinese names in English.
func inLang(t testing.TB, what, msg, lang string) {
	t.Helper()
	if lang == "zh" && !hasCJK(msg) {
		t.Errorf("%s: %q is not in Chinese", what, msg)
	}
	words := msg
	for _, v := range seasonVillages {
		words = strings.ReplaceAll(words, v, "")
	}
	if lang == "en" && hasCJK(words) {
		t.Errorf("%s: %q is not in English", what, msg)
	}
}

// Bad input in every form (an unknown or expired code, an unknown user, a
// village typo) is answered with the server's message, in the page's
// language, on the field it names, and changes nothing.
func TestBadInputNamesTheField(t *testing.T) {
	s := startSeason(t)
	const admin = "xiaomo-admin"
	s.addUser(admin, store.Admin)
	adminAPI := s.api(admin)
	for _, lang := range []string{"zh", "en"} {
		t.Run(lang, func(t *testing.T) {
			ask := adminAPI.lang(lang)
			refused := func(err error) refusal {
				t.Helper()
				if err == nil {
					t.Fatalf("the server accepted what the page was refused")
				}
				r, err := refusalOf(err)
				if err != nil {
					t.Fatal(err)
				}
				return r
			}

			expired, _, err := s.Store.NewEnrollmentCode(context.Background(), coordinator, time.Nanosecond)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ what, code string }{
				{"an unknown code, typed", "no-such-code-" + lang},
				{"an expired code, from a link", expired},
			} {
				before := accessState(adminAPI)
				d := newDevice(t, s.URL, laptop)
				d.open("#/signin", "signin")
				d.setLang(lang)
				if strings.Contains(c.what, "typed") {
					d.fill("[data-test=code]", c.code)
					d.click("[data-test=signin]")
				} else {
					d.open("#/signin?code="+c.code, "signin")
				}
				field, msg := d.signinRefusal()
				if after := accessState(adminAPI); after != before {
					t.Errorf("%s changed the users or devices:\n%s\nthen\n%s", c.what, before, after)
				}
				_, err := ask.access.Enroll(callCtx(t), &v1.EnrollRequest{Code: c.code, DeviceName: "probe"})
				r := refused(err)
				if field != r.Field || !strings.Contains(msg, r.Message) {
					t.Errorf("%s: the page says %q on %q, the server %q on %q", c.what, msg, field, r.Message, r.Field)
				}
				inLang(t, c.what, msg, lang)
				t.Logf("%s: [%s] %s", c.what, field, msg)
			}

			d := newDevice(t, s.URL, laptop)
			d.signIn(s.code(admin))
			d.setLang(lang)

			// The people form: a volunteer for a village that does not exist.
			d.click("[data-test=nav-people]")
			d.waitPage("people")
			before := accessState(adminAPI)
			name := "new-volunteer-" + lang
			d.fill("[data-test=new-user-name]", name)
			d.fill("[data-test=new-user-role]", "volunteer")
			d.fill("[data-test=new-user-villages]", "Nanxang")
			d.click("[data-test=new-user-create]")
			msg := d.fieldError("villages")
			if after := accessState(adminAPI); after != before {
				t.Errorf("a village typo changed the users or devices:\n%s\nthen\n%s", before, after)
			}
			_, err = ask.access.CreateUser(callCtx(t), &v1.CreateUserRequest{Name: name, Role: "volunteer", Villages: []string{"Nanxang"}})
			r := refused(err)
			if r.Field != "villages" || !strings.Contains(msg, r.Message) {
				t.Errorf("a village typo: the page says %q on villages, the server %q on %q", msg, r.Message, r.Field)
			}
			inLang(t, "a village typo", msg, lang)
			t.Logf("a village typo: [villages] %s", msg)
			if d.count(fmt.Sprintf(`[data-test=user][data-user=%q]`, name)) > 0 {
				t.Errorf("the refused user is listed")
			}

			// The enrollment form: a user that does not exist.
			d.click("[data-test=nav-enroll]")
			d.waitPage("enroll")
			before = accessState(adminAPI)
			d.fill("[data-test=enroll-user]", "nobody-"+lang)
			d.click("[data-test=enroll-create]")
			msg = d.fieldError("user")
			if after := accessState(adminAPI); after != before {
				t.Errorf("an unknown user changed the users or devices:\n%s\nthen\n%s", before, after)
			}
			_, err = ask.access.CreateEnrollmentCode(callCtx(t), &v1.CreateEnrollmentCodeRequest{User: "nobody-" + lang})
			r = refused(err)
			if r.Field != "user" || !strings.Contains(msg, r.Message) {
				t.Errorf("an unknown user: the page says %q on user, the server %q on %q", msg, r.Message, r.Field)
			}
			inLang(t, "an unknown user", msg, lang)
			t.Logf("an unknown user: [user] %s", msg)
			if code, ok := d.text("[data-test=enroll-code]"); ok && code != "" {
				t.Errorf("a refused enrollment shows a code: %q", code)
			}
			if i := slices.IndexFunc(adminAPI.users(), func(u *v1.User) bool { return u.GetName() == name }); i >= 0 {
				t.Errorf("the refused user %s exists", name)
			}
		})
	}
}
