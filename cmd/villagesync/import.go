package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/tabular"
	"github.com/futian-xiaomo/villagesync/schema"
)

// importBarAbove is how many rows an import needs before it draws a
// progress bar; smaller ones finish before a bar would be read.
const importBarAbove = 2000

// importFile is `device import [--table T] [--sheet S] FILE`.
func importFile(ctx context.Context, d deviceCtx, args []string) error {
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
			return fmt.Errorf("device import: say which table with --table (tables: %s)",
				strings.Join(schema.TableNames(), ", "))
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
		return rowErrors(file, t.Name, bad, unread.More)
	}
	if err != nil {
		return fmt.Errorf("device import: %w", err)
	}
	if err := replica.CheckHeader(t, data.Header); err != nil {
		return fmt.Errorf("device import: %s: %w", file, err)
	}
	if len(data.Rows) == 0 {
		return fmt.Errorf("device import: %s has no rows to import", file)
	}
	rows := make([]replica.Row, len(data.Rows))
	for i, row := range data.Rows {
		rows[i] = replica.Row{Line: row.Line, Cells: row.Cells}
	}
	if data.Header == nil {
		// JSON lines name fields row by row.
		if bad := replica.CheckRowColumns(t, rows); len(bad) > 0 {
			return rowErrors(file, t.Name, bad, 0)
		}
	}

	var progress func(int)
	if len(rows) > importBarAbove {
		bar := newBar(len(rows), "importing into "+t.Name)
		defer bar.Finish()
		progress = func(done int) { bar.Set(done) }
	}
	_, err = d.r.Import(ctx, t.Name, rows, progress)
	var ie *replica.ImportError
	if errors.As(err, &ie) {
		return rowErrors(file, ie.Table, ie.Rows, ie.More)
	}
	if err != nil {
		return fmt.Errorf("device import: %w", err)
	}
	fmt.Fprintf(d.out, "imported %d row(s) from %s into %s; they sync on the next `villagesync device --db %s sync`\n",
		len(rows), file, t.Name, d.file)
	return nil
}

// rowErrors lists the bad rows, the first replica.MaxRowErrors of them,
// and counts the rest (more, and those beyond the first ones of bad): a
// file wrong on every row printed 120 MB before.
func rowErrors(file, table string, bad []replica.RowError, more int) error {
	if len(bad) > replica.MaxRowErrors {
		bad, more = bad[:replica.MaxRowErrors], more+len(bad)-replica.MaxRowErrors
	}
	var b strings.Builder
	fmt.Fprintf(&b, "device import: %s: %d row(s) have errors, nothing was imported into %s", file, len(bad)+more, table)
	for _, e := range bad {
		fmt.Fprintf(&b, "\n  %v", e)
	}
	if more > 0 {
		fmt.Fprintf(&b, "\n  ... and %d more", more)
	}
	return errors.New(b.String())
}
