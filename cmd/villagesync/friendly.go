package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/schema"
)

// friendlyCommand maps a volunteer's command (log-session ...) to fields
// of one table; fields left out take the column's default.
type friendlyCommand struct {
	table string
	// flag name -> field name, and the flag's help.
	flags [][3]string
}

var friendlyCommands = map[string]friendlyCommand{
	"log-session": {"tutoring_sessions", [][3]string{
		{"village", "village", "村 (南香村, Nanxiang, ...)"}, {"date", "session_date", "date, YYYY-MM-DD (default today)"},
		{"start", "start_time", "start time (default 19:00)"}, {"class", "class_group", "class or group"},
		{"volunteers", "volunteers", "volunteers, comma-separated"}, {"subject", "subjects", "subject(s), comma-separated"},
		{"children", "children_present", "children present"}, {"notes", "notes", "notes"},
	}},
	"report-cleanup": {"cleanup_tasks", [][3]string{
		{"village", "village", "村"}, {"kind", "kind", "construction_waste, road_levelling, street_sweeping or other"},
		{"place", "place", "where"}, {"status", "status", "reported (default), in_progress, done or checked"},
		{"quantity", "quantity", "amount of work"}, {"unit", "unit", "truckloads, metres, ..."},
		{"crew", "crew_size", "people on the crew"}, {"routine", "routine", "the upkeep routine it belongs to"},
		{"notes", "notes", "notes"},
	}},
	"lend": {"loans", [][3]string{
		{"book", "book_id", "id of the book copy"}, {"card", "borrower_card", "borrower card code"},
		{"on", "lent_on", "date lent (default today)"}, {"due", "due_on", "date due (default in 14 days)"},
		{"notes", "notes", "notes"},
	}},
}

// friendly runs a volunteer command against an open device replica and
// prints the record's id.
func friendly(ctx context.Context, r *replica.Replica, cmd string, args []string, out io.Writer) error {
	if cmd == "return" {
		fs := flag.NewFlagSet("return", flag.ContinueOnError)
		on := fs.String("on", time.Now().Format(time.DateOnly), "date returned")
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			args = append(args[1:], args[0]) // return LOAN_ID --on DATE
		}
		if err := fs.Parse(args); err != nil {
			return err
		}
		if fs.NArg() != 1 {
			return errors.New("return: give the loan id")
		}
		id, err := r.Put(ctx, "loans", fs.Arg(0), map[string]schema.Value{"returned_on": schema.TextValue(*on)})
		if err != nil {
			return err
		}
		fmt.Fprintln(out, id)
		return nil
	}
	fc := friendlyCommands[cmd]
	t, err := schema.Lookup(fc.table)
	if err != nil {
		return err
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	given := map[string]*string{}
	for _, f := range fc.flags {
		given[f[1]] = fs.String(f[0], "", f[2])
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	today := time.Now()
	defaults := map[string]string{"session_date": today.Format(time.DateOnly), "lent_on": today.Format(time.DateOnly),
		"due_on": today.AddDate(0, 0, 14).Format(time.DateOnly), "reported_at": today.Format(time.RFC3339)}
	if p, ok := given["status"]; ok && (*p == "done" || *p == "checked") {
		defaults["finished_at"] = defaults["reported_at"] // finished now, unless told otherwise
	}
	vals := map[string]schema.Value{}
	for _, c := range t.Columns {
		raw := ""
		if p, ok := given[c.Name]; ok {
			raw = *p
		}
		if raw == "" {
			raw = defaults[c.Name]
		}
		switch {
		case raw != "":
			v, err := c.Parse(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", cmd, err)
			}
			vals[c.Name] = v
		case !c.Default.IsNull():
			vals[c.Name] = c.Default
		}
	}
	if fc.table == "loans" {
		// A loan belongs to the village of the book lent.
		book, err := r.Get(ctx, "books", vals["book_id"].Text)
		if err != nil || book == nil {
			return fmt.Errorf("lend: no book %q on this device (sync, or check the id)", vals["book_id"].Text)
		}
		vals["village"] = book.Fields["village"].Value
	}
	id, err := r.Put(ctx, fc.table, "", vals)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, id)
	return nil
}
