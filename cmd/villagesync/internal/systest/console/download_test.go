package console

import (
	"bytes"
	"encoding/csv"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/reportfmt"
	"github.com/futian-xiaomo/villagesync/api/wire"
)

// expectedGrid is GetReport's figures as the report's CSV lays them out
// (headers, then a line per month, village total and the grand total),
// the table the downloaded files must hold.
func expectedGrid(t testing.TB, rep *v1.GetReportResponse) [][]string {
	t.Helper()
	var b bytes.Buffer
	if err := reportfmt.Render(&b, wire.FromReport(rep), reportfmt.FormatCSV, reportfmt.ZH); err != nil {
		t.Fatalf("render GetReport: %v", err)
	}
	return parseCSV(t, b.Bytes())
}

func parseCSV(t testing.TB, b []byte) [][]string {
	t.Helper()
	if !bytes.HasPrefix(b, []byte(reportfmt.BOM)) {
		t.Errorf("the CSV does not start with the UTF-8 byte order mark: % x", b[:min(len(b), 8)])
	}
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(b, []byte(reportfmt.BOM))))
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatalf("parse the CSV: %v", err)
	}
	return trimRows(rows)
}

// trimRows drops trailing empty cells (a spreadsheet reader does).
func trimRows(rows [][]string) [][]string {
	for i, r := range rows {
		for len(r) > 0 && r[len(r)-1] == "" {
			r = r[:len(r)-1]
		}
		rows[i] = r
	}
	return rows
}

// sameGrid compares a downloaded table with GetReport's, cell by cell, and
// checks the season's known totals in it.
func sameGrid(t testing.TB, file string, got, want [][]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s has %d lines, GetReport's table %d", file, len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if !slices.Equal(got[i], want[i]) {
			t.Errorf("%s line %d:\n got  %q\n want %q", file, i+1, got[i], want[i])
		}
	}
	if len(got) == 0 {
		return
	}
	head := got[0]
	sess, att := slices.Index(head, "课堂次数"), slices.Index(head, "学生出勤人次")
	if sess < 0 || att < 0 {
		t.Fatalf("%s has no sessions or attendances column: %q", file, head)
	}
	found := map[string][2]string{}
	for _, r := range got[1:] {
		if len(r) > att && (r[1] == "合计") {
			found[r[0]] = [2]string{r[sess], r[att]}
		}
	}
	want2 := map[string][2]string{"全部村": {"65", "1950"}}
	for _, v := range seasonVillages {
		want2[v] = [2]string{strconv.FormatInt(seasonSessions[v], 10), strconv.FormatInt(seasonAttendances[v], 10)}
	}
	for k, w := range want2 {
		if found[k] != w {
			t.Errorf("%s: %s's totals are %v, the season's %v", file, k, found[k], w)
		}
	}
}

// The coordinator downloads the report as XLSX and as CSV: each opens,
// and holds GetReport's figures.
func TestXLSXDownloadOpens(t *testing.T) {
	s := startSeason(t)
	coord := s.api(coordinator)
	d := newDevice(t, s.URL, laptop)
	d.signIn(s.code(coordinator))
	want := expectedGrid(t, coord.getReport())
	dir := t.TempDir()

	name, path := d.download("[data-test=download-xlsx]", dir)
	if !strings.HasSuffix(name, ".xlsx") {
		t.Errorf("the XLSX is named %q", name)
	}
	f, err := excelize.OpenFile(path)
	if err != nil {
		t.Fatalf("open the downloaded XLSX %s: %v", name, err)
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if len(sheets) == 0 || sheets[0] != "报表" {
		t.Errorf("the XLSX's sheets are %q, want 报表 first", sheets)
	}
	rows, err := f.GetRows(sheets[0])
	if err != nil {
		t.Fatalf("read the XLSX: %v", err)
	}
	sameGrid(t, name, trimRows(rows), want)

	name, path = d.download("[data-test=download-csv]", dir)
	if !strings.HasSuffix(name, ".csv") {
		t.Errorf("the CSV is named %q", name)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sameGrid(t, name, parseCSV(t, b), want)
}
