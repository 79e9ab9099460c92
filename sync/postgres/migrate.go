package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"slices"
	"strings"
)

// migrateLock is the advisory lock key the migrations run under: servers
// started at once against one database wait for the first to migrate it.
const migrateLock = 0x76696c6c6d6967 // "villmig"

// Migrate brings the database to the program's schema in one transaction,
// all or nothing: the files in dir of fsys (NNNN_*.sql, in name order) the
// database has not had yet, then more (if not nil). Progress is the
// version in the villagesync_schema table. A database that holds other
// tables and not that one is refused before anything is written: it is
// someone else's.
//
// On a database already migrated, lock (if not empty) runs first: the
// statement that every writer takes before touching tables. A migration
// takes table locks too (even CREATE INDEX IF NOT EXISTS takes one), in
// its own order; without lock, a server starting while others push could
// deadlock with them.
func Migrate(ctx context.Context, db *sql.DB, fsys fs.FS, dir, lock string, more func(ctx context.Context, tx *sql.Tx) error) error {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(migrateLock)); err != nil {
		return fmt.Errorf("migrate: lock: %w", err)
	}
	var ours, others bool
	if err := tx.QueryRowContext(ctx, `SELECT
		EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'villagesync_schema'),
		EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'villagesync_schema')`).
		Scan(&ours, &others); err != nil {
		return fmt.Errorf("migrate: read tables: %w", err)
	}
	if !ours && others {
		return fmt.Errorf("the database holds tables that are not villagesync's: give the server a database of its own (CREATE DATABASE villagesync OWNER ...)")
	}
	have := 0
	if !ours {
		if _, err := tx.ExecContext(ctx, `CREATE TABLE villagesync_schema (version INTEGER NOT NULL)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO villagesync_schema (version) VALUES (0)`); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	} else {
		if lock != "" {
			if _, err := tx.ExecContext(ctx, lock); err != nil {
				return fmt.Errorf("migrate: %w", err)
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT version FROM villagesync_schema`).Scan(&have); err != nil {
			return fmt.Errorf("migrate: read schema version: %w", err)
		}
	}
	if have > len(names) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d): upgrade villagesync",
			have, len(names))
	}
	for _, name := range names[have:] {
		b, err := fs.ReadFile(fsys, dir+"/"+name)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if _, err := tx.ExecContext(ctx, string(b)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	if more != nil {
		if err := more(ctx, tx); err != nil {
			return err
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE villagesync_schema SET version = $1`, len(names)); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: commit: %w", err)
	}
	return nil
}
