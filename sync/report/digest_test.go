package report

import "testing"

// A past month's digest is stored on the server (report_months) and
// compared with every later report, so it must not change with the code:
// a new JSON encoding of Figures would mark every month ever reported as
// revised. The hash below was computed before the report types gained the
// client's JSON encoding (issue 10).
func TestDigestIsStable(t *testing.T) {
	a := newAcc()
	a.sessions, a.attendances = 3, 41
	a.volunteers["王芳"], a.volunteers["李雷"] = struct{}{}, struct{}{}
	c := a.cleanup("construction_waste")
	c.reported, c.done, c.checked = 2, 1, 1
	c.quantity["车"] = 3500
	c.quantity[""] = 250
	l := a.loan("children")
	l.made, l.open, l.overdue = 2, 1, 1
	l.borrowers["C-1"] = struct{}{}
	a.loan(UnknownLibrary).made = 1
	if got, want := a.digest(), "4d6ff8934ab7b69bb8ac2942bc17b2ae"; got != want {
		t.Errorf("digest %s, want %s", got, want)
	}
}
