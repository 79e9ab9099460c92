package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/futian-xiaomo/villagesync/sync/postgres"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// backup is `backup --db FILE --out FILE`.
func backup(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("backup", flag.ContinueOnError)
	dbFile := fs.String("db", env("VILLAGESYNC_DB", "./villagesync.db"), "server database file (SQLite; for PostgreSQL see docs/postgres.md)")
	outFile := fs.String("out", "", "the backup file to write (must not exist)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if postgres.IsURL(*dbFile) {
		return errors.New("backup copies a SQLite file; for PostgreSQL use pg_dump or point-in-time recovery " +
			"(docs/postgres.md), then `villagesync admin --db URL mark-restored` after a restore")
	}
	if *outFile == "" {
		return errors.New("backup: --out FILE is required")
	}
	if err := store.Backup(ctx, *dbFile, *outFile); err != nil {
		return err
	}
	fmt.Fprintf(out, "backed up %s to %s; to restore, stop the server and copy it over %s (remove %s-wal and %s-shm)\n",
		*dbFile, *outFile, *dbFile, *dbFile, *dbFile)
	return nil
}
