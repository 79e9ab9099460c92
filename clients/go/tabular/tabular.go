package tabular

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

// Row is one record of a file: its cells as text, keyed by column name,
// empty cells left out. Line is the file's line (JSON lines, CSV) or the
// sheet's row number (XLSX), counted from 1.
type Row struct {
	Line  int
	Cells map[string]string
}

// Table is what a file holds.
type Table struct {
	// Header is the column names in file order; nil for JSON lines,
	// whose rows each name their own.
	Header []string
	Rows   []Row
}

// LineError is why one line cannot be read.
type LineError struct {
	Line int
	Err  error
}

func (e LineError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }

// Error lists the lines of a file that cannot be read: the first
// MaxErrors of them, and how many more there are.
type Error struct {
	File  string
	Lines []LineError
	More  int
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %d line(s) cannot be read", e.File, len(e.Lines)+e.More)
	for _, l := range e.Lines {
		fmt.Fprintf(&b, "\n  %v", l)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", e.More)
	}
	return b.String()
}

// Bounds on what ReadFile reads: a file is read whole into memory before
// anything is imported, so one mistaken or hostile file must not take the
// machine's memory or disk.
const (
	// MaxRows is the most data rows a file may hold. The largest import
	// measured, 100,000 rows, takes under two seconds; the programs'
	// data (three villages, two libraries) are far smaller, so a bigger
	// file is a mistake or wants splitting.
	MaxRows = 100_000
	// MaxFileBytes bounds the file itself: 100,000 rows of a few hundred
	// bytes with room to spare. Beyond it nothing is read.
	MaxFileBytes = 64 << 20
	// MaxUnzipBytes bounds what a workbook may inflate to, all its parts
	// together, as its zip directory declares them (archive/zip refuses
	// a part that inflates beyond what it declared). A 100,000-row sheet
	// is some tens of MiB of XML; a zip bomb is refused before anything
	// is inflated.
	MaxUnzipBytes = 128 << 20
	// maxUnzipInMemory is the largest part inflated in memory; a larger
	// sheet goes to a temporary file, which MaxUnzipBytes bounds too.
	maxUnzipInMemory = 16 << 20
	// MaxErrors is how many bad lines an *Error lists; it counts the rest.
	// A file with the wrong header fails on every line, and one screen
	// of errors says what is wrong as well as a million.
	MaxErrors = 50
)

// ErrTooLarge is the error (wrapped) for a file beyond MaxFileBytes,
// MaxRows or MaxUnzipBytes.
var ErrTooLarge = errors.New("the file is too large to import")

// Options tune ReadFile.
type Options struct {
	// Sheet is the workbook sheet to read; empty means the first.
	Sheet string
}

// Formats lists the file name extensions ReadFile knows.
var Formats = []string{".jsonl", ".ndjson", ".csv", ".xlsx"}

// ReadFile reads a file, its format chosen by its extension. It returns
// an *Error if some lines cannot be read, and other errors for a file
// that cannot be read at all.
func ReadFile(name string, opt Options) (*Table, error) {
	ext := strings.ToLower(filepath.Ext(name))
	if opt.Sheet != "" && ext != ".xlsx" {
		return nil, fmt.Errorf("%s: a sheet is only chosen in an .xlsx file", name)
	}
	var t *Table
	var err error
	if st, serr := os.Stat(name); serr == nil && st.Size() > MaxFileBytes {
		return nil, fmt.Errorf("%s: %w: %d MiB, more than the limit of %d MiB; import it in parts",
			name, ErrTooLarge, st.Size()>>20, MaxFileBytes>>20)
	}
	switch ext {
	case ".jsonl", ".ndjson", ".csv":
		f, oerr := os.Open(name)
		if oerr != nil {
			return nil, oerr
		}
		defer f.Close()
		// The file may grow after the size was checked.
		in := io.LimitReader(f, MaxFileBytes+1)
		if ext == ".csv" {
			t, err = readCSV(in)
		} else {
			t, err = readJSONL(in)
		}
	case ".xlsx":
		t, err = readXLSX(name, opt.Sheet)
	default:
		return nil, fmt.Errorf("%s: unknown format %q (known: %s)", name, ext, strings.Join(Formats, ", "))
	}
	var lines *Error
	if errors.As(err, &lines) {
		lines.File = name
		return nil, lines
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return t, nil
}

// reading is what a reader collects: the rows, the first MaxErrors bad
// lines and a count of the rest, and how many rows it has seen.
type reading struct {
	t    *Table
	bad  []LineError
	more int
	rows int
}

// row adds a data row, or the reason it cannot be read. It fails once the
// file holds more than MaxRows rows, bad ones included: reading on would
// only cost memory and time.
func (r *reading) row(line int, cells map[string]string, err error) error {
	switch {
	case err != nil:
		r.fail(line, err)
	case len(cells) > 0:
		r.t.Rows = append(r.t.Rows, Row{Line: line, Cells: cells})
	default:
		return nil
	}
	r.rows++
	if r.rows > MaxRows {
		return fmt.Errorf("%w: more than %d rows (line %d); import it in parts", ErrTooLarge, MaxRows, line)
	}
	return nil
}

func (r *reading) fail(line int, err error) {
	if len(r.bad) < MaxErrors {
		r.bad = append(r.bad, LineError{Line: line, Err: err})
	} else {
		r.more++
	}
}

// done turns the line errors collected while reading into the result.
func (r *reading) done() (*Table, error) {
	if len(r.bad) > 0 {
		return nil, &Error{Lines: r.bad, More: r.more}
	}
	return r.t, nil
}

// tooLong reports a CSV or JSON lines file that grew past MaxFileBytes
// while it was read (the limited reader ends it there).
func tooLong(n int64) error {
	if n > MaxFileBytes {
		return fmt.Errorf("%w: more than %d MiB; import it in parts", ErrTooLarge, MaxFileBytes>>20)
	}
	return nil
}

var bom = []byte("\uFEFF")

// skipBOM drops a UTF-8 byte order mark, which Excel and Notepad write at
// the start of a "UTF-8" file.
func skipBOM(r *bufio.Reader) {
	if b, err := r.Peek(len(bom)); err == nil && bytes.Equal(b, bom) {
		r.Discard(len(bom))
	}
}

// readJSONL reads one JSON object per line; blank lines are skipped.
func readJSONL(in io.Reader) (*Table, error) {
	r := bufio.NewReader(in)
	skipBOM(r)
	rd := &reading{t: &Table{}}
	var read int64
	for line := 1; ; line++ {
		text, err := r.ReadBytes('\n')
		if err != nil && err != io.EOF {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if read += int64(len(text)); tooLong(read) != nil {
			return nil, tooLong(read)
		}
		if len(bytes.TrimSpace(text)) > 0 {
			cells, cerr := jsonCells(text)
			if err := rd.row(line, cells, cerr); err != nil {
				return nil, err
			}
		}
		if err == io.EOF {
			return rd.done()
		}
	}
}

// jsonCells turns one line's object into cells, values as the text a
// person would type for them.
func jsonCells(line []byte) (map[string]string, error) {
	dec := json.NewDecoder(bytes.NewReader(line))
	// Numbers stay text: a float64 would turn a 17-digit card number or
	// ISBN into something else.
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("not valid JSON: something follows the object")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("want a JSON object, got %s", jsonKind(v))
	}
	cells := make(map[string]string, len(obj))
	for k, v := range obj {
		var s string
		switch v := v.(type) {
		case nil:
			s = "null"
		case string:
			s = v
		case bool:
			s = strconv.FormatBool(v)
		case json.Number:
			s = numberText(v)
		default:
			return nil, fmt.Errorf("%q: a cell holds text, a number, true, false or null, not %s", k, jsonKind(v))
		}
		if s != "" {
			cells[k] = s
		}
	}
	return cells, nil
}

// numberText writes a whole number without a fraction (30.0 and 3e1 are
// 30) so integer fields take it; other numbers stay as written.
func numberText(n json.Number) string {
	if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
		return string(n)
	}
	f, err := strconv.ParseFloat(string(n), 64)
	// Beyond 2^53 a float64 no longer holds every whole number exactly.
	if err == nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
		return strconv.FormatInt(int64(f), 10)
	}
	return string(n)
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "an object"
	case []any:
		return "an array"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return "null"
}

// header checks a header row and returns its names. name says where a
// column is (its number in a CSV file, its letter in a sheet).
func header(cells []string, name func(i int) string) ([]string, error) {
	// Spreadsheets often end every row with empty cells; a nameless
	// column at the end only matters if a row fills it.
	n := len(cells)
	for n > 0 && strings.TrimSpace(cells[n-1]) == "" {
		n--
	}
	if n == 0 {
		return nil, errors.New("the header row is empty")
	}
	h := make([]string, n)
	seen := map[string]int{}
	for i := range h {
		c := strings.TrimSpace(cells[i])
		if !utf8.ValidString(c) {
			return nil, fmt.Errorf("header: column %s is not UTF-8 text; save the file as UTF-8", name(i))
		}
		if c == "" {
			return nil, fmt.Errorf("header: column %s has no name", name(i))
		}
		if j, ok := seen[c]; ok {
			return nil, fmt.Errorf("header: column %q appears twice (columns %s and %s)", c, name(j), name(i))
		}
		seen[c] = i
		h[i] = c
	}
	return h, nil
}

// rowCells pairs a record's cells with the header. Cells are trimmed:
// spreadsheets carry stray spaces nobody sees, and no field wants them.
func rowCells(h []string, rec []string, name func(i int) string) (map[string]string, error) {
	cells := make(map[string]string, len(h))
	for i, c := range rec {
		c = strings.TrimSpace(c)
		if c == "" {
			continue
		}
		if i >= len(h) {
			return nil, fmt.Errorf("column %s has a value but no name in the header", name(i))
		}
		if !utf8.ValidString(c) {
			return nil, fmt.Errorf("%s: not UTF-8 text; save the file as UTF-8", h[i])
		}
		cells[h[i]] = c
	}
	return cells, nil
}

// readCSV reads a CSV file whose first record is the header. Rows whose
// cells are all empty are skipped.
func readCSV(in io.Reader) (*Table, error) {
	br := bufio.NewReader(in)
	skipBOM(br)
	r := csv.NewReader(br)
	r.FieldsPerRecord = -1 // rowCells says which cell is out of place
	r.ReuseRecord = true
	col := func(i int) string { return strconv.Itoa(i + 1) }
	t := &Table{}
	rd := &reading{t: t}
	for {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err := tooLong(r.InputOffset()); err != nil {
			return nil, err
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			// The reader carries on after the bad record.
			if t.Header == nil {
				return nil, err
			}
			if err := rd.row(pe.StartLine, nil, pe.Err); err != nil {
				return nil, err
			}
			continue
		}
		if err != nil {
			return nil, err
		}
		line, _ := r.FieldPos(0)
		if t.Header == nil {
			if t.Header, err = header(rec, col); err != nil {
				return nil, err
			}
			continue
		}
		cells, err := rowCells(t.Header, rec, col)
		if err := rd.row(line, cells, err); err != nil {
			return nil, err
		}
	}
	if t.Header == nil {
		return nil, errors.New("no header row")
	}
	return rd.done()
}

// readXLSX reads a sheet (the first if sheet is empty) row by row; its
// first non-empty row is the header.
func readXLSX(name, sheet string) (*Table, error) {
	// Excel's built-in short date format reads as mm-dd-yy otherwise,
	// which no date field takes and which is ambiguous.
	opt := excelize.Options{ShortDatePattern: "yyyy-mm-dd",
		UnzipSizeLimit: MaxUnzipBytes, UnzipXMLSizeLimit: maxUnzipInMemory}
	f, err := excelize.OpenFile(name, opt)
	if err != nil && strings.Contains(err.Error(), "unzip size exceeds") {
		// excelize has no error value to test for; its message says
		// "unzip size exceeds the N bytes limit".
		return nil, fmt.Errorf("%w: it inflates to more than %d MiB; import it in parts (%v)",
			ErrTooLarge, MaxUnzipBytes>>20, err)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sheets := f.GetSheetList()
	if sheet == "" && len(sheets) > 0 {
		sheet = sheets[0]
	}
	if idx, _ := f.GetSheetIndex(sheet); idx < 0 {
		return nil, fmt.Errorf("no sheet %q (sheets: %s)", sheet, strings.Join(sheets, ", "))
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	col := func(i int) string {
		s, _ := excelize.ColumnNumberToName(i + 1)
		return s
	}
	t := &Table{}
	rd := &reading{t: t}
	// Rows yields every row number, empty rows included, so counting
	// gives the row number the sheet shows.
	for n := 1; rows.Next(); n++ {
		rec, err := rows.Columns(opt)
		if err != nil {
			return nil, fmt.Errorf("sheet %s row %d: %w", sheet, n, err)
		}
		if t.Header == nil {
			if strings.TrimSpace(strings.Join(rec, "")) == "" {
				continue
			}
			if t.Header, err = header(rec, col); err != nil {
				return nil, fmt.Errorf("sheet %s: %w", sheet, err)
			}
			continue
		}
		cells, err := rowCells(t.Header, rec, col)
		if err := rd.row(n, cells, err); err != nil {
			return nil, fmt.Errorf("sheet %s: %w", sheet, err)
		}
	}
	if err := rows.Error(); err != nil {
		return nil, fmt.Errorf("sheet %s: %w", sheet, err)
	}
	if t.Header == nil {
		return nil, fmt.Errorf("sheet %s: no header row", sheet)
	}
	return rd.done()
}
