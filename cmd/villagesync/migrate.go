package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/futian-xiaomo/villagesync/sync/postgres"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// migrateCmd is `migrate --from FILE --to postgres://...`: a stopped
// server's SQLite database copied into PostgreSQL and verified. Both
// flags are explicit, with no environment fallback: VILLAGESYNC_DB names
// one database, and a copy needs two chosen on purpose.
func migrateCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	from := fs.String("from", "", "the stopped server's SQLite database file")
	to := fs.String("to", "", "the new PostgreSQL database's URL (postgres://...), empty")
	verifyOnly := fs.Bool("verify", false, "only compare --from with a copy made before, table by table")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *to == "" || fs.NArg() != 0 {
		return errors.New("migrate: give --from FILE --to postgres://USER@HOST/DB (stop the server first)")
	}
	start := time.Now()
	var checks []store.TableCheck
	var err error
	if *verifyOnly {
		checks, err = store.VerifyCopy(ctx, *from, *to)
	} else {
		fmt.Fprintf(out, "copying %s to %s (the server must be stopped)\n", *from, postgres.Redact(*to))
		checks, err = store.MigrateToPostgres(ctx, *from, *to, out)
	}
	if len(checks) > 0 {
		fmt.Fprintf(out, "%-20s %8s %8s  %-12s  %s\n", "table", "rows", "copy", "checksum", "ok")
		for _, c := range checks {
			ok := "ok"
			if !c.OK() {
				ok = "DIFFERS (copy " + store.ShortSum(c.Target) + ")"
			}
			fmt.Fprintf(out, "%-20s %8d %8d  %s  %s\n", c.Table, c.SourceRows, c.TargetRows, store.ShortSum(c.Source), ok)
		}
	}
	if err != nil {
		if errors.Is(err, store.ErrCopyDiffers) && *verifyOnly {
			return fmt.Errorf("%w: do not use %s; empty it and migrate again", err, postgres.Redact(*to))
		}
		if errors.Is(err, store.ErrCopyDiffers) {
			return fmt.Errorf("%w: nothing was committed; %s is as it was", err, postgres.Redact(*to))
		}
		return err
	}
	if *verifyOnly {
		fmt.Fprintf(out, "the copy matches (%s)\n", time.Since(start).Round(time.Millisecond))
		return nil
	}
	fmt.Fprintf(out, "copied and verified in %s; start the servers with --db %s (devices carry on without enrolling again)\n",
		time.Since(start).Round(time.Millisecond), postgres.Redact(*to))
	return nil
}

// redactDSN is a server database's name as commands print it: a file as
// it is, a PostgreSQL URL without its password.
func redactDSN(dsn string) string {
	if postgres.IsURL(dsn) {
		return postgres.Redact(dsn)
	}
	return dsn
}
