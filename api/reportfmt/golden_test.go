package reportfmt_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/reportfmt"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/report"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current rendering")

// goldenResponse is a GetReport response with every field set somewhere:
// times with milliseconds, a device never seen, a row never revised,
// quantities with and without a unit, the unknown library, conflict kinds
// out of order and one without a label, text a browser or spreadsheet
// would misread.
func goldenResponse() *v1.GetReportResponse {
	row := func(village, pinyin, month string, first, revised int64, sessions int64) *v1.ReportRow {
		return &v1.ReportRow{
			Village: village, VillagePinyin: pinyin, Month: month, FirstReportedAtMs: first, RevisedAtMs: revised,
			Tutoring: &v1.TutoringFigures{Sessions: sessions, StudentAttendances: 7 * sessions, Volunteers: 2},
			Cleanup: []*v1.CleanupFigures{
				{Kind: "construction_waste", Reported: 3, Done: 2, Checked: 1,
					Quantities: []*v1.Quantity{{Unit: "", Amount: 0.5}, {Unit: "车", Amount: 3.25}}},
				{Kind: "road_levelling"},
				{Kind: "street_sweeping", Reported: 1, Done: 1, Quantities: []*v1.Quantity{{Unit: "米", Amount: 120}}},
				{Kind: "other"},
			},
			Loans: []*v1.LoanFigures{
				{Library: "party_villagers", Made: 4, Returned: 3, Open: 1, Overdue: 1, Borrowers: 3},
				{Library: "children", Made: 2, Open: 2, Borrowers: 1},
				{Library: "unknown", Made: 1, Open: 1, Overdue: 1, Borrowers: 1},
			},
		}
	}
	return &v1.GetReportResponse{
		FromMonth: "2024-05", ToMonth: "2024-06",
		Rows: []*v1.ReportRow{
			row("南香村", "Nanxiang", "2024-05", 1717171717123, 1718000000999, 3),
			row("南香村", "Nanxiang", "2024-06", 1719800000000, 0, 1),
			row("=A&B <村>", "", "2024-06", 0, 0, 2),
		},
		VillageTotals: []*v1.ReportRow{
			row("南香村", "Nanxiang", "", 0, 0, 4),
			row("=A&B <村>", "", "", 0, 0, 2),
		},
		Total: row("", "", "", 0, 0, 6),
		Freshness: &v1.Freshness{
			GeneratedAtMs: 1719900000456, FeedSeq: 4242,
			Devices: []*v1.DeviceSeen{
				{Replica: 2, Name: "nanxiang-phone", LastSeenMs: 1719899999001},
				{Replica: 3, Name: "spare"},
			},
			OpenConflicts: []*v1.OpenConflicts{
				{Kind: "field", Count: 2}, {Kind: "double_loan", Count: 1}, {Kind: "new_kind", Count: 5},
			},
		},
	}
}

// Every text format renders the fixture byte for byte as it did before
// the report types were unified: the golden files were written by the
// client's own report types (clients/go/reports, issue 10), JSON tags
// included.
func TestGolden(t *testing.T) {
	for name, m := range map[string]*v1.GetReportResponse{"full": goldenResponse(), "empty": {}} {
		rep := wire.FromReport(m)
		for _, f := range []reportfmt.Format{reportfmt.FormatJSON, reportfmt.FormatCSV, reportfmt.FormatTable} {
			for _, l := range []reportfmt.Lang{reportfmt.ZH, reportfmt.EN} {
				var b bytes.Buffer
				if err := reportfmt.Render(&b, rep, f, l); err != nil {
					t.Fatal(err)
				}
				file := filepath.Join("testdata", name+"."+string(l)+"."+string(f)+".golden")
				if *update {
					if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
					continue
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(b.Bytes(), want) {
					t.Errorf("%s differs from %s:\n%s", f, file, b.String())
				}
				if f != reportfmt.FormatJSON {
					continue
				}
				// The JSON reads back into the same report: rendered again,
				// the same bytes.
				var back report.Report
				if err := json.Unmarshal(want, &back); err != nil {
					t.Fatal(err)
				}
				var again bytes.Buffer
				if err := reportfmt.Render(&again, &back, f, l); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(again.Bytes(), want) {
					t.Errorf("%s read back and rendered again:\n%s", file, again.String())
				}
			}
		}
	}
}
