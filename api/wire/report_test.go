package wire_test

import (
	"reflect"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/report"
)

// sampleReport has every field set somewhere, and zero times where the
// engine leaves them zero. Times are whole milliseconds in report.Zone, as
// the wire carries them and FromReport gives them.
func sampleReport() *report.Report {
	at := func(ms int64) time.Time { return time.UnixMilli(ms).In(report.Zone) }
	row := func(village, pinyin, month string, first, revised time.Time, sessions int64) report.Row {
		return report.Row{
			Village: village, VillagePinyin: pinyin, Month: month, FirstReportedAt: first, RevisedAt: revised,
			Figures: report.Figures{
				Tutoring: report.Tutoring{Sessions: sessions, StudentAttendances: 7 * sessions, Volunteers: 2},
				Cleanup: []report.Cleanup{
					{Kind: "construction_waste", Reported: 3, Done: 2, Checked: 1,
						Quantities: []report.Quantity{{Unit: "", Amount: 0.5}, {Unit: "车", Amount: 3.25}}},
					{Kind: "road_levelling", Quantities: []report.Quantity{}},
				},
				Loans: []report.Loans{
					{Library: "children", Made: 2, Returned: 1, Open: 2, Overdue: 1, Borrowers: 1},
					{Library: report.UnknownLibrary, Made: 1},
				},
			},
		}
	}
	return &report.Report{
		FromMonth: "2024-05", ToMonth: "2024-06",
		Rows: []report.Row{
			row("南香村", "Nanxiang", "2024-05", at(1717171717123), at(1718000000999), 3),
			row("南香村", "Nanxiang", "2024-06", at(1719800000000), time.Time{}, 1),
		},
		VillageTotals: []report.Row{row("南香村", "Nanxiang", "", time.Time{}, time.Time{}, 4)},
		Total:         row("", "", "", time.Time{}, time.Time{}, 4),
		Freshness: report.Freshness{
			GeneratedAt: at(1719900000456), FeedSeq: 4242,
			Devices: []report.Device{
				{Replica: 2, Name: "nanxiang-phone", LastSeen: at(1719899999001)},
				{Replica: 3, Name: "spare"},
			},
			OpenConflicts: report.OpenConflictCounts{{Kind: "double_loan", Count: 1}, {Kind: "field", Count: 2}},
		},
	}
}

// A report survives the wire both ways: engine -> wire -> engine gives the
// same report, and wire -> engine -> wire the same message.
func TestReportRoundTrip(t *testing.T) {
	want := sampleReport()
	m := wire.Report(want)
	if got := wire.FromReport(m); !reflect.DeepEqual(got, want) {
		t.Errorf("engine -> wire -> engine:\n got %+v\nwant %+v", got, want)
	}
	if back := wire.Report(wire.FromReport(m)); !proto.Equal(back, m) {
		t.Errorf("wire -> engine -> wire:\n got %v\nwant %v", back, m)
	}
	// Zero times are absent on the wire, not the milliseconds of year 1.
	if r := m.GetRows()[1]; r.GetRevisedAtMs() != 0 || r.GetFirstReportedAtMs() != 1719800000000 {
		t.Errorf("row times on the wire: first %d, revised %d", r.GetFirstReportedAtMs(), r.GetRevisedAtMs())
	}
	if d := m.GetFreshness().GetDevices()[1]; d.GetLastSeenMs() != 0 {
		t.Errorf("a device never seen has last_seen_ms %d", d.GetLastSeenMs())
	}
}

// An empty response gives no nil slices, so its JSON lists are [] and {}.
func TestFromReportEmpty(t *testing.T) {
	r := wire.FromReport(&v1.GetReportResponse{})
	if r.Rows == nil || r.VillageTotals == nil || r.Total.Cleanup == nil || r.Total.Loans == nil ||
		r.Freshness.Devices == nil || r.Freshness.OpenConflicts == nil {
		t.Errorf("nil slices in %+v", r)
	}
	if r.Freshness.GeneratedAt.Location() != report.Zone {
		t.Errorf("generated at %v, want China time", r.Freshness.GeneratedAt)
	}
}

// The console's additions survive the wire too: devices' users and lag,
// and each row's open flags, which the engine keeps in the freshness and
// the wire carries on the rows they belong to.
func TestReportRoundTripLagAndFlags(t *testing.T) {
	want := sampleReport()
	at := func(ms int64) time.Time { return time.UnixMilli(ms).In(report.Zone) }
	want.Freshness.Devices[0].User, want.Freshness.Devices[0].PulledSeq, want.Freshness.Devices[0].Behind = "王芳", 4200, 42
	want.Freshness.Devices[1].User, want.Freshness.Devices[1].Revoked = "陈伟", at(1719800000001)
	dup := report.OpenConflictCounts{{Kind: "duplicate_session", Count: 1}}
	both := report.OpenConflictCounts{{Kind: "double_loan", Count: 2}, {Kind: "duplicate_session", Count: 1}}
	want.Freshness.OpenFlags = []report.RowFlags{
		{Village: "南香村", Month: "2024-05", Flags: dup},
		{Village: "南香村", Month: "", Flags: both},
		{Village: "", Month: "", Flags: both},
	}
	m := wire.Report(want)
	if got := wire.FromReport(m); !reflect.DeepEqual(got, want) {
		t.Errorf("engine -> wire -> engine:\n got %+v\nwant %+v", got.Freshness, want.Freshness)
	}
	if f := m.GetRows()[0].GetOpenFlags(); len(f) != 1 || f[0].GetKind() != "duplicate_session" || f[0].GetCount() != 1 {
		t.Errorf("the May row's flags on the wire: %v", f)
	}
	if f := m.GetRows()[1].GetOpenFlags(); len(f) != 0 {
		t.Errorf("the June row has flags on the wire: %v", f)
	}
	if f := m.GetTotal().GetOpenFlags(); len(f) != 2 {
		t.Errorf("the total's flags on the wire: %v", f)
	}
	if d := m.GetFreshness().GetDevices()[0]; d.GetUser() != "王芳" || d.GetPulledSeq() != 4200 || d.GetBehind() != 42 ||
		d.GetRevokedAtMs() != 0 {
		t.Errorf("device on the wire: %v", d)
	}
}
