package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/mattn/go-sqlite3"
)

// DB is a SQLite database with one writer connection and a reader pool.
type DB struct {
	W *sql.DB // exactly one connection: every write goes here
	R *sql.DB // read-only connections
	// Tightened is the mode the file had when Open took group and other
	// access away from it (0 when it did not), for the caller to log.
	Tightened os.FileMode
}

func dsn(file string, params ...string) string {
	u := url.URL{Scheme: "file", Opaque: url.PathEscape(file)}
	u.RawQuery = strings.Join(params, "&")
	return u.String()
}

// Open opens (creating if needed) the database at file, a file of kind.
// A file of another kind is refused before anything is written to it (see
// CheckKind); the file is made its owner's only (see ownerOnly).
func Open(ctx context.Context, file string, readers int, kind Kind) (*DB, error) {
	var tightened os.FileMode
	if kind.ID != 0 {
		if err := CheckKind(ctx, file, kind); err != nil {
			return nil, err
		}
		var err error
		if tightened, err = ownerOnly(file); err != nil {
			return nil, err
		}
	}
	// The statement cache spares re-preparing the same few statements for
	// every record of a push or a pulled page (a fifth of a push's time).
	common := []string{"_busy_timeout=10000", "_foreign_keys=1", "_stmt_cache_size=64"}
	writer := append(common, "_journal_mode=WAL", "_synchronous=FULL", "_txlock=immediate")
	if kind.SecureDelete {
		writer = append(writer, "_secure_delete=1")
	}
	w, err := sql.Open(driverName, dsn(file, writer...))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", file, err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := w.PingContext(ctx); err != nil {
		w.Close()
		return nil, OpenError(file, err)
	}
	var mode string
	if err := w.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		w.Close()
		if err != nil {
			return nil, OpenError(file, err)
		}
		return nil, fmt.Errorf("open %s: cannot use WAL mode (journal_mode=%q)", file, mode)
	}
	r, err := sql.Open(driverName, dsn(file, append(common, "_query_only=1")...))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", file, err)
	}
	r.SetMaxOpenConns(max(readers, 1))
	return &DB{W: w, R: r, Tightened: tightened}, nil
}

// Close closes both pools.
func (d *DB) Close() error {
	errR := d.R.Close()
	if err := d.W.Close(); err != nil {
		return err
	}
	return errR
}

// Migrate brings the database to this program's schema in one
// transaction, all or nothing: the migrations in dir of fsys (files named
// NNNN_*.sql, in name order) the database has not had yet, then more (if
// not nil: the tables package schema declares, seeds), then kind's
// application_id. Progress is recorded in PRAGMA user_version.
func Migrate(ctx context.Context, w *sql.DB, fsys fs.FS, dir string, kind Kind,
	more func(ctx context.Context, tx *sql.Tx) error) error {
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
	tx, err := w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var have int
	var id uint32
	if err := tx.QueryRowContext(ctx, "SELECT user_version, application_id "+
		"FROM pragma_user_version, pragma_application_id").Scan(&have, &id); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if have > len(names) {
		return fmt.Errorf("database schema version %d is newer than this program knows (%d): upgrade villagesync",
			have, len(names))
	}
	for _, name := range names[have:] {
		body, err := fs.ReadFile(fsys, path.Join(dir, name))
		if err != nil {
			return fmt.Errorf("read migration %s: %w", name, err)
		}
		if _, err := tx.ExecContext(ctx, string(body)); err != nil {
			return fmt.Errorf("migration %s: %w", name, err)
		}
	}
	if more != nil {
		if err := more(ctx, tx); err != nil {
			return err
		}
	}
	if have < len(names) {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(names))); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
	}
	stamp := kind.ID != 0 && id != kind.ID
	if stamp {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", int32(kind.ID))); err != nil {
			return fmt.Errorf("migrate: mark the file as a %s: %w", kind.Name, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if stamp {
		// CheckKind reads the id from the file's header, not through the
		// log: put it there now. Should this fail, the next Open still
		// recognises the file by its tables.
		w.ExecContext(ctx, "PRAGMA wal_checkpoint(TRUNCATE)")
	}
	return nil
}

// IsFull reports whether err is SQLite refusing a write for lack of space
// (a full disk, or max_page_count reached).
func IsFull(err error) bool { return sqliteCode(err) == sqlite3.ErrFull }

// IsReadOnly reports whether err is SQLite refusing to write a read-only
// database (permissions, a read-only mount).
func IsReadOnly(err error) bool { return sqliteCode(err) == sqlite3.ErrReadonly }

// IsIOError reports whether err is the operating system failing a read or
// write: a file made read-only under a running server (EPERM, EROFS), a
// failing disk.
func IsIOError(err error) bool { return sqliteCode(err) == sqlite3.ErrIoErr }

// IsCorrupt reports whether err says the file is not a usable database.
func IsCorrupt(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3.ErrCorrupt || c == sqlite3.ErrNotADB
}

func sqliteCode(err error) sqlite3.ErrNo {
	var e sqlite3.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return 0
}

// OpenError says in plain words what to do about a file SQLite refuses.
func OpenError(file string, err error) error {
	switch {
	case IsCorrupt(err):
		return fmt.Errorf("open %s: the file is corrupt or not a villagesync database (%w); "+
			"keep it for inspection and start from a new file", file, err)
	case IsReadOnly(err):
		return fmt.Errorf("open %s: the file or its folder is read-only (%w); villagesync needs to write it", file, err)
	}
	return fmt.Errorf("open %s: %w", file, err)
}
