package console

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/cmd/villagesync/internal/demo"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// The demo season's fixed figures, village by village: the issue's
// 22/22/21 sessions and 704/640/606 attendances, in the report's order of
// villages.
var (
	seasonVillages    = []string{"东旺村", "南香村", "旺渔村"}
	seasonSessions    = map[string]int64{"东旺村": 22, "南香村": 22, "旺渔村": 21}
	seasonAttendances = map[string]int64{"东旺村": 704, "南香村": 640, "旺渔村": 606}
)

// A cell is one figure the overview shows, where it shows it.
type cell struct {
	Scope   string  `json:"scope"` // total, village-total or row
	Village string  `json:"village"`
	Month   string  `json:"month"`
	Name    string  `json:"name"` // its data-test
	Library string  `json:"library"`
	Kind    string  `json:"kind"`
	Text    string  `json:"text"`
	Value   float64 `json:"value"`
}

func (c cell) String() string {
	s := c.Scope
	if c.Village != "" {
		s += " " + c.Village
	}
	if c.Month != "" {
		s += " " + c.Month
	}
	s += " " + c.Name
	if c.Library != "" {
		s += "[" + c.Library + "]"
	}
	if c.Kind != "" {
		s += "[" + c.Kind + "]"
	}
	return s
}

// overviewCells reads every figure cell of the overview: each element
// with a data-test inside a total, a village total or a month row (the
// nearest one), whose text is a plain number, with the library or
// cleanup kind of the line it is on (data-library, data-kind).
const overviewCells = `(() => {
  const scopes = "[data-test=total], [data-test=village-total], [data-test=row]";
  const out = [];
  for (const s of document.querySelectorAll(scopes)) {
    for (const c of s.querySelectorAll("[data-test]")) {
      if (c.closest(scopes) !== s || c.querySelector("[data-test]")) continue;
      const text = c.textContent.trim();
      if (!/^-?[0-9]+(\.[0-9]+)?$/.test(text)) continue;
      const within = (attr) => { const e = c.closest("[" + attr + "]"); return e && s.contains(e) ? e.getAttribute(attr) : ""; };
      out.push({scope: s.dataset.test, village: s.dataset.village || "", month: s.dataset.month || "",
        name: c.dataset.test, library: within("data-library"), kind: within("data-kind"),
        text, value: Number(text)});
    }
  }
  return out;
})()`

func (d *device) overviewCells() []cell {
	d.T.Helper()
	var cells []cell
	d.Eval("read the overview's figures", overviewCells, &cells)
	return cells
}

// figure is the value GetReport gives for a cell of the page; ok is false
// for a figure the test does not know (the page shows something the
// report does not hold, or this table needs a new entry).
func figure(row *v1.ReportRow, c cell) (float64, bool) {
	loans := func(f func(*v1.LoanFigures) int64) float64 {
		var n int64
		for _, l := range row.GetLoans() {
			if c.Library == "" || c.Library == l.GetLibrary() {
				n += f(l)
			}
		}
		return float64(n)
	}
	cleanup := func(f func(*v1.CleanupFigures) int64) float64 {
		var n int64
		for _, k := range row.GetCleanup() {
			if c.Kind == "" || c.Kind == k.GetKind() {
				n += f(k)
			}
		}
		return float64(n)
	}
	t := row.GetTutoring()
	switch strings.TrimPrefix(c.Name, "tutoring-") {
	case "sessions":
		return float64(t.GetSessions()), true
	case "attendances", "student-attendances":
		return float64(t.GetStudentAttendances()), true
	case "volunteers":
		return float64(t.GetVolunteers()), true
	case "made":
		return loans((*v1.LoanFigures).GetMade), c.Library != ""
	case "returned":
		return loans((*v1.LoanFigures).GetReturned), c.Library != ""
	case "open":
		return loans((*v1.LoanFigures).GetOpen), c.Library != ""
	case "overdue":
		return loans((*v1.LoanFigures).GetOverdue), c.Library != ""
	case "reported":
		return cleanup((*v1.CleanupFigures).GetReported), c.Kind != ""
	case "done":
		return cleanup((*v1.CleanupFigures).GetDone), c.Kind != ""
	case "checked":
		return cleanup((*v1.CleanupFigures).GetChecked), c.Kind != ""
	case "loans-made":
		return loans((*v1.LoanFigures).GetMade), true
	case "loans-returned":
		return loans((*v1.LoanFigures).GetReturned), true
	case "loans-open":
		return loans((*v1.LoanFigures).GetOpen), true
	case "loans-overdue":
		return loans((*v1.LoanFigures).GetOverdue), true
	case "loans-borrowers", "borrowers":
		return loans((*v1.LoanFigures).GetBorrowers), true
	case "cleanup-reported":
		return cleanup((*v1.CleanupFigures).GetReported), true
	case "cleanup-done":
		return cleanup((*v1.CleanupFigures).GetDone), true
	case "cleanup-checked":
		return cleanup((*v1.CleanupFigures).GetChecked), true
	case "open-flags", "flags":
		var n int64
		for _, f := range row.GetOpenFlags() {
			if c.Kind == "" || c.Kind == f.GetKind() {
				n += f.GetCount()
			}
		}
		return float64(n), true
	}
	return 0, false
}

// reportRow is the row of rep a cell belongs to.
func reportRow(rep *v1.GetReportResponse, c cell) *v1.ReportRow {
	switch c.Scope {
	case "total":
		return rep.GetTotal()
	case "village-total":
		for _, r := range rep.GetVillageTotals() {
			if r.GetVillage() == c.Village {
				return r
			}
		}
	case "row":
		for _, r := range rep.GetRows() {
			if r.GetVillage() == c.Village && r.GetMonth() == c.Month {
				return r
			}
		}
	}
	return nil
}

// sameFigures checks the overview's figures against GetReport's, figure
// by figure: every cell the page shows equals the report's, and the page
// shows the sessions and attendances of the total, of every village and
// of every month with activity. It returns the page's cells.
func sameFigures(t testing.TB, d *device, rep *v1.GetReportResponse) []cell {
	t.Helper()
	cells := d.overviewCells()
	shown := map[string]bool{}
	for _, c := range cells {
		row := reportRow(rep, c)
		if row == nil {
			t.Errorf("the page shows %s = %s, for which GetReport has no row", c, c.Text)
			continue
		}
		want, ok := figure(row, c)
		if !ok {
			t.Errorf("the page shows %s = %s, a figure this test cannot check against GetReport: "+
				"teach figure() its name", c, c.Text)
			continue
		}
		if c.Value != want {
			t.Errorf("%s: the page shows %s, GetReport %v", c, c.Text, want)
		}
		shown[c.Scope+"|"+c.Village+"|"+c.Month+"|"+c.Name] = true
	}
	need := func(scope, village, month string) {
		for _, name := range []string{"sessions", "attendances"} {
			if !shown[scope+"|"+village+"|"+month+"|"+name] {
				t.Errorf("the page does not show the %s of %s %s %s", name, scope, village, month)
			}
		}
	}
	need("total", "", "")
	for _, r := range rep.GetVillageTotals() {
		need("village-total", r.GetVillage(), "")
	}
	for _, r := range rep.GetRows() {
		if r.GetTutoring().GetSessions() > 0 {
			need("row", r.GetVillage(), r.GetMonth())
		}
	}
	if len(cells) == 0 {
		t.Errorf("the overview shows no figure")
	}
	return cells
}

// seasonFigures checks the demo season's known totals in a report.
func seasonFigures(t testing.TB, rep *v1.GetReportResponse) {
	t.Helper()
	tot := rep.GetTotal().GetTutoring()
	if tot.GetSessions() != demo.SeasonSessions || tot.GetStudentAttendances() != demo.SeasonAttendances {
		t.Errorf("GetReport's total: %d sessions, %d attendances; the season has %d and %d",
			tot.GetSessions(), tot.GetStudentAttendances(), demo.SeasonSessions, demo.SeasonAttendances)
	}
	var got []string
	for _, r := range rep.GetVillageTotals() {
		got = append(got, r.GetVillage())
		v := r.GetVillage()
		if r.GetTutoring().GetSessions() != seasonSessions[v] || r.GetTutoring().GetStudentAttendances() != seasonAttendances[v] {
			t.Errorf("GetReport's %s: %d sessions, %d attendances; the season has %d and %d", v,
				r.GetTutoring().GetSessions(), r.GetTutoring().GetStudentAttendances(), seasonSessions[v], seasonAttendances[v])
		}
	}
	if !slices.Equal(got, seasonVillages) {
		t.Errorf("GetReport's villages: %v, want %v", got, seasonVillages)
	}
}

// pageTotals is what the overview shows as the season's sessions and
// attendances, in total and by village.
func pageTotals(cells []cell) map[string][2]float64 {
	out := map[string][2]float64{}
	for _, c := range cells {
		key := ""
		switch c.Scope {
		case "total":
			key = "total"
		case "village-total":
			key = c.Village
		default:
			continue
		}
		v := out[key]
		switch c.Name {
		case "sessions":
			v[0] = c.Value
		case "attendances":
			v[1] = c.Value
		}
		out[key] = v
	}
	return out
}

// seasonOnPage checks the season's known totals on the page itself.
func seasonOnPage(t testing.TB, cells []cell) {
	t.Helper()
	got := pageTotals(cells)
	want := map[string][2]float64{"total": {demo.SeasonSessions, demo.SeasonAttendances}}
	for _, v := range seasonVillages {
		want[v] = [2]float64{float64(seasonSessions[v]), float64(seasonAttendances[v])}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("the page shows %s: %v sessions, %v attendances; the season has %v and %v", k, got[k][0], got[k][1], w[0], w[1])
		}
	}
}

// A coordinator signs in with a one-time code and sees the season's
// figures, equal to GetReport's one by one, and its known totals.
func TestCoordinatorSeesTheSeason(t *testing.T) {
	s := startSeason(t)
	d := newDevice(t, s.URL, laptop)
	d.signIn(s.code(coordinator))
	if who, _ := d.text("[data-test=whoami]"); !strings.Contains(who, coordinator) {
		t.Errorf("whoami shows %q, not the coordinator", who)
	}
	rep := s.api(coordinator).getReport()
	seasonFigures(t, rep)
	cells := sameFigures(t, d, rep)
	seasonOnPage(t, cells)
	if n := d.count("[data-test=freshness] [data-test=device][data-replica]"); n == 0 {
		t.Errorf("the overview shows no device in its freshness list")
	}
	for _, sel := range []string{"[data-test=download-xlsx]", "[data-test=download-csv]"} {
		if d.count(sel) != 1 {
			t.Errorf("the coordinator's overview has %d %s", d.count(sel), sel)
		}
	}
	// A coordinator writes nothing: no button that would.
	for _, sel := range []string{"[data-test^=resolve-]", "[data-test=revoke]", "[data-test=enroll-create]",
		"[data-test=new-user-create]"} {
		if n := d.count(sel); n > 0 {
			t.Errorf("the coordinator's overview offers %d %s", n, sel)
		}
	}
}

// Staff resolve the duplicate session as merge: it leaves the queue for
// its history, and the totals stay the season's, as GetReport and
// ListConflicts say.
func TestStaffMergeTheDuplicate(t *testing.T) {
	s := startSeason(t)
	staffAPI := s.api(townStaff)
	open := staffAPI.conflicts(&v1.ListConflictsRequest{OpenOnly: true})
	var dup *v1.Conflict
	for _, c := range open {
		if c.GetKind() == store.KindDuplicateSession {
			dup = c
		}
	}
	if dup == nil {
		t.Fatalf("the season has no open duplicate_session entry: %v", open)
	}

	d := newDevice(t, s.URL, laptop)
	d.signIn(s.code(townStaff))
	d.click("[data-test=nav-review]")
	d.waitPage("review")
	queue := "[data-test=queue] [data-test=conflict]"
	before := d.count(queue)
	if before != len(open) {
		t.Errorf("the queue shows %d entries, ListConflicts has %d open", before, len(open))
	}
	entry := fmt.Sprintf(`[data-test=queue] [data-test=conflict][data-id="%d"]`, dup.GetId())
	if kind, _ := d.attr(entry, "data-kind"); kind != store.KindDuplicateSession {
		t.Fatalf("entry %d in the queue is %q, want %s", dup.GetId(), kind, store.KindDuplicateSession)
	}
	// Only the resolutions that apply to a duplicate session are offered.
	var offered []string
	d.Eval("the entry's buttons", fmt.Sprintf(`[...document.querySelectorAll(%q)].map(b => b.dataset.test).sort()`,
		entry+" [data-test^=resolve-]"), &offered)
	if want := []string{"resolve-distinct", "resolve-merge"}; !slices.Equal(offered, want) {
		t.Errorf("the duplicate offers %v, want %v", offered, want)
	}

	d.click(entry + " [data-test=resolve-merge]")
	d.click("[data-test=confirm]")
	history := fmt.Sprintf(`[data-test=history] [data-test=conflict][data-id="%d"]`, dup.GetId())
	d.WaitFor("the merged entry to move to the history", fmt.Sprintf(
		`!document.querySelector(%q) && !!document.querySelector(%q) && document.querySelectorAll(%q).length === %d`,
		entry, history, queue, before-1))

	after := staffAPI.conflicts(&v1.ListConflictsRequest{OpenOnly: true})
	if len(after) != before-1 {
		t.Errorf("ListConflicts has %d open entries after the merge, want %d", len(after), before-1)
	}
	resolved := staffAPI.conflicts(&v1.ListConflictsRequest{ResolvedOnly: true})
	i := slices.IndexFunc(resolved, func(c *v1.Conflict) bool { return c.GetId() == dup.GetId() })
	if i < 0 || resolved[i].GetResolution() != "merge" {
		t.Fatalf("ListConflicts does not have entry %d resolved as merge: %v", dup.GetId(), resolved)
	}

	d.click("[data-test=nav-overview]")
	d.waitPage("overview")
	rep := s.api(coordinator).getReport()
	seasonFigures(t, rep)
	seasonOnPage(t, sameFigures(t, d, rep))
	for _, f := range rep.GetFreshness().GetOpenConflicts() {
		if f.GetKind() == store.KindDuplicateSession && f.GetCount() > 0 {
			t.Errorf("GetReport still counts %d open duplicate sessions", f.GetCount())
		}
	}
}
