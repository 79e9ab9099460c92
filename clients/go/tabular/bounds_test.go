package tabular

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// workbookWith writes an .xlsx whose first sheet's XML is head, body
// repeated to about size bytes, and tail. The other parts are a real
// workbook's.
func workbookWith(t *testing.T, head, body, tail string, size int64) string {
	t.Helper()
	f := excelize.NewFile()
	p := filepath.Join(t.TempDir(), "skeleton.xlsx")
	if err := f.SaveAs(p); err != nil {
		t.Fatal(err)
	}
	f.Close()
	src, err := zip.OpenReader(p)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	out := filepath.Join(t.TempDir(), "books.xlsx")
	w, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	zw := zip.NewWriter(w)
	for _, part := range src.File {
		if part.Name == "xl/worksheets/sheet1.xml" {
			writeRepeated(t, zw, part.Name, head, body, tail, size)
			continue
		}
		if err := zw.Copy(part); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out
}

// writeRepeated adds a part of head, body repeated to about size bytes,
// and tail, with its real CRC and sizes. The repeated megabyte is
// deflated once, by a compressor flushed rather than closed, and written
// again and again: independent non-final blocks concatenate into one
// valid stream, so a gigabyte costs a kilobyte and milliseconds.
func writeRepeated(t *testing.T, zw *zip.Writer, name, head, body, tail string, size int64) {
	t.Helper()
	chunk := strings.Repeat(body, max(1, (1<<20)/len(body)))
	n := max(1, (size-int64(len(head)))/int64(len(chunk)))
	deflate := func(s string, final bool) []byte {
		var b bytes.Buffer
		fw, _ := flate.NewWriter(&b, flate.BestCompression)
		io.WriteString(fw, s)
		if final {
			fw.Close()
		} else {
			fw.Flush()
		}
		return b.Bytes()
	}
	h, c, tl := deflate(head, false), deflate(chunk, false), deflate(tail, true)
	crc := crc32.Update(0, crc32.IEEETable, []byte(head))
	for range n {
		crc = crc32.Update(crc, crc32.IEEETable, []byte(chunk))
	}
	crc = crc32.Update(crc, crc32.IEEETable, []byte(tail))
	fh := &zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc,
		CompressedSize64:   uint64(len(h)+len(tl)) + uint64(n)*uint64(len(c)),
		UncompressedSize64: uint64(len(head)+len(tail)) + uint64(n)*uint64(len(chunk))}
	dst, err := zw.CreateRaw(fh)
	if err != nil {
		t.Fatal(err)
	}
	dst.Write(h)
	for range n {
		dst.Write(c)
	}
	dst.Write(tl)
}

const (
	sheetHead = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
		`<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>`
	sheetTail = `</sheetData></worksheet>`
	headerRow = `<row><c t="inlineStr"><is><t>village</t></is></c><c t="inlineStr"><is><t>title</t></is></c></row>`
	dataRow   = `<row><c t="inlineStr"><is><t>x</t></is></c><c><v>1</v></c></row>`
)

// measure runs read and returns how many bytes it allocated in all and
// how much more memory the process took from the system meanwhile (the
// runtime does not give memory back at once, so this follows the peak).
func measure(read func()) (alloc, sys uint64) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	read()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc, after.Sys - before.Sys
}

// A sheet of a million rows, small on disk, took 1.4 GiB: it is refused
// once it passes MaxRows, with the limit in the message.
func TestReadXLSXMillionRows(t *testing.T) {
	const rows = 1_000_000
	p := workbookWith(t, sheetHead+headerRow, dataRow, sheetTail, rows*int64(len(dataRow)))
	st, _ := os.Stat(p)
	var got *Table
	var err error
	start := time.Now()
	alloc, sys := measure(func() { got, err = ReadFile(p, Options{}) })
	t.Logf("%d rows in %d KiB: read in %v, %d MiB allocated, %d MiB more from the system", rows, st.Size()>>10,
		time.Since(start).Round(time.Millisecond), alloc>>20, sys>>20)
	if got != nil || !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "more than 100000 rows") {
		t.Fatalf("got a table: %v, %v; want ErrTooLarge at %d rows", got != nil, err, MaxRows)
	}
	if sys > 256<<20 {
		t.Errorf("took %d MiB from the system reading a file refused at %d rows", sys>>20, MaxRows)
	}
}

// A 1 MiB workbook inflating to 1 GiB wrote a 1 GiB temporary file and
// took 2 GiB: it is refused before anything is inflated.
func TestReadXLSXZipBomb(t *testing.T) {
	p := workbookWith(t, sheetHead+headerRow, " ", sheetTail, 1<<30)
	st, _ := os.Stat(p)
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where excelize inflates a large sheet
	start := time.Now()
	var err error
	alloc, sys := measure(func() { _, err = ReadFile(p, Options{}) })
	t.Logf("%d KiB inflating to 1 GiB: refused in %v, %d MiB allocated, %d MiB more from the system",
		st.Size()>>10, time.Since(start).Round(time.Millisecond), alloc>>20, sys>>20)
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), fmt.Sprintf("%d MiB", MaxUnzipBytes>>20)) {
		t.Fatalf("got %v, want ErrTooLarge naming the limit", err)
	}
	if alloc > 16<<20 {
		t.Errorf("allocated %d MiB refusing a zip bomb", alloc>>20)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left %d temporary file(s)", len(left))
	}
}

// A file whose every line is bad lists MaxErrors of them and counts the
// rest, rather than printing them all.
func TestReadFileErrorsCapped(t *testing.T) {
	var b strings.Builder
	for range 1000 {
		b.WriteString("[1]\n")
	}
	_, err := ReadFile(write(t, "s.jsonl", b.String()), Options{})
	var le *Error
	if !errors.As(err, &le) || len(le.Lines) != MaxErrors || le.More != 1000-MaxErrors {
		t.Fatalf("got %v; want %d lines and %d more", err, MaxErrors, 1000-MaxErrors)
	}
	msg := err.Error()
	if !strings.Contains(msg, ": 1000 line(s) cannot be read") || !strings.HasSuffix(msg, "... and 950 more") ||
		strings.Count(msg, "\n") != MaxErrors+1 {
		t.Errorf("message:\n%s", msg)
	}
}

// CSV and JSON lines files are bounded by their size and their rows.
func TestReadFileTooLarge(t *testing.T) {
	big := filepath.Join(t.TempDir(), "big.csv")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxFileBytes+1); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	if _, err := ReadFile(big, Options{}); !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "64 MiB") {
		t.Errorf("a file over the size limit: %v", err)
	}
	var b strings.Builder
	b.WriteString("village\n")
	for range MaxRows + 1 {
		b.WriteString("x\n")
	}
	if _, err := ReadFile(write(t, "s.csv", b.String()), Options{}); !errors.Is(err, ErrTooLarge) ||
		!strings.Contains(err.Error(), "line 100002") {
		t.Errorf("a file over the row limit: %v", err)
	}
}
