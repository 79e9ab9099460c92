package reportfmt

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/width"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/report"
)

// Format is an output format.
type Format string

const (
	FormatTable Format = "table"
	FormatCSV   Format = "csv"
	FormatXLSX  Format = "xlsx"
	FormatJSON  Format = "json"
)

// ParseFormat accepts table, csv, xlsx or json.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatTable, FormatCSV, FormatXLSX, FormatJSON:
		return f, nil
	}
	return "", fmt.Errorf("format: %q is not table, csv, xlsx or json", s)
}

// BOM is the UTF-8 byte order mark CSV output starts with: without it
// Excel reads the file in the system's legacy code page and garbles the
// Chinese.
const BOM = "\uFEFF"

// Render writes r to w in format f with headers in lang l. The JSON is
// the report's own encoding.
func Render(w io.Writer, r *report.Report, f Format, l Lang) error {
	switch f {
	case FormatJSON:
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case FormatCSV:
		return renderCSV(w, r, l)
	case FormatXLSX:
		return renderXLSX(w, r, l)
	case FormatTable:
		return renderTable(w, r, l)
	}
	return fmt.Errorf("format: %q is not table, csv, xlsx or json", f)
}

// column is one column of the flat table: cells are strings or int64.
type column struct {
	header  string
	numeric bool
	cell    func(report.Row) any
}

// columns are the report's columns: the cleanup kinds and libraries come
// from the grand total, which lists every one the report has.
func columns(r *report.Report, l Lang) []column {
	cols := []column{
		{hVillage.in(l), false, func(row report.Row) any { return villageLabel(row, l) }},
		{hMonth.in(l), false, func(row report.Row) any { return monthLabel(row, l) }},
		{hSessions.in(l), true, func(row report.Row) any { return row.Tutoring.Sessions }},
		{hAttendance.in(l), true, func(row report.Row) any { return row.Tutoring.StudentAttendances }},
		{hVolunteers.in(l), true, func(row report.Row) any { return row.Tutoring.Volunteers }},
	}
	for _, c := range r.Total.Cleanup {
		kind, group := c.Kind, valueName(c.Kind, l)
		get := func(row report.Row) report.Cleanup {
			i := slices.IndexFunc(row.Cleanup, func(x report.Cleanup) bool { return x.Kind == kind })
			if i < 0 {
				return report.Cleanup{}
			}
			return row.Cleanup[i]
		}
		cols = append(cols,
			column{header(group, hReported, l), true, func(row report.Row) any { return get(row).Reported }},
			column{header(group, hDone, l), true, func(row report.Row) any { return get(row).Done }},
			column{header(group, hChecked, l), true, func(row report.Row) any { return get(row).Checked }},
			column{header(group, hQuantity, l), false, func(row report.Row) any {
				return quantities(get(row).Quantities)
			}},
		)
	}
	for _, lo := range r.Total.Loans {
		lib, group := lo.Library, valueName(lo.Library, l)
		get := func(row report.Row) report.Loans {
			i := slices.IndexFunc(row.Loans, func(x report.Loans) bool { return x.Library == lib })
			if i < 0 {
				return report.Loans{}
			}
			return row.Loans[i]
		}
		cols = append(cols,
			column{header(group, hMade, l), true, func(row report.Row) any { return get(row).Made }},
			column{header(group, hReturned, l), true, func(row report.Row) any { return get(row).Returned }},
			column{header(group, hOpen, l), true, func(row report.Row) any { return get(row).Open }},
			column{header(group, hOverdue, l), true, func(row report.Row) any { return get(row).Overdue }},
			column{header(group, hBorrowers, l), true, func(row report.Row) any { return get(row).Borrowers }},
		)
	}
	return append(cols, column{hRevised.in(l), false, func(row report.Row) any { return timeLabel(row.RevisedAt) }})
}

// grid is the report as one table: the months, the village totals, the
// grand total.
func grid(r *report.Report, l Lang) (cols []column, rows [][]any) {
	cols = columns(r, l)
	all := append(append(slices.Clone(r.Rows), r.VillageTotals...), r.Total)
	for _, row := range all {
		cells := make([]any, len(cols))
		for i, c := range cols {
			cells[i] = c.cell(row)
		}
		rows = append(rows, cells)
	}
	return cols, rows
}

func villageLabel(row report.Row, l Lang) string {
	switch {
	case row.Village == "":
		return lAllVillages.in(l)
	case l == EN && row.VillagePinyin != "":
		return row.Village + " " + row.VillagePinyin
	}
	return row.Village
}

func monthLabel(row report.Row, l Lang) string {
	if row.Month == "" {
		return lTotal.in(l)
	}
	return row.Month
}

func timeLabel(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(report.Zone).Format("2006-01-02 15:04")
}

func quantities(qs []report.Quantity) string {
	var parts []string
	for _, q := range qs {
		s := strconv.FormatFloat(q.Amount, 'f', -1, 64)
		if q.Unit != "" {
			s += " " + q.Unit
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

func cellText(v any) string {
	switch v := v.(type) {
	case int64:
		return strconv.FormatInt(v, 10)
	case string:
		return v
	}
	return fmt.Sprint(v)
}

func renderCSV(w io.Writer, r *report.Report, l Lang) error {
	if _, err := io.WriteString(w, BOM); err != nil {
		return err
	}
	cols, rows := grid(r, l)
	cw := csv.NewWriter(w)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.header
	}
	cw.Write(head)
	for _, cells := range rows {
		rec := make([]string, len(cells))
		for i, v := range cells {
			rec[i] = csvSafe(cellText(v))
		}
		cw.Write(rec)
	}
	cw.Flush()
	return cw.Error()
}

// displayWidth is how many terminal columns s takes: Chinese characters
// take two.
func displayWidth(s string) int {
	n := 0
	for _, r := range s {
		switch width.LookupRune(r).Kind() {
		case width.EastAsianWide, width.EastAsianFullwidth:
			n += 2
		default:
			n++
		}
	}
	return n
}

func renderTable(w io.Writer, r *report.Report, l Lang) error {
	cols, rows := grid(r, l)
	widths := make([]int, len(cols))
	for i, c := range cols {
		widths[i] = displayWidth(c.header)
	}
	text := make([][]string, len(rows))
	for j, cells := range rows {
		text[j] = make([]string, len(cells))
		for i, v := range cells {
			// Village names and units are typed on devices: on a
			// terminal an escape sequence in one would be obeyed.
			text[j][i] = schema.Printable(cellText(v), false)
			widths[i] = max(widths[i], displayWidth(text[j][i]))
		}
	}
	var b strings.Builder
	line := func(cells []string) {
		for i, s := range cells {
			pad := strings.Repeat(" ", widths[i]-displayWidth(s))
			if i > 0 {
				b.WriteString("  ")
			}
			if cols[i].numeric {
				b.WriteString(pad + s)
			} else if i < len(cells)-1 {
				b.WriteString(s + pad)
			} else {
				b.WriteString(s)
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "%s: %s – %s\n\n", lPeriod.in(l), r.FromMonth, r.ToMonth)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = c.header
	}
	line(head)
	for _, cells := range text {
		line(cells)
	}
	b.WriteString("\n")
	fresh := freshness(r, l)
	keyWidth := 0
	for _, kv := range fresh {
		if len(kv) > 1 {
			keyWidth = max(keyWidth, displayWidth(kv[0]))
		}
	}
	for _, kv := range fresh {
		if len(kv) > 1 {
			kv[0] += strings.Repeat(" ", keyWidth-displayWidth(kv[0]))
		}
		b.WriteString(strings.TrimRight(strings.Join(kv, "  "), " ") + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// freshness is the freshness section as lines of cells.
func freshness(r *report.Report, l Lang) [][]string {
	f := r.Freshness
	out := [][]string{
		{lGenerated.in(l), f.GeneratedAt.In(report.Zone).Format("2006-01-02 15:04:05 -07:00")},
		{lFeedSeq.in(l), strconv.FormatUint(f.FeedSeq, 10)},
		{lDevice.in(l), lLastSeen.in(l)},
	}
	for _, d := range f.Devices {
		seen := lNever.in(l)
		if !d.LastSeen.IsZero() {
			seen = timeLabel(d.LastSeen)
		}
		out = append(out, []string{"  " + schema.Printable(d.Name, false), seen})
	}
	if len(f.OpenConflicts) == 0 {
		out = append(out, []string{lOpenConflicts.in(l), lNone.in(l)})
	} else {
		out = append(out, []string{lOpenConflicts.in(l), ""})
		// By kind code, whatever order the server sent.
		byKind := slices.SortedFunc(slices.Values(f.OpenConflicts), func(a, b report.OpenConflicts) int {
			return strings.Compare(a.Kind, b.Kind)
		})
		for _, c := range byKind {
			out = append(out, []string{"  " + name(conflictKinds, c.Kind, l), strconv.FormatInt(c.Count, 10)})
		}
	}
	return append(out, []string{lFreshNote.in(l)})
}

func renderXLSX(w io.Writer, r *report.Report, l Lang) error {
	x := excelize.NewFile()
	defer x.Close()
	sheet := lReportSheet.in(l)
	if err := x.SetSheetName("Sheet1", sheet); err != nil {
		return err
	}
	cols, rows := grid(r, l)
	head := make([]any, len(cols))
	for i, c := range cols {
		head[i] = c.header
	}
	set := func(sheet string, row int, cells []any) error {
		cell, err := excelize.CoordinatesToCellName(1, row)
		if err != nil {
			return err
		}
		return x.SetSheetRow(sheet, cell, &cells)
	}
	if err := set(sheet, 1, head); err != nil {
		return err
	}
	for j, cells := range rows {
		if err := set(sheet, j+2, cells); err != nil {
			return err
		}
	}
	bold, err := x.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}})
	if err != nil {
		return err
	}
	last, _ := excelize.CoordinatesToCellName(len(cols), 1)
	if err := x.SetCellStyle(sheet, "A1", last, bold); err != nil {
		return err
	}
	if err := x.SetPanes(sheet, &excelize.Panes{Freeze: true, XSplit: 2, YSplit: 1,
		TopLeftCell: "C2", ActivePane: "bottomRight"}); err != nil {
		return err
	}
	for i, c := range cols {
		name, _ := excelize.ColumnNumberToName(i + 1)
		if err := x.SetColWidth(sheet, name, name, float64(min(max(displayWidth(c.header), 8)+2, 40))); err != nil {
			return err
		}
	}

	fresh := lFreshnessSheet.in(l)
	if _, err := x.NewSheet(fresh); err != nil {
		return err
	}
	for j, kv := range freshness(r, l) {
		cells := make([]any, len(kv))
		for i, s := range kv {
			cells[i] = strings.TrimSpace(s)
		}
		if err := set(fresh, j+1, cells); err != nil {
			return err
		}
	}
	if err := x.SetColWidth(fresh, "A", "A", 30); err != nil {
		return err
	}
	_, err = x.WriteTo(w)
	return err
}

// csvSafe keeps a spreadsheet from running text typed into a record (a
// village name, say) as a formula: a cell starting with = + - @ or a
// control character gets a leading apostrophe. Numbers are left alone.
func csvSafe(s string) string {
	if s == "" || strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		if _, err := strconv.ParseFloat(s, 64); err != nil && s != "" {
			return "'" + s
		}
	}
	return s
}
