package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	stdhash "hash"
	"io"
	"math"
	"os"
	"strconv"
	"unicode/utf8"

	"github.com/futian-xiaomo/villagesync/sync/postgres"
)

// TableCheck is what verifying one table of a copy found.
type TableCheck struct {
	Table string
	// SourceRows and TargetRows are the rows of each side.
	SourceRows, TargetRows int64
	// Source and Target are SHA-256 sums over each side's rows, in primary
	// key order, each value in a canonical form (see rowHasher).
	Source, Target [sha256.Size]byte
}

// OK says both sides hold the same rows.
func (c TableCheck) OK() bool { return c.SourceRows == c.TargetRows && c.Source == c.Target }

// ErrCopyDiffers is returned when a copy's verification finds a table
// whose rows differ from the source's.
var ErrCopyDiffers = errors.New("the copy differs from the source")

// MigrateToPostgres copies the server database in the SQLite file from
// into the PostgreSQL database at the URL to, then verifies the copy
// (every table's rows counted and summed on both sides). Everything the
// devices know the server by is copied — its id, incarnation, box keys,
// the devices' token hashes, the enrollment codes — so enrolled devices
// carry on against a server on the new database without enrolling again.
//
// The server must be stopped: the source's write lock is held for the
// whole copy, so a server still running cannot write meanwhile (its
// writes wait, then fail), but what it wrote afterwards would be missing
// from the copy. The target must be a new database, or one only a
// server's first start has touched. The copy is one PostgreSQL
// transaction, verified before it commits: on any error the target is
// left as it was. progress (if not nil) gets a line a table.
func MigrateToPostgres(ctx context.Context, from, to string, progress io.Writer) ([]TableCheck, error) {
	if progress == nil {
		progress = io.Discard
	}
	if postgres.IsURL(from) || !postgres.IsURL(to) {
		return nil, errors.New("migrate: copies a SQLite file (--from) into PostgreSQL (--to postgres://...)")
	}
	if _, err := os.Stat(from); err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	// Opening each side as a server would brings both to this program's
	// schema (an older file is upgraded, the target's tables are made), so
	// both hold the same tables and columns.
	for _, dsn := range []string{from, to} {
		st, err := Open(ctx, dsn, Options{})
		if err != nil {
			return nil, fmt.Errorf("migrate: %w", err)
		}
		if err := st.Close(); err != nil {
			return nil, fmt.Errorf("migrate: close %s: %w", postgres.Redact(dsn), err)
		}
	}
	// The last connection to close removes the WAL file (checkpointed into
	// the database): if it is still there after ours closed, another
	// process has the database open, most likely a server.
	if _, err := os.Stat(from + "-wal"); err == nil {
		return nil, fmt.Errorf("migrate: %s seems to be in use (its -wal file stays after closing it): stop the server first "+
			"(if none runs, a server stopped uncleanly: start it and stop it once)", from)
	}
	src, dst, tables, err := openBothSides(ctx, from, to, "migrate")
	if err != nil {
		return nil, err
	}
	defer src.close()
	defer dst.Close()
	tx, err := dst.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	if err := refuseUsed(ctx, tx, postgres.Redact(to)); err != nil {
		return nil, err
	}
	if err := emptyTables(ctx, tx, tables); err != nil {
		return nil, err
	}
	for _, t := range tables {
		n, err := copyTable(ctx, src.tx, tx, t)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(progress, "copied %-20s %8d rows\n", t.name, n)
	}
	if err := setIdentities(ctx, src.tx, tx, tables); err != nil {
		return nil, err
	}
	checks, err := verify(ctx, src.tx, tx, tables)
	if err != nil {
		return checks, err
	}
	if err := tx.Commit(); err != nil {
		return checks, fmt.Errorf("migrate: commit: %w", err)
	}
	return checks, nil
}

// VerifyCopy compares the SQLite server database from with the copy in
// PostgreSQL at to, table by table, as MigrateToPostgres does before it
// commits; a table that differs makes the error ErrCopyDiffers.
func VerifyCopy(ctx context.Context, from, to string) ([]TableCheck, error) {
	if _, err := os.Stat(from); err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	src, dst, tables, err := openBothSides(ctx, from, to, "verify")
	if err != nil {
		return nil, err
	}
	defer src.close()
	defer dst.Close()
	tx, err := dst.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("verify: %w", err)
	}
	defer tx.Rollback()
	return verify(ctx, src.tx, tx, tables)
}

// openBothSides opens the SQLite file from (read, under its write lock)
// and the PostgreSQL database to, and lists the tables to compare; the
// caller closes both. what names the command in errors.
func openBothSides(ctx context.Context, from, to, what string) (*source, *sql.DB, []pgTable, error) {
	src, err := openSource(ctx, from)
	if err != nil {
		return nil, nil, nil, err
	}
	dst, err := postgres.Open(ctx, to, 2)
	if err != nil {
		src.close()
		return nil, nil, nil, fmt.Errorf("%s: %w", what, err)
	}
	tables, err := copyTables(ctx, src.tx, dst)
	if err != nil {
		dst.Close()
		src.close()
		return nil, nil, nil, err
	}
	return src, dst, tables, nil
}

// verify sums every table on both sides.
func verify(ctx context.Context, src, dst rawQuerier, tables []pgTable) ([]TableCheck, error) {
	var checks []TableCheck
	var bad []string
	for _, t := range tables {
		c := TableCheck{Table: t.name}
		var err error
		if c.SourceRows, c.Source, err = sumTable(ctx, src, t); err != nil {
			return checks, fmt.Errorf("verify: source: %w", err)
		}
		if c.TargetRows, c.Target, err = sumTable(ctx, dst, t); err != nil {
			return checks, fmt.Errorf("verify: target: %w", err)
		}
		checks = append(checks, c)
		if !c.OK() {
			bad = append(bad, fmt.Sprintf("%s (%d rows, copy %d)", t.name, c.SourceRows, c.TargetRows))
		}
	}
	if len(bad) > 0 {
		return checks, fmt.Errorf("%w: %v", ErrCopyDiffers, bad)
	}
	return checks, nil
}

// sumTable counts and sums t's rows in primary key order. Both engines
// order text byte by byte (PostgreSQL's columns are COLLATE "C"), blobs
// and integers alike, so the same rows come in the same order.
func sumTable(ctx context.Context, q rawQuerier, t pgTable) (int64, [sha256.Size]byte, error) {
	var sum [sha256.Size]byte
	rows, err := q.QueryContext(ctx, t.selectAll())
	if err != nil {
		return 0, sum, fmt.Errorf("read %s: %w", t.name, err)
	}
	defer rows.Close()
	h := rowHasher{h: sha256.New()}
	vals, ptrs := scanSlots(len(t.cols))
	var n int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, sum, fmt.Errorf("read %s: %w", t.name, err)
		}
		for i, c := range t.cols {
			v, err := convert(vals[i], c.typ)
			if err != nil {
				return 0, sum, fmt.Errorf("%s.%s: %w", t.name, c.name, err)
			}
			h.value(v)
		}
		h.h.Write([]byte{'\n'})
		n++
	}
	if err := rows.Err(); err != nil {
		return 0, sum, fmt.Errorf("read %s: %w", t.name, err)
	}
	copy(sum[:], h.h.Sum(nil))
	return n, sum, nil
}

// rowHasher writes values to a hash so that no two different rows write
// the same bytes: each value's kind, then its length or fixed-size form.
type rowHasher struct {
	h   stdhash.Hash
	buf [9]byte
}

func (r *rowHasher) value(v any) {
	switch x := v.(type) {
	case nil:
		r.h.Write([]byte{'N'})
	case int64:
		r.buf[0] = 'i'
		binary.BigEndian.PutUint64(r.buf[1:], uint64(x))
		r.h.Write(r.buf[:])
	case float64:
		r.buf[0] = 'f'
		binary.BigEndian.PutUint64(r.buf[1:], math.Float64bits(x))
		r.h.Write(r.buf[:])
	case string:
		r.bytes('s', []byte(x))
	case []byte:
		r.bytes('b', x)
	}
}

func (r *rowHasher) bytes(kind byte, b []byte) {
	r.buf[0] = kind
	binary.BigEndian.PutUint64(r.buf[1:], uint64(len(b)))
	r.h.Write(r.buf[:])
	r.h.Write(b)
}

// convert is a value read from either engine as the target column of
// type typ (information_schema's data_type) holds it: SQLite keeps values
// untyped, so a conflict's logged number is text on PostgreSQL (its exact
// decimal form, as sqlDialect.loggedValue writes it). A value that the
// column cannot hold is an error, not a silent change.
func convert(v any, typ string) (any, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case bool: // not in our tables; as SQLite would store it
		v = boolInt(x)
	case int32:
		v = int64(x)
	}
	switch typ {
	case "bigint", "integer", "smallint":
		switch x := v.(type) {
		case int64:
			return x, nil
		case float64:
			if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
				return int64(x), nil
			}
		}
	case "double precision", "real":
		switch x := v.(type) {
		case float64:
			return x, nil
		case int64:
			return float64(x), nil
		}
	case "text":
		switch x := v.(type) {
		case string:
			return x, textOK(x)
		case []byte:
			return string(x), textOK(string(x))
		case int64:
			return strconv.FormatInt(x, 10), nil
		case float64:
			return strconv.FormatFloat(x, 'g', -1, 64), nil
		}
	case "bytea":
		switch x := v.(type) {
		case []byte:
			// Never nil: nil would be NULL, and the columns are NOT NULL.
			return append(make([]byte, 0, len(x)), x...), nil
		case string:
			return []byte(x), nil
		}
	}
	return nil, fmt.Errorf("a %T value (%.40v) does not fit a %s column", v, v, typ)
}

// textOK refuses text PostgreSQL cannot hold.
func textOK(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("text %q is not UTF-8", s)
	}
	if bytes.IndexByte([]byte(s), 0) >= 0 {
		return fmt.Errorf("text %q holds a NUL character", s)
	}
	return nil
}

// ShortSum is a checksum's first 12 hex digits, for a report.
func ShortSum(sum [sha256.Size]byte) string { return hex.EncodeToString(sum[:6]) }
