package tabular

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/xuri/excelize/v2"
)

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// workbook writes an .xlsx file; cells maps a cell name (A1) to its value.
func workbook(t *testing.T, sheets map[string]map[string]any) string {
	t.Helper()
	f := excelize.NewFile()
	first := true
	for _, name := range []string{"登记", "Other"} {
		cells, ok := sheets[name]
		if !ok {
			continue
		}
		if first {
			if err := f.SetSheetName("Sheet1", name); err != nil {
				t.Fatal(err)
			}
			first = false
		} else if _, err := f.NewSheet(name); err != nil {
			t.Fatal(err)
		}
		for cell, v := range cells {
			if err := f.SetCellValue(name, cell, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	p := filepath.Join(t.TempDir(), "books.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	return p
}

type row = map[string]string

func TestReadFile(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		opt                 Options
		header              []string
		lines               []int
		rows                []row
	}{
		{
			name: "jsonl values as text", file: "s.jsonl",
			content: `{"village":"南香村","children_present":30,"ratio":1.5,"whole":30.0,"exp":3e1,` +
				`"big":12345678901234567890,"ok":true,"notes":null,"empty":""}` + "\n",
			lines: []int{1},
			rows: []row{{"village": "南香村", "children_present": "30", "ratio": "1.5", "whole": "30", "exp": "30",
				"big": "12345678901234567890", "ok": "true", "notes": "null"}},
		},
		{
			name: "jsonl blank lines, CRLF, BOM and no final newline", file: "s.ndjson",
			content: "\uFEFF{\"村\":\"东旺村\"}\r\n\r\n   \n{\"出席儿童数\":\"12\"}",
			lines:   []int{1, 4},
			rows:    []row{{"村": "东旺村"}, {"出席儿童数": "12"}},
		},
		{
			name: "csv with BOM and Chinese header", file: "s.csv",
			content: "\uFEFF村, 日期 ,出席儿童数\n南香村,2024-06-03,30\n东旺村,2024-06-04,\n",
			header:  []string{"村", "日期", "出席儿童数"},
			lines:   []int{2, 3},
			rows:    []row{{"村": "南香村", "日期": "2024-06-03", "出席儿童数": "30"}, {"村": "东旺村", "日期": "2024-06-04"}},
		},
		{
			name: "csv line is the physical line of a record", file: "s.csv",
			content: "title,notes\n\n\"小王子\",\"two\nlines\"\n,\n  ,  \nx,\"y\"\n",
			header:  []string{"title", "notes"},
			lines:   []int{3, 7},
			rows:    []row{{"title": "小王子", "notes": "two\nlines"}, {"title": "x", "notes": "y"}},
		},
		{
			name: "csv trailing nameless columns", file: "S.CSV",
			content: "title,,\na,,\nb\n",
			header:  []string{"title"},
			lines:   []int{2, 3},
			rows:    []row{{"title": "a"}, {"title": "b"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadFile(write(t, tc.file, tc.content), tc.opt)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.Header, tc.header) {
				t.Errorf("header %q, want %q", got.Header, tc.header)
			}
			var lines []int
			var rows []row
			for _, r := range got.Rows {
				lines, rows = append(lines, r.Line), append(rows, r.Cells)
			}
			if !reflect.DeepEqual(lines, tc.lines) || !reflect.DeepEqual(rows, tc.rows) {
				t.Errorf("got lines %v rows %q\nwant lines %v rows %q", lines, rows, tc.lines, tc.rows)
			}
		})
	}
}

func TestReadXLSX(t *testing.T) {
	p := workbook(t, map[string]map[string]any{
		"登记": {
			"A2": "书名", "B2": "ISBN", "C2": "副本号", "D2": "村",
			"A3": "小王子", "B3": 9787020002207, "C3": 2, "D3": " 南香村 ",
			"A6": "活着", "C6": 1.0,
		},
		"Other": {"A1": "title", "A2": "x"},
	})
	got, err := ReadFile(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	want := &Table{Header: []string{"书名", "ISBN", "副本号", "村"}, Rows: []Row{
		{Line: 3, Cells: row{"书名": "小王子", "ISBN": "9787020002207", "副本号": "2", "村": "南香村"}},
		{Line: 6, Cells: row{"书名": "活着", "副本号": "1"}},
	}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("first sheet:\n got %+v\nwant %+v", got, want)
	}
	got, err = ReadFile(p, Options{Sheet: "Other"})
	if err != nil || len(got.Rows) != 1 || got.Rows[0].Line != 2 || got.Rows[0].Cells["title"] != "x" {
		t.Errorf("sheet Other: %+v, %v", got, err)
	}
	if _, err := ReadFile(p, Options{Sheet: "Nope"}); err == nil ||
		!strings.Contains(err.Error(), `no sheet "Nope" (sheets: 登记, Other)`) {
		t.Errorf("unknown sheet: %v", err)
	}
}

func TestReadXLSXDates(t *testing.T) {
	f := excelize.NewFile()
	style, err := f.NewStyle(&excelize.Style{NumFmt: 14}) // Excel's default date format
	if err != nil {
		t.Fatal(err)
	}
	f.SetCellValue("Sheet1", "A1", "session_date")
	f.SetCellValue("Sheet1", "A2", 45446) // 2024-06-03
	f.SetCellStyle("Sheet1", "A2", "A2", style)
	p := filepath.Join(t.TempDir(), "d.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p, Options{})
	if err != nil || len(got.Rows) != 1 || got.Rows[0].Cells["session_date"] != "2024-06-03" {
		t.Errorf("date cell: %+v, %v", got, err)
	}
}

// Lines that cannot be read are all listed, by line, and no rows come back.
func TestReadFileLineErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		want                []string
	}{
		{
			name: "jsonl", file: "x.jsonl",
			content: "{\"a\":1}\n{\"a\":\n\n{\"a\":{\"b\":1}}\n{\"a\":[1]}\n[1]\n{\"a\":1} {\"a\":2}\n{\"a\":2}\n",
			want: []string{
				"line 2: not valid JSON",
				`line 4: "a": a cell holds text, a number, true, false or null, not an object`,
				`line 5: "a": a cell holds text, a number, true, false or null, not an array`,
				"line 6: want a JSON object, got an array",
				"line 7: not valid JSON: something follows the object",
			},
		},
		{
			name: "csv", file: "x.csv",
			content: "a,b\n1,2\n1,2,3\n4,\"5\"x\n\xff,1\n6,7\n",
			want: []string{
				"line 3: column 3 has a value but no name in the header",
				"line 4: extraneous or missing \" in quoted-field",
				"line 5: a: not UTF-8 text",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.file, tc.content)
			got, err := ReadFile(p, Options{})
			var le *Error
			if !errors.As(err, &le) {
				t.Fatalf("got %+v, %v; want an *Error", got, err)
			}
			if got != nil || le.File != p || len(le.Lines) != len(tc.want) {
				t.Fatalf("got %+v, %v", got, err)
			}
			for i, w := range tc.want {
				if s := le.Lines[i].Error(); !strings.HasPrefix(s, w) {
					t.Errorf("error %d: %q, want it to start with %q", i, s, w)
				}
			}
			if !strings.HasPrefix(err.Error(), p+": ") {
				t.Errorf("the error does not name the file: %v", err)
			}
		})
	}
}

// A file that cannot be read at all is one error naming the file and,
// for a header, the column.
func TestReadFileErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file, content string
		opt                 Options
		want                string
	}{
		{"unknown format", "x.txt", "a", Options{}, `unknown format ".txt" (known: .jsonl, .ndjson, .csv, .xlsx)`},
		{"duplicate header", "x.csv", "title,村,title\n", Options{}, `header: column "title" appears twice (columns 1 and 3)`},
		{"duplicate header after trimming", "x.csv", "title, title\n", Options{},
			`header: column "title" appears twice (columns 1 and 2)`},
		{"empty header cell", "x.csv", "title,,notes\nx,y,z\n", Options{}, "header: column 2 has no name"},
		{"empty file", "x.csv", "\uFEFF", Options{}, "no header row"},
		{"header not UTF-8", "x.csv", "\xb4\xe5\n", Options{}, "header: column 1 is not UTF-8 text"},
		{"sheet of a csv", "x.csv", "a\n", Options{Sheet: "S"}, "a sheet is only chosen in an .xlsx file"},
		{"not a workbook", "x.xlsx", "a,b\n", Options{}, "zip"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, tc.file, tc.content)
			_, err := ReadFile(p, tc.opt)
			if err == nil || !strings.HasPrefix(err.Error(), p+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %s: ...%s...", err, p, tc.want)
			}
		})
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "missing.csv"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	p := workbook(t, map[string]map[string]any{"登记": {"A1": "title", "C1": "title"}})
	if _, err := ReadFile(p, Options{}); err == nil ||
		!strings.Contains(err.Error(), `sheet 登记: header: column B has no name`) {
		t.Errorf("sheet header: %v", err)
	}
}

// checkTable holds for whatever a reader returns: rows in file order, on
// real lines, with only non-empty cells under known columns.
func checkTable(t *testing.T, in []byte, tab *Table, err error) {
	var le *Error
	if errors.As(err, &le) {
		last := 0
		for _, l := range le.Lines {
			if l.Line <= last {
				t.Fatalf("line errors out of order: %v", le)
			}
			last = l.Line
		}
		return
	}
	if err != nil {
		return
	}
	lines := bytes.Count(in, []byte("\n")) + 1
	last := 0
	for _, r := range tab.Rows {
		if r.Line <= last || r.Line > lines {
			t.Fatalf("row on line %d after line %d (%d lines)", r.Line, last, lines)
		}
		last = r.Line
		if len(r.Cells) == 0 {
			t.Fatalf("line %d: a row without cells", r.Line)
		}
		for k, v := range r.Cells {
			if v == "" {
				t.Fatalf("line %d: empty cell %q kept", r.Line, k)
			}
			if tab.Header != nil && !utf8.ValidString(v) {
				t.Fatalf("line %d: %q is not UTF-8", r.Line, v)
			}
			if tab.Header != nil && !contains(tab.Header, k) {
				t.Fatalf("line %d: cell %q not in header %q", r.Line, k, tab.Header)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func FuzzReadCSV(f *testing.F) {
	f.Add([]byte("\uFEFF村,日期,出席儿童数\n南香村,2024-06-03,30\n\n东旺村,\"2024-06-04\",\n"))
	f.Add([]byte("title,notes\n\"a\nb\",\"c\"\"d\"\n,,\nx,y,z\n"))
	f.Add([]byte("a,,a\n1,2\n"))
	f.Add([]byte("a,b\n\"unterminated\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tab, err := readCSV(bytes.NewReader(in))
		checkTable(t, in, tab, err)
	})
}

func FuzzReadJSONL(f *testing.F) {
	f.Add([]byte("{\"village\":\"南香村\",\"children_present\":30,\"ok\":true,\"notes\":null}\n\n{\"a\":1.50e2}\r\n"))
	f.Add([]byte("{\"a\":{\"b\":1}}\n[1]\n{\"a\":\n"))
	f.Add([]byte("\uFEFF{\"a\":\"\"}\n{} {}\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		tab, err := readJSONL(bytes.NewReader(in))
		checkTable(t, in, tab, err)
	})
}
