package reportfmt_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"github.com/xuri/excelize/v2"

	"github.com/futian-xiaomo/villagesync/api/reportfmt"
	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/report"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// env is a real server on 127.0.0.1:0 over a temporary SQLite file.
type env struct {
	t   *testing.T
	db  string
	srv *replicatest.Server
	hc  connect.HTTPClient // a coordinator's device, for the reports
}

func newEnv(t *testing.T) *env {
	t.Helper()
	s := replicatest.Start(t, nil)
	return &env{t: t, db: s.File, srv: s}
}

func (e *env) device(name string) *replica.Replica {
	e.t.Helper()
	return e.srv.Device(e.t, name, store.Staff, nil, replica.Options{})
}

// coordinator is an HTTP client of a coordinator's enrolled device.
func (e *env) coordinator() connect.HTTPClient {
	e.t.Helper()
	if e.hc == nil {
		e.hc = e.srv.Device(e.t, "coordinator-laptop", store.Coordinator, nil, replica.Options{}).HTTPClient()
	}
	return e.hc
}

// exec runs SQL on the server database from outside the server, as staff
// tooling would (WAL allows it).
func (e *env) exec(q string, args ...any) {
	e.t.Helper()
	d, err := sql.Open("sqlite3", "file:"+e.db+"?_busy_timeout=10000")
	if err != nil {
		e.t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Exec(q, args...); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) report(q report.Request) *report.Report {
	e.t.Helper()
	rep, err := staff.Report(context.Background(), e.coordinator(), e.srv.URL, q)
	if err != nil {
		e.t.Fatal(err)
	}
	return rep
}

func put(t *testing.T, r *replica.Replica, table, id string, kv ...any) string {
	t.Helper()
	vals, err := schema.Fields(kv...)
	if err != nil {
		t.Fatal(err)
	}
	id, err = r.Put(context.Background(), table, id, vals)
	if err != nil {
		t.Fatalf("put %s %v: %v", table, kv, err)
	}
	return id
}

func syncOK(t *testing.T, devs ...*replica.Replica) {
	t.Helper()
	for _, d := range devs {
		if _, err := d.Sync(context.Background()); err != nil {
			t.Fatalf("sync %s: %v", d.Name(), err)
		}
		if rej, err := d.Rejected(context.Background()); err != nil || len(rej) > 0 {
			t.Fatalf("%s: rejected %v (%v)", d.Name(), rej, err)
		}
	}
}

// nullable turns "" into NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// The data set, as the test wrote it: the expected report is computed from
// these structs alone, independently of the server.
type (
	sessionRec struct {
		village, date, class, volunteers string
		children                         int
		deleted                          bool
		duplicate                        bool // the second of a logged-twice pair
	}
	taskRec struct {
		village, kind, status, unit string
		quantity                    float64 // < 0: not given
		reportedAt, finishedAt      string  // "": NULL
		deleted                     bool
	}
	loanRec struct {
		village, library, card, lent, due, returned string
		deleted                                     bool
	}
	dataset struct {
		sessions []*sessionRec
		tasks    []*taskRec
		loans    []*loanRec
	}
)

var (
	villages  = []string{"东旺村", "南香村", "旺渔村"} // sorted, as the report orders them
	pinyin    = map[string]string{"南香村": "Nanxiang", "东旺村": "Dongwang", "旺渔村": "Wangyu"}
	libraries = []string{"party_villagers", "children", "unknown"}
	names     = []string{"王芳", "李雷", "韩梅梅", "张伟", "陈静", "刘洋", "赵敏"}
	offsets   = []string{"+08:00", "Z", "-05:00", "+05:45"}
	units     = []string{"车", "米", ""}
)

func randDate(rng *rand.Rand, months int) string {
	return fmt.Sprintf("2024-%02d-%02d", 1+rng.IntN(months), 1+rng.IntN(28))
}

func randTime(rng *rand.Rand) string {
	return fmt.Sprintf("%sT%02d:%02d:00%s", randDate(rng, 6), rng.IntN(24), rng.IntN(60), offsets[rng.IntN(len(offsets))])
}

func addDays(date string, n int) string {
	t, _ := time.Parse(time.DateOnly, date)
	return t.AddDate(0, 0, n).Format(time.DateOnly)
}

// seed writes a random data set across three devices and syncs it: ids
// of the books per library, sessions with unique classes except one pair
// logged twice, cleanup tasks with times in several offsets (and two on a
// month's edge), loans of known and unknown books, some of each deleted
// (before and after the server saw them).
func seed(t *testing.T, e *env, rng *rand.Rand) *dataset {
	t.Helper()
	devs := []*replica.Replica{e.device("nanxiang-phone"), e.device("dongwang-phone"), e.device("wangyu-phone")}
	dev := func() *replica.Replica { return devs[rng.IntN(len(devs))] }
	vil := func() string { return villages[rng.IntN(len(villages))] }
	d := &dataset{}
	type deletable struct {
		dev     *replica.Replica
		table   string
		id      string
		deleted *bool
	}
	var all []deletable

	books := map[string][]string{}
	for i := range 8 {
		lib := libraries[i%2]
		id := put(t, dev(), "books", "", "village", vil(), "library", lib, "title", fmt.Sprintf("书%d", i), "copy_no", 1)
		books[lib] = append(books[lib], id)
	}
	for i := range 60 {
		var vs []string
		for _, n := range names {
			if rng.IntN(3) == 0 {
				vs = append(vs, n)
			}
		}
		sep := []string{",", "，", "、", " , "}[rng.IntN(4)]
		s := &sessionRec{village: vil(), date: randDate(rng, 6), class: fmt.Sprintf("班%02d", i),
			volunteers: strings.Join(vs, sep), children: rng.IntN(41)}
		r := dev()
		id := put(t, r, "tutoring_sessions", "", "village", s.village, "session_date", s.date, "class_group", s.class,
			"volunteers", nullable(s.volunteers), "children_present", s.children)
		d.sessions = append(d.sessions, s)
		all = append(all, deletable{r, "tutoring_sessions", id, &s.deleted})
	}
	for range 50 {
		tk := &taskRec{village: vil(), kind: schema.CleanupKinds[rng.IntN(4)], status: schema.CleanupStatuses[rng.IntN(4)],
			quantity: -1, reportedAt: randTime(rng), finishedAt: randTime(rng)}
		if rng.IntN(5) == 0 {
			tk.reportedAt = "" // counted as reported when finished
		}
		if rng.IntN(6) == 0 {
			tk.finishedAt = ""
		}
		if rng.IntN(3) > 0 {
			tk.quantity, tk.unit = float64(1+rng.IntN(20))/2, units[rng.IntN(len(units))]
		}
		d.tasks = append(d.tasks, tk)
	}
	// On a month's edge: the month is the local one where it was written.
	d.tasks = append(d.tasks,
		&taskRec{village: "南香村", kind: "street_sweeping", status: "checked", quantity: 2, unit: "米",
			reportedAt: "2024-03-01T00:30:00+08:00", finishedAt: "2024-04-30T22:00:00-05:00"},
		&taskRec{village: "南香村", kind: "street_sweeping", status: "done", quantity: -1,
			reportedAt: "2024-02-29T23:59:59Z", finishedAt: "2024-05-31T23:00:00-03:00"},
	)
	for _, tk := range d.tasks {
		r := dev()
		q := any(nil)
		if tk.quantity >= 0 {
			q = tk.quantity
		}
		id := put(t, r, "cleanup_tasks", "", "village", tk.village, "kind", tk.kind, "status", tk.status,
			"quantity", q, "unit", nullable(tk.unit),
			"reported_at", nullable(tk.reportedAt), "finished_at", nullable(tk.finishedAt))
		all = append(all, deletable{r, "cleanup_tasks", id, &tk.deleted})
	}
	for i := range 50 {
		l := &loanRec{village: vil(), library: libraries[rng.IntN(2)], card: fmt.Sprintf("C-%03d", rng.IntN(10)),
			lent: randDate(rng, 6)}
		book := books[l.library][rng.IntN(len(books[l.library]))]
		if i%17 == 3 {
			l.library, book = "unknown", "0190a6e4-5b7a-7c3e-8f00-00000000000"+strconv.Itoa(i%10)
		}
		if rng.IntN(5) > 0 {
			l.due = addDays(l.lent, 14)
		}
		if rng.IntN(3) > 0 {
			l.returned = addDays(l.lent, rng.IntN(60))
		}
		r := dev()
		id := put(t, r, "loans", "", "village", l.village, "book_id", book, "borrower_card", l.card, "lent_on", l.lent,
			"due_on", nullable(l.due), "returned_on", nullable(l.returned))
		d.loans = append(d.loans, l)
		all = append(all, deletable{r, "loans", id, &l.deleted})
	}
	// Some deleted before the server saw them.
	for _, x := range all {
		if rng.IntN(12) == 0 {
			if err := x.dev.Delete(context.Background(), x.table, x.id); err != nil {
				t.Fatal(err)
			}
			*x.deleted = true
		}
	}
	// The same evening logged on two phones: the server flags the second.
	dup := sessionRec{village: "南香村", date: "2024-03-05", class: "三年级", volunteers: "王芳、新志愿者", children: 25}
	for i, r := range devs[:2] {
		s := dup
		s.duplicate = i == 1
		put(t, r, "tutoring_sessions", "", "village", s.village, "session_date", s.date, "class_group", s.class,
			"volunteers", s.volunteers, "children_present", s.children)
		d.sessions = append(d.sessions, &s)
		syncOK(t, r)
	}
	syncOK(t, devs...)
	// Some deleted after the server had them.
	for _, x := range all {
		if !*x.deleted && rng.IntN(12) == 0 {
			if err := x.dev.Delete(context.Background(), x.table, x.id); err != nil {
				t.Fatal(err)
			}
			*x.deleted = true
		}
	}
	syncOK(t, devs...)
	return d
}

// monthEnd is the last day of a "YYYY-MM".
func monthEnd(m string) string {
	t, _ := time.Parse("2006-01", m)
	return t.AddDate(0, 1, -1).Format(time.DateOnly)
}

// month is the first seven characters of a date or RFC 3339 time: the
// month where it was written down.
func month(s string) string {
	if len(s) < 7 {
		return ""
	}
	return s[:7]
}

// chinaMonth is the month of an RFC 3339 time on the villages' calendar
// (UTC+8), computed here by plain arithmetic rather than the report's code.
func chinaMonth(s string) string {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return ""
	}
	return t.UTC().Add(8 * time.Hour).Format("2006-01")
}

// expect computes the figures of the records whose village passes inV and
// whose own month passes inM; open and overdue loans are as at the end of
// month end. countDuplicate counts the second of the duplicate pair.
func (d *dataset) expect(inV, inM func(string) bool, end string, countDuplicate bool) report.Row {
	row := report.Row{Figures: report.Figures{Cleanup: []report.Cleanup{}, Loans: []report.Loans{}}}
	vols := map[string]bool{}
	for _, s := range d.sessions {
		if s.deleted || (s.duplicate && !countDuplicate) || !inV(s.village) || !inM(month(s.date)) {
			continue
		}
		row.Tutoring.Sessions++
		row.Tutoring.StudentAttendances += int64(s.children)
		for _, part := range strings.FieldsFunc(s.volunteers, func(r rune) bool { return strings.ContainsRune(",，、", r) }) {
			if n := strings.TrimSpace(part); n != "" {
				vols[n] = true
			}
		}
	}
	row.Tutoring.Volunteers = int64(len(vols))
	for _, kind := range schema.CleanupKinds {
		c := report.Cleanup{Kind: kind, Quantities: []report.Quantity{}}
		qty := map[string]float64{}
		for _, tk := range d.tasks {
			if tk.deleted || tk.kind != kind || !inV(tk.village) {
				continue
			}
			reported := tk.reportedAt
			if reported == "" {
				reported = tk.finishedAt
			}
			if reported != "" && inM(chinaMonth(reported)) {
				c.Reported++
			}
			// A done task without a finishing time counts where it was reported.
			finished := tk.finishedAt
			if finished == "" {
				finished = reported
			}
			if (tk.status == "done" || tk.status == "checked") && finished != "" && inM(chinaMonth(finished)) {
				c.Done++
				if tk.status == "checked" {
					c.Checked++
				}
				if tk.quantity >= 0 {
					qty[tk.unit] += tk.quantity
				}
			}
		}
		for _, u := range slices.Sorted(func(yield func(string) bool) {
			for u := range qty {
				if !yield(u) {
					return
				}
			}
		}) {
			c.Quantities = append(c.Quantities, report.Quantity{Unit: u, Amount: qty[u]})
		}
		row.Cleanup = append(row.Cleanup, c)
	}
	last := monthEnd(end)
	for _, lib := range libraries {
		lo := report.Loans{Library: lib}
		cards := map[string]bool{}
		for _, l := range d.loans {
			if l.deleted || l.library != lib || !inV(l.village) {
				continue
			}
			if inM(month(l.lent)) {
				lo.Made++
				cards[l.card] = true
			}
			if l.returned != "" && inM(month(l.returned)) {
				lo.Returned++
			}
			if l.lent <= last && (l.returned == "" || l.returned > last) {
				lo.Open++
				if l.due != "" && l.due < last {
					lo.Overdue++
				}
			}
		}
		lo.Borrowers = int64(len(cards))
		row.Loans = append(row.Loans, lo)
	}
	return row
}

func active(r report.Row) bool {
	if r.Tutoring.Sessions > 0 {
		return true
	}
	for _, c := range r.Cleanup {
		if c.Reported+c.Done+c.Checked > 0 {
			return true
		}
	}
	for _, l := range r.Loans {
		if l.Made+l.Returned+l.Open > 0 {
			return true
		}
	}
	return false
}

// expectReport is the whole report of 2024 over every village.
func (d *dataset) expectReport(countDuplicate bool) *report.Report {
	is := func(v string) func(string) bool { return func(s string) bool { return s == v } }
	in2024 := func(m string) bool { return m >= "2024-01" && m <= "2024-12" }
	any := func(string) bool { return true }
	want := &report.Report{FromMonth: "2024-01", ToMonth: "2024-12"}
	for _, v := range villages {
		for m := 1; m <= 12; m++ {
			mo := fmt.Sprintf("2024-%02d", m)
			row := d.expect(is(v), is(mo), mo, countDuplicate)
			if active(row) {
				row.Village, row.VillagePinyin, row.Month = v, pinyin[v], mo
				want.Rows = append(want.Rows, row)
			}
		}
		row := d.expect(is(v), in2024, "2024-12", countDuplicate)
		row.Village, row.VillagePinyin = v, pinyin[v]
		want.VillageTotals = append(want.VillageTotals, row)
	}
	want.Total = d.expect(any, in2024, "2024-12", countDuplicate)
	return want
}

// figuresOnly drops what the test does not compute itself: when months
// were reported, and freshness.
func figuresOnly(r *report.Report) *report.Report {
	c := *r
	c.Freshness = report.Freshness{}
	strip := func(rows []report.Row) []report.Row {
		out := make([]report.Row, len(rows))
		for i, row := range rows {
			row.FirstReportedAt, row.RevisedAt = time.Time{}, time.Time{}
			out[i] = row
		}
		return out
	}
	c.Rows, c.VillageTotals = strip(r.Rows), strip(r.VillageTotals)
	c.Total.FirstReportedAt, c.Total.RevisedAt = time.Time{}, time.Time{}
	return &c
}

func diffReports(t *testing.T, got, want *report.Report) {
	t.Helper()
	got = figuresOnly(got)
	if reflect.DeepEqual(got, want) {
		return
	}
	line := func(r report.Row) string { b, _ := json.Marshal(r); return string(b) }
	if len(got.Rows) != len(want.Rows) {
		t.Errorf("%d rows, want %d", len(got.Rows), len(want.Rows))
	}
	for i := range min(len(got.Rows), len(want.Rows)) {
		if !reflect.DeepEqual(got.Rows[i], want.Rows[i]) {
			t.Errorf("row %d:\n got %s\nwant %s", i, line(got.Rows[i]), line(want.Rows[i]))
		}
	}
	for i := range min(len(got.VillageTotals), len(want.VillageTotals)) {
		if !reflect.DeepEqual(got.VillageTotals[i], want.VillageTotals[i]) {
			t.Errorf("village total %d:\n got %s\nwant %s", i, line(got.VillageTotals[i]), line(want.VillageTotals[i]))
		}
	}
	if !reflect.DeepEqual(got.Total, want.Total) {
		t.Errorf("total:\n got %s\nwant %s", line(got.Total), line(want.Total))
	}
	if got.FromMonth != want.FromMonth || got.ToMonth != want.ToMonth {
		t.Errorf("period %s–%s, want %s–%s", got.FromMonth, got.ToMonth, want.FromMonth, want.ToMonth)
	}
	if !t.Failed() {
		t.Errorf("reports differ:\n got %+v\nwant %+v", got, want)
	}
}

// The report's figures equal the ones computed from the records the test
// wrote, for several random data sets; the duplicate pair counts once
// until staff say the two sessions are distinct, then twice.
func TestReportMatchesRecords(t *testing.T) {
	for _, s := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed", s), func(t *testing.T) {
			e := newEnv(t)
			d := seed(t, e, rand.New(rand.NewPCG(s, 2024)))
			q := report.Request{FromMonth: "2024-01", ToMonth: "2024-12"}
			got := e.report(q)
			diffReports(t, got, d.expectReport(false))

			f := got.Freshness
			// The three phones, and the coordinator's laptop the test reads
			// reports with (it never syncs).
			if len(f.Devices) != 4 || f.Devices[0].Name != "nanxiang-phone" || f.FeedSeq == 0 {
				t.Errorf("freshness: %+v", f)
			}
			for _, dev := range f.Devices {
				if strings.HasSuffix(dev.Name, "-phone") && dev.LastSeen.IsZero() {
					t.Errorf("device %s: no last sync, though it pushed", dev.Name)
				}
			}
			if n, _ := f.OpenConflicts.Count("duplicate_session"); n != 1 {
				t.Errorf("open conflicts %v, want one duplicate_session", f.OpenConflicts)
			}
			if d := time.Since(f.GeneratedAt); d < 0 || d > time.Minute {
				t.Errorf("generated at %v", f.GeneratedAt)
			}

			e.exec(`UPDATE conflicts SET resolution = 'distinct', resolved_ms = 1, resolved_by = 'test'
				WHERE kind = 'duplicate_session'`)
			again := e.report(q)
			diffReports(t, again, d.expectReport(true))
			if _, open := again.Freshness.OpenConflicts.Count("duplicate_session"); open {
				t.Errorf("resolved duplicate still open: %v", again.Freshness.OpenConflicts)
			}
			for _, row := range again.Rows {
				revised := !row.RevisedAt.IsZero()
				if want := row.Village == "南香村" && row.Month == "2024-03"; revised != want {
					t.Errorf("%s %s revised %v, want %v", row.Village, row.Month, revised, want)
				}
			}

			// A village filter in any spelling gives that village's rows and
			// the same totals.
			one := e.report(report.Request{FromMonth: "2024-01", ToMonth: "2024-12", Villages: []string{"旺鱼村", "nanxiang"}})
			if len(one.VillageTotals) != 2 || one.VillageTotals[0].Village != "南香村" || one.VillageTotals[1].Village != "旺渔村" {
				t.Fatalf("village totals %+v", one.VillageTotals)
			}
			for i, vt := range one.VillageTotals {
				full := again.VillageTotals[slices.IndexFunc(again.VillageTotals,
					func(r report.Row) bool { return r.Village == vt.Village })]
				if vt.Tutoring != full.Tutoring || !reflect.DeepEqual(vt.Cleanup, full.Cleanup) {
					t.Errorf("filtered total %d differs:\n%+v\n%+v", i, vt, full)
				}
			}
			for _, row := range one.Rows {
				if row.Village == "东旺村" {
					t.Errorf("row of an unselected village: %+v", row)
				}
			}
		})
	}
}

func TestBadRequestNamesTheField(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		q     report.Request
		field string
	}{
		{report.Request{Villages: []string{"南香村", "Atlantis"}}, "villages"},
		{report.Request{FromMonth: "2024-13"}, "from_month"},
		{report.Request{FromMonth: "2024-6"}, "from_month"},
		{report.Request{ToMonth: "June"}, "to_month"},
		{report.Request{FromMonth: "2024-05", ToMonth: "2024-03"}, "to_month"},
	} {
		_, err := staff.Report(context.Background(), e.coordinator(), e.srv.URL, tc.q)
		var ce *connect.Error
		if !errors.As(err, &ce) || ce.Code() != connect.CodeInvalidArgument ||
			!strings.HasPrefix(ce.Message(), tc.field+":") {
			t.Errorf("%+v: %v, want InvalidArgument naming %s", tc.q, err, tc.field)
		}
	}
}

// A past month whose figures change after a report is marked revised; a
// month that loses its last record stays, with zeros, marked revised.
func TestRevisedMonths(t *testing.T) {
	e := newEnv(t)
	a := e.device("a")
	put(t, a, "tutoring_sessions", "", "village", "东旺村", "session_date", "2024-02-10",
		"class_group", "一班", "children_present", 10)
	put(t, a, "tutoring_sessions", "", "village", "南香村", "session_date", "2024-03-10",
		"class_group", "一班", "children_present", 12)
	task := put(t, a, "cleanup_tasks", "", "village", "旺渔村", "kind", "other", "status", "reported",
		"reported_at", "2024-05-02T09:00:00+08:00")
	syncOK(t, a)
	q := report.Request{FromMonth: "2024-01", ToMonth: "2024-12"}
	first := e.report(q)
	second := e.report(q)
	for _, rep := range []*report.Report{first, second} {
		if len(rep.Rows) != 3 {
			t.Fatalf("rows: %+v", rep.Rows)
		}
		for _, row := range rep.Rows {
			if row.FirstReportedAt.IsZero() || !row.RevisedAt.IsZero() {
				t.Errorf("%s %s: first reported %v, revised %v", row.Village, row.Month, row.FirstReportedAt, row.RevisedAt)
			}
		}
	}

	put(t, a, "tutoring_sessions", "", "village", "东旺村", "session_date", "2024-02-17",
		"class_group", "一班", "children_present", 11)
	if err := a.Delete(context.Background(), "cleanup_tasks", task); err != nil {
		t.Fatal(err)
	}
	syncOK(t, a)
	third := e.report(q)
	want := map[string]struct {
		sessions int64
		revised  bool
	}{"东旺村 2024-02": {2, true}, "南香村 2024-03": {1, false}, "旺渔村 2024-05": {0, true}}
	if len(third.Rows) != len(want) {
		t.Fatalf("rows: %+v", third.Rows)
	}
	for _, row := range third.Rows {
		w := want[row.Village+" "+row.Month]
		if row.Tutoring.Sessions != w.sessions || !row.RevisedAt.IsZero() != w.revised || row.FirstReportedAt.IsZero() {
			t.Errorf("%s %s: %d sessions, revised %v; want %d, %v",
				row.Village, row.Month, row.Tutoring.Sessions, row.RevisedAt, w.sessions, w.revised)
		}
		if !row.RevisedAt.IsZero() && row.RevisedAt.Before(row.FirstReportedAt) {
			t.Errorf("%s %s revised before it was first reported", row.Village, row.Month)
		}
	}
	if third.Rows[2].Cleanup[3].Reported != 0 {
		t.Errorf("deleted task still counted: %+v", third.Rows[2].Cleanup)
	}
}

func smallReport(t *testing.T) (*env, *report.Report) {
	e := newEnv(t)
	a := e.device("a")
	book := put(t, a, "books", "", "village", "南香村", "library", "children", "title", "小王子")
	put(t, a, "tutoring_sessions", "", "village", "南香村", "session_date", "2024-06-03",
		"volunteers", "王芳，李雷", "children_present", 30)
	put(t, a, "tutoring_sessions", "", "village", "旺渔村", "session_date", "2024-07-01", "children_present", 8)
	put(t, a, "cleanup_tasks", "", "village", "东旺村", "kind", "construction_waste", "status", "checked",
		"quantity", 3.5, "unit", "车",
		"reported_at", "2024-06-01T08:00:00+08:00", "finished_at", "2024-06-02T08:00:00+08:00")
	put(t, a, "loans", "", "village", "南香村", "book_id", book, "borrower_card", "C-1",
		"lent_on", "2024-06-05", "due_on", "2024-06-19")
	syncOK(t, a)
	return e, e.report(report.Request{FromMonth: "2024-06", ToMonth: "2024-07"})
}

func TestCSVHasBOMAndChineseHeaders(t *testing.T) {
	_, rep := smallReport(t)
	for _, tc := range []struct {
		lang            reportfmt.Lang
		village, header string
	}{
		{reportfmt.ZH, "南香村", "村,月份,课堂次数,学生出勤人次,志愿者人数,建筑垃圾清运·上报"},
		{reportfmt.EN, "南香村 Nanxiang", "village,month,sessions,student attendances,volunteers,construction waste: reported"},
	} {
		var b bytes.Buffer
		if err := reportfmt.Render(&b, rep, reportfmt.FormatCSV, tc.lang); err != nil {
			t.Fatal(err)
		}
		body, ok := strings.CutPrefix(b.String(), "\xEF\xBB\xBF")
		if !ok {
			t.Fatalf("%s: no BOM: %q", tc.lang, b.String()[:10])
		}
		if !strings.HasPrefix(body, tc.header) {
			t.Errorf("%s: header %q", tc.lang, strings.SplitN(body, "\n", 2)[0])
		}
		recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if n := 1 + len(rep.Rows) + len(rep.VillageTotals) + 1; len(recs) != n {
			t.Errorf("%s: %d records, want %d", tc.lang, len(recs), n)
		}
		if recs[1][0] != tc.village && recs[2][0] != tc.village && recs[3][0] != tc.village {
			t.Errorf("%s: village cells %q %q %q", tc.lang, recs[1][0], recs[2][0], recs[3][0])
		}
	}
}

func TestTableAlignsChinese(t *testing.T) {
	_, rep := smallReport(t)
	var b bytes.Buffer
	if err := reportfmt.Render(&b, rep, reportfmt.FormatTable, reportfmt.ZH); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range []string{"期间: 2024-06 – 2024-07", "南香村", "合计", "全部村", "最后同步", "  a  "} {
		if !strings.Contains(out, s) {
			t.Errorf("table lacks %q:\n%s", s, out)
		}
	}
}

// The workbook, read back with excelize, holds cell by cell what the JSON
// rendering of the same report holds.
func TestXLSXMatchesJSON(t *testing.T) {
	e := newEnv(t)
	d := seed(t, e, rand.New(rand.NewPCG(7, 7)))
	_ = d
	rep := e.report(report.Request{FromMonth: "2024-01", ToMonth: "2024-12"})
	var js, xb bytes.Buffer
	if err := reportfmt.Render(&js, rep, reportfmt.FormatJSON, reportfmt.EN); err != nil {
		t.Fatal(err)
	}
	if err := reportfmt.Render(&xb, rep, reportfmt.FormatXLSX, reportfmt.EN); err != nil {
		t.Fatal(err)
	}
	var back report.Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	x, err := excelize.OpenReader(&xb)
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	if sheets := x.GetSheetList(); !reflect.DeepEqual(sheets, []string{"Report", "Freshness"}) {
		t.Fatalf("sheets %v", sheets)
	}
	grid, err := x.GetRows("Report")
	if err != nil {
		t.Fatal(err)
	}
	rows := append(append(slices.Clone(back.Rows), back.VillageTotals...), back.Total)
	if len(grid) != 1+len(rows) {
		t.Fatalf("%d sheet rows, want %d", len(grid), 1+len(rows))
	}
	groups := map[string]string{
		"construction waste": "construction_waste", "road levelling": "road_levelling",
		"street sweeping": "street_sweeping", "other cleanup": "other",
		"party & villagers library": "party_villagers", "children's library": "children", "unknown book": "unknown",
	}
	header := grid[0]
	if len(header) != 5+4*4+5*3+1 {
		t.Errorf("%d columns: %q", len(header), header)
	}
	num := func(n int64) string { return strconv.FormatInt(n, 10) }
	// expected is the cell the JSON row says belongs under head.
	expected := func(row report.Row, head string) string {
		switch head {
		case "village":
			if row.Village == "" {
				return "all villages"
			}
			return row.Village + " " + row.VillagePinyin
		case "month":
			if row.Month == "" {
				return "total"
			}
			return row.Month
		case "sessions":
			return num(row.Tutoring.Sessions)
		case "student attendances":
			return num(row.Tutoring.StudentAttendances)
		case "volunteers":
			return num(row.Tutoring.Volunteers)
		case "revised at":
			if row.RevisedAt.IsZero() {
				return ""
			}
			return row.RevisedAt.In(report.Zone).Format("2006-01-02 15:04")
		}
		group, figure, ok := strings.Cut(head, ": ")
		code := groups[group]
		if !ok || code == "" {
			t.Fatalf("unexpected header %q", head)
		}
		for _, c := range row.Cleanup {
			if c.Kind == code {
				switch figure {
				case "reported":
					return num(c.Reported)
				case "done":
					return num(c.Done)
				case "checked":
					return num(c.Checked)
				case "quantity":
					var parts []string
					for _, q := range c.Quantities {
						parts = append(parts, strings.TrimSpace(strconv.FormatFloat(q.Amount, 'f', -1, 64)+" "+q.Unit))
					}
					return strings.Join(parts, "; ")
				}
			}
		}
		for _, l := range row.Loans {
			if l.Library == code {
				switch figure {
				case "loans made":
					return num(l.Made)
				case "returned":
					return num(l.Returned)
				case "open":
					return num(l.Open)
				case "overdue":
					return num(l.Overdue)
				case "borrowers":
					return num(l.Borrowers)
				}
			}
		}
		t.Fatalf("header %q: no such figure in %+v", head, row)
		return ""
	}
	for j, row := range rows {
		cells := grid[j+1]
		for i, head := range header {
			got := ""
			if i < len(cells) {
				got = cells[i]
			}
			if want := expected(row, head); got != want {
				t.Errorf("row %d (%s %s) %q: cell %q, want %q", j+2, row.Village, row.Month, head, got, want)
			}
		}
	}
	// Numbers are numbers, so Excel can sum them.
	if typ, err := x.GetCellType("Report", "C2"); err != nil ||
		typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString {
		t.Errorf("sessions cell type %v (%v)", typ, err)
	}
	fresh, err := x.GetRows("Freshness")
	if err != nil || len(fresh) < 3 || fresh[1][1] != strconv.FormatUint(back.Freshness.FeedSeq, 10) {
		t.Errorf("freshness sheet %q (%v)", fresh, err)
	}
}

// A device that only pulls never writes a push transaction; the report
// must still know when it last synced.
func TestFreshnessKnowsPullOnlyDevices(t *testing.T) {
	e := newEnv(t)
	d := e.device("reader-phone")
	if _, err := d.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	f := e.report(report.Request{}).Freshness
	if len(f.Devices) == 0 || f.Devices[0].Name != "reader-phone" || f.Devices[0].LastSeen.IsZero() {
		t.Errorf("freshness devices %+v, want reader-phone with its last sync", f.Devices)
	}
}

// Found in review: a duplicate pair counts once only while it is one. If
// the earlier session is deleted, or one is corrected to another class,
// both count; merging a pair whose earlier session is gone is refused.
func TestDuplicateCountsFollowTheRecords(t *testing.T) {
	e := newEnv(t)
	a, b := e.device("a-phone"), e.device("b-phone")
	session := func(d *replica.Replica) string {
		return put(t, d, "tutoring_sessions", "", "village", "南香村", "session_date", "2024-06-03",
			"class_group", "三年级", "children_present", 20)
	}
	first := session(a)
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	second := session(b)
	if _, err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	sessions := func() int64 { return e.report(report.Request{}).Total.Tutoring.Sessions }
	if n := sessions(); n != 1 {
		t.Fatalf("a probable duplicate: %d sessions, want 1", n)
	}
	put(t, b, "tutoring_sessions", second, "class_group", "四年级")
	if _, err := b.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := sessions(); n != 2 {
		t.Errorf("after correcting the class: %d sessions, want 2", n)
	}
	put(t, b, "tutoring_sessions", second, "class_group", "三年级")
	b.Sync(context.Background())
	if err := a.Delete(context.Background(), "tutoring_sessions", first); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := sessions(); n != 1 {
		t.Errorf("after deleting the earlier one: %d sessions, want the later one counted", n)
	}
	var open []staff.Conflict
	staff.Conflicts(context.Background(), e.coordinator(), e.srv.URL, staff.Filter{OpenOnly: true},
		func(c staff.Conflict) error {
			open = append(open, c)
			return nil
		})
	if len(open) != 1 {
		t.Fatalf("open entries %+v", open)
	}
	staffHC := e.device("staff-laptop").HTTPClient()
	if _, err := staff.Resolve(context.Background(), staffHC, e.srv.URL, open[0].ID,
		"merge", ""); connect.CodeOf(err) != connect.CodeFailedPrecondition {
		t.Errorf("merging a pair whose earlier session is gone: %v, want failed_precondition", err)
	}
	if n := sessions(); n != 1 {
		t.Errorf("the refused merge changed the count to %d", n)
	}
}

// Found in review: text typed into a record cannot become a formula in a
// spreadsheet that opens the CSV.
func TestCSVCellsAreNotFormulas(t *testing.T) {
	r := &report.Report{Rows: []report.Row{{Village: "=cmd|' /C calc'!A0", Month: "2024-06",
		Figures: report.Figures{Tutoring: report.Tutoring{Sessions: -1}}}}}
	var out bytes.Buffer
	if err := reportfmt.Render(&out, r, reportfmt.FormatCSV, reportfmt.ZH); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\n=cmd") || !strings.Contains(out.String(), "'=cmd") {
		t.Errorf("formula not neutralised:\n%s", out.String())
	}
	if !strings.Contains(out.String(), ",-1,") {
		t.Errorf("a negative number was quoted:\n%s", out.String())
	}
}
