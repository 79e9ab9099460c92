package console

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
)

// seedYear adds a year of the three programs in every village (August
// 2023 to July 2024, around the demo season's months) from a town staff
// phone, synced as a phone would: 20 classes, 4 cleanup tasks and 10
// loans a village a month.
func seedYear(t testing.TB, s *season) {
	t.Helper()
	ctx := callCtx(t)
	phone, err := replica.Init(ctx, filepath.Join(t.TempDir(), "year.db"), s.URL, s.code(townStaff), "year-phone",
		replica.Options{})
	if err != nil {
		t.Fatalf("enroll the seeding phone: %v", err)
	}
	defer phone.Close()
	put := func(table, id string, kv ...any) string {
		vals, err := schema.Fields(kv...)
		if err == nil {
			id, err = phone.Put(ctx, table, id, vals)
		}
		if err != nil {
			t.Fatalf("put %s %v: %v", table, kv, err)
		}
		return id
	}
	kinds := []string{"construction_waste", "road_levelling", "street_sweeping", "other"}
	start := time.Date(2023, 8, 1, 0, 0, 0, 0, time.UTC)
	for vi, v := range seasonVillages {
		book := put("books", "", "village", v, "library", "children", "copy_no", 100+vi, "title", "一年的书")
		for m := range 12 {
			month := start.AddDate(0, m, 0)
			for day := range 20 {
				date := month.AddDate(0, 0, day).Format(time.DateOnly)
				put("tutoring_sessions", "", "village", v, "session_date", date, "start_time", "19:00",
					"class_group", "全年兴趣班", "volunteers", fmt.Sprintf("志愿者%d", day%4), "subjects", "数学",
					"children_present", 20+(day+m+vi)%15)
			}
			for k := range 4 {
				at := month.AddDate(0, 0, 3+k*6)
				put("cleanup_tasks", "", "village", v, "kind", kinds[k], "place", "村口", "status", "done",
					"reported_at", at.Format(time.RFC3339), "finished_at", at.Add(4*time.Hour).Format(time.RFC3339),
					"quantity", float64(1+k), "unit", "车")
			}
			for l := range 10 {
				lent := month.AddDate(0, 0, 1+l*2)
				kv := []any{"village", v, "book_id", book, "borrower_card", fmt.Sprintf("Y-%d-%d", vi, (m*10+l)%37),
					"lent_on", lent.Format(time.DateOnly), "due_on", lent.AddDate(0, 0, 14).Format(time.DateOnly)}
				// One copy, lent again once returned: the lender marks it back first.
				kv = append(kv, "returned_on", lent.AddDate(0, 0, 1).Format(time.DateOnly))
				put("loans", "", kv...)
			}
		}
	}
	if _, err := phone.Sync(ctx); err != nil {
		t.Fatalf("sync the year: %v", err)
	}
}

// The overview of a year of the three villages, reloaded and drawn: ns/op
// is the whole reload as the test drives it, drawn-ms the browser's own
// time from the navigation's start to the "vs:overview-drawn" mark, and
// rpcs/op the Connect calls one load makes (one GetReport, and Whoami at
// most).
func BenchmarkOverviewYear(b *testing.B) {
	s := startSeason(b)
	seedYear(b, s)
	rep := s.api(coordinator).getReport()
	months := map[string]bool{}
	for _, r := range rep.GetRows() {
		months[r.GetMonth()] = true
	}
	if len(months) < 12 || len(rep.GetVillageTotals()) != 3 {
		b.Fatalf("the seeded report has %d months and %d villages", len(months), len(rep.GetVillageTotals()))
	}
	d := newDevice(b, s.URL, laptop)
	d.signIn(s.code(coordinator))
	b.Logf("a year: %d rows, %d sessions, %d attendances", len(rep.GetRows()),
		rep.GetTotal().GetTutoring().GetSessions(), rep.GetTotal().GetTutoring().GetStudentAttendances())

	var drawn float64
	var rpcs, loads int
	for b.Loop() {
		mark := d.mark()
		d.reload()
		d.waitPage("overview")
		var ms float64
		d.Eval("the drawn mark", `(() => {
  const m = performance.getEntriesByName("vs:overview-drawn", "mark");
  if (!m.length) return -1;
  return performance.measure("vs:overview", {start: 0, end: "vs:overview-drawn"}).duration;
})()`, &ms)
		if ms < 0 {
			b.Fatalf("the overview set no vs:overview-drawn mark")
		}
		drawn += ms
		reports := 0
		for _, x := range d.since(mark) {
			switch x.procedure() {
			case "":
			case "villagesync.v1.ReportService/GetReport":
				reports++
				rpcs++
			default:
				rpcs++
			}
		}
		if reports != 1 {
			b.Errorf("one load of the overview called GetReport %d times", reports)
		}
		loads++
	}
	b.ReportMetric(drawn/float64(loads), "drawn-ms")
	b.ReportMetric(float64(rpcs)/float64(loads), "rpcs/op")
	if rpcs > 2*loads {
		b.Errorf("%d Connect calls in %d loads: more than GetReport and Whoami", rpcs, loads)
	}
}
