package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"strings"

	"github.com/futian-xiaomo/villagesync/api/reportfmt"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	syncreport "github.com/futian-xiaomo/villagesync/sync/report" // package main has its own report
)

// villageList collects --village, repeated or as a comma list.
type villageList []string

func (v *villageList) String() string { return strings.Join(*v, ",") }

func (v *villageList) Set(s string) error {
	for _, name := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '，' }) {
		if name = strings.TrimSpace(name); name != "" {
			*v = append(*v, name)
		}
	}
	return nil
}

func report(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	cred := credentialFlags(fs)
	from := fs.String("from", "", "first month, YYYY-MM (default: the first with data)")
	to := fs.String("to", "", "last month, YYYY-MM (default: the current month)")
	var villages villageList
	fs.Var(&villages, "village", "village: name, pinyin or alias; repeat it or give a comma list (default: all)")
	formatName := fs.String("format", "table", "table, csv, xlsx or json")
	langName := fs.String("lang", "zh", "headers in zh or en")
	outFile := fs.String("out", "", "write to FILE instead of standard output (must not exist, unless --force)")
	force := fs.Bool("force", false, "with --out, overwrite FILE if it exists")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return errors.New("report: unexpected arguments: " + strings.Join(fs.Args(), " "))
	}
	if *force && *outFile == "" {
		return errors.New("report: --force goes with --out FILE")
	}
	format, err := reportfmt.ParseFormat(*formatName)
	if err != nil {
		return err
	}
	lang, err := reportfmt.ParseLang(*langName)
	if err != nil {
		return err
	}
	if format == reportfmt.FormatXLSX && *outFile == "" && isTerminal(out) {
		return errors.New("report: xlsx is a binary file: give --out FILE or redirect the output")
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	rep, err := staff.Report(ctx, hc, url, syncreport.Request{FromMonth: *from, ToMonth: *to, Villages: villages})
	if err != nil {
		return err
	}
	if *outFile == "" {
		return reportfmt.Render(out, rep, format, lang)
	}
	// Like backup --out, a report never silently replaces a file: a
	// mistyped name could be the server's database.
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*outFile, flags, 0o644)
	if errors.Is(err, iofs.ErrExist) {
		return fmt.Errorf("report: %s exists; give --force to overwrite it, or another --out FILE", *outFile)
	}
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	if err := reportfmt.Render(f, rep, format, lang); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// isTerminal reports whether w is a terminal, where binary output is
// refused.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	if err != nil || st.Mode()&os.ModeCharDevice == 0 {
		return false
	}
	null, err := os.Stat(os.DevNull) // a character device too, but no terminal
	return err != nil || !os.SameFile(st, null)
}
