package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
)

// The volunteer commands only read flags into the replica's forms, which
// hold the defaults and rules; flags left out are empty fields.

// logSession is `log-session --village V --date D --children N ...`.
func logSession(ctx context.Context, d deviceCtx, args []string) error {
	var s replica.Session
	fs := flag.NewFlagSet("log-session", flag.ContinueOnError)
	fs.StringVar(&s.Village, "village", "", "村 (南香村, Nanxiang, ...)")
	fs.StringVar(&s.Date, "date", "", "date, YYYY-MM-DD (default today)")
	fs.StringVar(&s.Start, "start", "", "start time (default 19:00)")
	fs.StringVar(&s.Class, "class", "", "class or group")
	fs.StringVar(&s.Volunteers, "volunteers", "", "volunteers, comma-separated")
	fs.StringVar(&s.Subjects, "subject", "", "subject(s), comma-separated")
	fs.StringVar(&s.Children, "children", "", "children present")
	fs.StringVar(&s.Notes, "notes", "", "notes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return printID(d.out)(d.r.LogSession(ctx, s))
}

// reportCleanup is `report-cleanup --village V --kind K --place P ...`.
func reportCleanup(ctx context.Context, d deviceCtx, args []string) error {
	var c replica.Cleanup
	fs := flag.NewFlagSet("report-cleanup", flag.ContinueOnError)
	fs.StringVar(&c.Village, "village", "", "村")
	fs.StringVar(&c.Kind, "kind", "", "construction_waste, road_levelling, street_sweeping or other")
	fs.StringVar(&c.Place, "place", "", "where")
	fs.StringVar(&c.Status, "status", "", "reported (default), in_progress, done or checked")
	fs.StringVar(&c.Quantity, "quantity", "", "amount of work")
	fs.StringVar(&c.Unit, "unit", "", "truckloads, metres, ...")
	fs.StringVar(&c.Crew, "crew", "", "people on the crew")
	fs.StringVar(&c.Routine, "routine", "", "the upkeep routine it belongs to")
	fs.StringVar(&c.Notes, "notes", "", "notes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return printID(d.out)(d.r.ReportCleanup(ctx, c))
}

// lend is `lend --book BOOK_ID --card CARD [--on DATE] [--due DATE]`.
func lend(ctx context.Context, d deviceCtx, args []string) error {
	var l replica.Loan
	fs := flag.NewFlagSet("lend", flag.ContinueOnError)
	fs.StringVar(&l.Book, "book", "", "id of the book copy")
	fs.StringVar(&l.Card, "card", "", "borrower card code")
	fs.StringVar(&l.On, "on", "", "date lent (default today)")
	fs.StringVar(&l.Due, "due", "", fmt.Sprintf("date due (default %d days after --on)", replica.LoanDays))
	fs.StringVar(&l.Notes, "notes", "", "notes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	return printID(d.out)(d.r.Lend(ctx, l))
}

// returnLoan is `return LOAN_ID [--on DATE]`.
func returnLoan(ctx context.Context, d deviceCtx, args []string) error {
	fs := flag.NewFlagSet("return", flag.ContinueOnError)
	on := fs.String("on", "", "date returned (default today)")
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		args = append(args[1:], args[0]) // return LOAN_ID --on DATE
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("return: give the loan id")
	}
	return printID(d.out)(d.r.Return(ctx, fs.Arg(0), *on))
}
