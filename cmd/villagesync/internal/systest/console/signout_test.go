package console

import (
	"strings"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
)

// whoami is what the server says of token: the user, or the call's code.
func (s *season) whoami(token string) (string, connect.Code) {
	s.t.Helper()
	resp, err := newAPI(s.t, s.URL, bearer.Client(nil, token)).access.Whoami(callCtx(s.t), &v1.WhoamiRequest{})
	if err != nil {
		return "", connect.CodeOf(err)
	}
	return resp.GetUser(), 0
}

// Signing out kills the browser's token on the server, for every role
// (a volunteer's too, who may revoke no other device), and forgets it.
func TestSignOutRevokesTheToken(t *testing.T) {
	s := startSeason(t)
	for _, user := range []string{nanxiangVolunteer, coordinator} {
		d := newDevice(t, s.URL, phone)
		d.signIn(s.code(user))
		token, _ := enrolled(t, d)
		if who, code := s.whoami(token); who != user {
			t.Fatalf("%s's browser token: %q, %v before signing out", user, who, code)
		}
		d.click("[data-test=signout]")
		d.waitPage("signin")
		if _, code := s.whoami(token); code != connect.CodeUnauthenticated {
			t.Errorf("%s signed out, and the token still works (code %v)", user, code)
		}
		for k, v := range d.localStorage() {
			if strings.Contains(v, token) {
				t.Errorf("%s signed out, and localStorage[%q] still holds the token", user, k)
			}
		}
	}
}

// A sign-in link opened in a browser already signed in asks first:
// cancel keeps the session and leaves the code unspent; confirm signs in
// as the code's user and signs the old session out on the server.
func TestSignInLinkAsksBeforeReplacingASession(t *testing.T) {
	s := startSeason(t)
	d := newDevice(t, s.URL, laptop)
	d.signIn(s.code(coordinator))
	first, _ := enrolled(t, d)

	code := s.code(townStaff)
	d.navigate(s.URL + "/#/signin?code=" + code)
	d.WaitFor("the question before replacing the session", `!!document.querySelector("[data-test=cancel]")`)
	d.click("[data-test=cancel]")
	d.WaitFor("the session kept", `!document.querySelector("dialog[open]")`)
	if who, _ := s.whoami(first); who != coordinator {
		t.Fatalf("after cancel the first session's token is %q, want it alive for %s", who, coordinator)
	}
	if w, _ := d.text("[data-test=whoami]"); !strings.Contains(w, coordinator) {
		t.Errorf("after cancel the page shows %q, want still %s", w, coordinator)
	}

	mark := d.mark()
	d.navigate(s.URL + "/#/signin?code=" + code)
	d.WaitFor("the question again", `!!document.querySelector("[data-test=confirm]")`)
	d.click("[data-test=confirm]")
	d.waitPage("overview")
	if w, _ := d.text("[data-test=whoami]"); !strings.Contains(w, townStaff) {
		t.Errorf("after confirm the page shows %q, want %s (the code was left unspent by cancel)", w, townStaff)
	}
	var second string
	for _, x := range d.since(mark) {
		if x.procedure() == "villagesync.v1.AccessService/Enroll" && x.Status == 200 {
			_, resp, err := x.rpcMessages()
			if err != nil {
				t.Fatal(err)
			}
			second = resp.(*v1.EnrollResponse).GetToken()
		}
	}
	if who, _ := s.whoami(second); who != townStaff {
		t.Errorf("the new session's token is %q's, want %s's", who, townStaff)
	}
	if _, c := s.whoami(first); c != connect.CodeUnauthenticated {
		t.Errorf("the replaced session's token still works (code %v)", c)
	}
}
