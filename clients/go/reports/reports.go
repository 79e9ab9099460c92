package reports

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
)

// Zone is where report times are shown: China Standard Time.
var Zone = time.FixedZone("CST", 8*60*60)

// Query selects a report: months "YYYY-MM" (empty: unbounded) and
// villages in any spelling the server knows (empty: all).
type Query struct {
	From, To string
	Villages []string
}

// Report is a fetched report, for people and JSON.
type Report struct {
	FromMonth     string    `json:"from_month"`
	ToMonth       string    `json:"to_month"`
	Rows          []Row     `json:"rows"`
	VillageTotals []Row     `json:"village_totals"`
	Total         Row       `json:"total"`
	Freshness     Freshness `json:"freshness"`
}

// Row is one village's month (Month set), one village's totals (Month
// empty) or the grand total (Village and Month empty).
type Row struct {
	Village       string     `json:"village"`
	VillagePinyin string     `json:"village_pinyin"`
	Month         string     `json:"month"`
	Tutoring      Tutoring   `json:"tutoring"`
	Cleanup       []Cleanup  `json:"cleanup"`
	Loans         []Loans    `json:"loans"`
	FirstReported *time.Time `json:"first_reported_at,omitempty"`
	// RevisedAt is set when this past month's figures changed after the
	// server first reported them.
	RevisedAt *time.Time `json:"revised_at,omitempty"`
}

// Tutoring is the 7pm classroom's figures.
type Tutoring struct {
	Sessions           int64 `json:"sessions"`
	StudentAttendances int64 `json:"student_attendances"`
	Volunteers         int64 `json:"volunteers"`
}

// Cleanup is one kind of cleanup task's figures.
type Cleanup struct {
	Kind       string     `json:"kind"`
	Reported   int64      `json:"reported"`
	Done       int64      `json:"done"`
	Checked    int64      `json:"checked"`
	Quantities []Quantity `json:"quantities"`
}

// Quantity is the work done in one unit.
type Quantity struct {
	Unit   string  `json:"unit"`
	Amount float64 `json:"amount"`
}

// Loans is one library's figures.
type Loans struct {
	Library   string `json:"library"`
	Made      int64  `json:"made"`
	Returned  int64  `json:"returned"`
	Open      int64  `json:"open"`
	Overdue   int64  `json:"overdue"`
	Borrowers int64  `json:"borrowers"`
}

// Freshness says how up to date the server's data was.
type Freshness struct {
	GeneratedAt   time.Time        `json:"generated_at"`
	FeedSeq       uint64           `json:"feed_seq"`
	Devices       []Device         `json:"devices"`
	OpenConflicts map[string]int64 `json:"open_conflicts"`
}

// Device is a registered device and its last sync the server wrote down.
type Device struct {
	Replica  uint32     `json:"replica"`
	Name     string     `json:"name"`
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

// Fetch asks the server at url for a report. Errors keep their Connect
// code (connect.CodeOf); a bad query is InvalidArgument naming the field.
func Fetch(ctx context.Context, hc connect.HTTPClient, url string, q Query) (*Report, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	client := villagesyncv1connect.NewReportServiceClient(hc, url)
	resp, err := client.GetReport(ctx, &v1.GetReportRequest{FromMonth: q.From, ToMonth: q.To, Villages: q.Villages})
	if err != nil {
		return nil, fmt.Errorf("report from %s: %w", url, err)
	}
	return FromWire(resp), nil
}

// FromWire converts a GetReport response.
func FromWire(m *v1.GetReportResponse) *Report {
	r := &Report{FromMonth: m.GetFromMonth(), ToMonth: m.GetToMonth(), Total: rowFromWire(m.GetTotal()),
		Rows: []Row{}, VillageTotals: []Row{}}
	for _, row := range m.GetRows() {
		r.Rows = append(r.Rows, rowFromWire(row))
	}
	for _, row := range m.GetVillageTotals() {
		r.VillageTotals = append(r.VillageTotals, rowFromWire(row))
	}
	f := m.GetFreshness()
	r.Freshness = Freshness{GeneratedAt: msTime(f.GetGeneratedAtMs()), FeedSeq: f.GetFeedSeq(), Devices: []Device{}, OpenConflicts: map[string]int64{}}
	for _, d := range f.GetDevices() {
		dev := Device{Replica: d.GetReplica(), Name: d.GetName()}
		if ms := d.GetLastSeenMs(); ms != 0 {
			t := msTime(ms)
			dev.LastSeen = &t
		}
		r.Freshness.Devices = append(r.Freshness.Devices, dev)
	}
	for _, c := range f.GetOpenConflicts() {
		r.Freshness.OpenConflicts[c.GetKind()] = c.GetCount()
	}
	return r
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).In(Zone) }

func rowFromWire(m *v1.ReportRow) Row {
	t := m.GetTutoring()
	r := Row{Village: m.GetVillage(), VillagePinyin: m.GetVillagePinyin(), Month: m.GetMonth(),
		Tutoring: Tutoring{Sessions: t.GetSessions(), StudentAttendances: t.GetStudentAttendances(), Volunteers: t.GetVolunteers()},
		Cleanup:  []Cleanup{}, Loans: []Loans{}}
	if ms := m.GetFirstReportedAtMs(); ms != 0 {
		t := msTime(ms)
		r.FirstReported = &t
	}
	if ms := m.GetRevisedAtMs(); ms != 0 {
		t := msTime(ms)
		r.RevisedAt = &t
	}
	for _, c := range m.GetCleanup() {
		cl := Cleanup{Kind: c.GetKind(), Reported: c.GetReported(), Done: c.GetDone(), Checked: c.GetChecked(), Quantities: []Quantity{}}
		for _, q := range c.GetQuantities() {
			cl.Quantities = append(cl.Quantities, Quantity{Unit: q.GetUnit(), Amount: q.GetAmount()})
		}
		r.Cleanup = append(r.Cleanup, cl)
	}
	for _, l := range m.GetLoans() {
		r.Loans = append(r.Loans, Loans{Library: l.GetLibrary(), Made: l.GetMade(), Returned: l.GetReturned(), Open: l.GetOpen(), Overdue: l.GetOverdue(), Borrowers: l.GetBorrowers()})
	}
	return r
}
