package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/tabular"
	"github.com/futian-xiaomo/villagesync/schema"
)

// importBarAbove is how many rows an import needs before it draws a
// progress bar; smaller ones finish before a bar would be read.
const importBarAbove = 2000

// importFile is `device import [--table T] [--sheet S] FILE`.
func importFile(ctx context.Context, r *replica.Replica, dbFile string, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("device import", flag.ContinueOnError)
	table := fs.String("table", "", "the table to import into (default: the file's name, as in books.csv)")
	sheet := fs.String("sheet", "", "the sheet of an .xlsx file (default: the first)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// Flags may come after FILE too, as with put.
	file := fs.Arg(0)
	if fs.NArg() > 0 {
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if file == "" || fs.NArg() > 0 {
		return fmt.Errorf("device import: give one FILE (%s)", strings.Join(tabular.Formats, ", "))
	}
	if *table == "" {
		*table = strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		if _, err := schema.Lookup(*table); err != nil {
			return fmt.Errorf("device import: say which table with --table (tables: %s)", strings.Join(schema.TableNames(), ", "))
		}
	}
	t, err := schema.Lookup(*table)
	if err != nil {
		return fmt.Errorf("device import: %w", err)
	}

	data, err := tabular.ReadFile(file, tabular.Options{Sheet: *sheet})
	var unread *tabular.Error
	if errors.As(err, &unread) {
		bad := make([]replica.RowError, len(unread.Lines))
		for i, l := range unread.Lines {
			bad[i] = replica.RowError{Line: l.Line, Err: l.Err}
		}
		return rowErrors(file, t.Name, bad)
	}
	if err != nil {
		return fmt.Errorf("device import: %w", err)
	}
	if err := checkColumns(t, data.Header, true); err != nil {
		return fmt.Errorf("device import: %s: %w", file, err)
	}
	if len(data.Rows) == 0 {
		return fmt.Errorf("device import: %s has no rows to import", file)
	}
	rows := make([]replica.Row, len(data.Rows))
	var bad []replica.RowError
	for i, row := range data.Rows {
		rows[i] = replica.Row{Line: row.Line, Cells: row.Cells}
		// JSON lines name fields row by row; Import reports an unknown
		// one with its line, but not a field named twice.
		if data.Header == nil {
			if err := checkColumns(t, slices.Sorted(maps.Keys(row.Cells)), false); err != nil {
				bad = append(bad, replica.RowError{Line: row.Line, Err: err})
			}
		}
	}
	if len(bad) > 0 {
		return rowErrors(file, t.Name, bad)
	}

	var progress func(int)
	if len(rows) > importBarAbove {
		bar := newBar(len(rows), "importing into "+t.Name)
		defer bar.Finish()
		progress = func(done int) { bar.Set(done) }
	}
	_, err = r.Import(ctx, t.Name, rows, progress)
	var ie *replica.ImportError
	if errors.As(err, &ie) {
		return rowErrors(file, ie.Table, ie.Rows)
	}
	if err != nil {
		return fmt.Errorf("device import: %w", err)
	}
	fmt.Fprintf(out, "imported %d row(s) from %s into %s; they sync on the next `villagesync device --db %s sync`\n", len(rows), file, t.Name, dbFile)
	return nil
}

// rowErrors lists every bad row: the whole list, unlike
// ImportError.Error, so one pass fixes the file.
func rowErrors(file, table string, bad []replica.RowError) error {
	var b strings.Builder
	fmt.Fprintf(&b, "device import: %s: %d row(s) have errors, nothing was imported into %s", file, len(bad), table)
	for _, e := range bad {
		fmt.Fprintf(&b, "\n  %v", e)
	}
	return errors.New(b.String())
}

// checkColumns checks that no field is named twice (with both village
// and 村, one of the two would silently win) and, if all, that every
// column names a field of t, by its name or its Chinese name.
func checkColumns(t *schema.Table, names []string, all bool) error {
	byName := map[string]string{"id": "id"}
	for _, c := range t.Columns {
		byName[c.Name], byName[c.ZH] = c.Name, c.Name
	}
	seen := map[string]string{}
	for _, n := range names {
		field, ok := byName[n]
		if !ok && all {
			return fmt.Errorf("column %q is not a field of %s (fields: id, %s; or their Chinese names)", n, t.Name, strings.Join(t.ColumnNames(), ", "))
		}
		if !ok {
			continue
		}
		if other, dup := seen[field]; dup {
			return fmt.Errorf("%q and %q are both %s.%s", other, n, t.Name, field)
		}
		seen[field] = n
	}
	return nil
}

// newBar draws on stderr, and only on a terminal: piped output and logs
// get no control characters. max -1 makes a spinner, whose description
// says the counts.
func newBar(max int, desc string) *progressbar.ProgressBar {
	opts := []progressbar.Option{
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionSetVisibility(term.IsTerminal(int(os.Stderr.Fd()))),
		progressbar.OptionSetDescription(desc),
		progressbar.OptionThrottle(100 * time.Millisecond),
		progressbar.OptionClearOnFinish(),
	}
	if max > 0 {
		opts = append(opts, progressbar.OptionShowCount())
	}
	return progressbar.NewOptions(max, opts...)
}

// syncProgress shows a spinner with the records pushed and pulled once a
// sync takes more than one round; most take one, and a spinner that
// flashes for them would only be noise.
type syncProgress struct{ bar *progressbar.ProgressBar }

func (p *syncProgress) update(st replica.Stats) {
	if p.bar == nil {
		if st.RoundTrips < 2 {
			return
		}
		p.bar = newBar(-1, "syncing")
	}
	p.bar.Describe(fmt.Sprintf("syncing: pushed %d, pulled %d", st.Pushed, st.Pulled))
	p.bar.Set(st.Pushed + st.Pulled)
}

// done clears the spinner before the sync's summary is printed.
func (p *syncProgress) done() {
	if p.bar != nil {
		p.bar.Finish()
	}
}
