package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/schema"
)

// conflicts is `conflicts [--table TABLE] [--open]` and `conflicts resolve`.
func conflicts(ctx context.Context, args []string, out io.Writer) error {
	if len(args) > 0 && args[0] == "resolve" {
		return resolve(ctx, args[1:], out)
	}
	fs := flag.NewFlagSet("conflicts", flag.ContinueOnError)
	cred := credentialFlags(fs)
	table := fs.String("table", "", "only this table")
	open := fs.Bool("open", false, "only entries not resolved yet")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	enc := jsonEncoder(out)
	return staff.Conflicts(ctx, hc, url, staff.Filter{Table: *table, OpenOnly: *open},
		func(c staff.Conflict) error { return enc.Encode(c) })
}

// resolve is `conflicts resolve ID RESOLUTION`.
func resolve(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("conflicts resolve", flag.ContinueOnError)
	cred := credentialFlags(fs)
	by := fs.String("by", env("VILLAGESYNC_STAFF", ""), "on behalf of whom (the token's user is recorded)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("conflicts resolve: give ID RESOLUTION (keep, take_loser, distinct, merge or noted)")
	}
	id, err := strconv.ParseUint(fs.Arg(0), 10, 64)
	if err != nil {
		return fmt.Errorf("conflicts resolve: %q is not a conflict id", fs.Arg(0))
	}
	c, err := staff.Resolve(ctx, hc, url, id, fs.Arg(1), *by)
	if err != nil {
		return err
	}
	return jsonEncoder(out).Encode(c)
}

// audit is `audit TABLE ID`: who changed a record and when.
func audit(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	cred := credentialFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New("audit: give TABLE ID")
	}
	url, hc, err := cred.client(ctx)
	if err != nil {
		return err
	}
	changes, err := staff.Audit(ctx, hc, url, fs.Arg(0), fs.Arg(1))
	if err != nil {
		return err
	}
	for _, c := range changes {
		// Device and user names, and a detail quoting what a device sent,
		// come from outside: escaped, they cannot drive the terminal.
		fmt.Fprintf(out, "%s  %-12s %-20s %-16s %s\n", c.At.Format(time.RFC3339), schema.Printable(c.Outcome, false),
			schema.Printable(c.Device, false), schema.Printable(c.User, false),
			schema.Printable(strings.TrimSpace(c.Detail), false))
	}
	return nil
}
