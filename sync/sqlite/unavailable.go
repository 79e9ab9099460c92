package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"reflect"

	"github.com/mattn/go-sqlite3"
)

// ErrUnavailable is in the chain of every error of a database opened with
// Open that says the storage itself fails: a full disk (or max_page_count
// reached), a read-only file or mount, an I/O error. Nothing the caller
// asked for is wrong and nothing was changed; the same request may succeed
// once the disk is fixed. Check it with errors.Is; the SQLite error stays
// in the chain too.
var ErrUnavailable = errors.New("storage unavailable")

// unavailable marks a storage failure without changing its message.
type unavailable struct{ err error }

func (e *unavailable) Error() string        { return e.err.Error() }
func (e *unavailable) Unwrap() error        { return e.err }
func (e *unavailable) Is(target error) bool { return target == ErrUnavailable }

// mark adds ErrUnavailable to a storage failure's chain. It is applied
// where errors leave the driver, so every query of every caller gets it
// (the store has many exported methods, and the report package reads the
// database itself).
func mark(err error) error {
	if err == nil || !(IsFull(err) || IsReadOnly(err) || IsIOError(err)) || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailable{err}
}

// driverName is the SQLite driver with storage failures marked.
const driverName = "villagesync-sqlite3"

func init() { sql.Register(driverName, markingDriver{&sqlite3.SQLiteDriver{}}) }

type markingDriver struct{ d driver.Driver }

func (d markingDriver) Open(dsn string) (driver.Conn, error) {
	c, err := d.d.Open(dsn)
	if err != nil {
		return nil, mark(err)
	}
	return &conn{c.(*sqlite3.SQLiteConn)}, nil
}

// conn, stmt, rows and tx forward to the driver's own, marking errors.
type conn struct{ c *sqlite3.SQLiteConn }

func (c *conn) Prepare(query string) (driver.Stmt, error) {
	s, err := c.c.Prepare(query)
	if err != nil {
		return nil, mark(err)
	}
	return &stmt{s.(stmtContext)}, nil
}

func (c *conn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	s, err := c.c.PrepareContext(ctx, query)
	if err != nil {
		return nil, mark(err)
	}
	return &stmt{s.(stmtContext)}, nil
}

func (c *conn) Close() error { return mark(c.c.Close()) }

func (c *conn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c *conn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	t, err := c.c.BeginTx(ctx, opts)
	if err != nil {
		return nil, mark(err)
	}
	return tx{t}, nil
}

func (c *conn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.c.ExecContext(ctx, query, args)
	return r, mark(err)
}

func (c *conn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.c.QueryContext(ctx, query, args)
	if err != nil {
		return nil, mark(err)
	}
	return &rows{r}, nil
}

func (c *conn) Ping(ctx context.Context) error { return mark(c.c.Ping(ctx)) }

// stmtContext is what the driver's statements implement.
type stmtContext interface {
	driver.Stmt
	driver.StmtExecContext
	driver.StmtQueryContext
}

type stmt struct{ s stmtContext }

func (s *stmt) Close() error  { return mark(s.s.Close()) }
func (s *stmt) NumInput() int { return s.s.NumInput() }

// Exec and Query complete driver.Stmt; database/sql calls the Context forms.
func (s *stmt) Exec(args []driver.Value) (driver.Result, error) {
	r, err := s.s.Exec(args)
	return r, mark(err)
}

func (s *stmt) Query(args []driver.Value) (driver.Rows, error) {
	r, err := s.s.Query(args)
	if err != nil {
		return nil, mark(err)
	}
	return &rows{r}, nil
}

func (s *stmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.s.ExecContext(ctx, args)
	return r, mark(err)
}

func (s *stmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.s.QueryContext(ctx, args)
	if err != nil {
		return nil, mark(err)
	}
	return &rows{r}, nil
}

type rows struct{ r driver.Rows }

func (r *rows) Columns() []string              { return r.r.Columns() }
func (r *rows) Close() error                   { return mark(r.r.Close()) }
func (r *rows) Next(dest []driver.Value) error { return mark(r.r.Next(dest)) }

// The column types, for Rows.ColumnTypes.
func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.r.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.r.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.r.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

type tx struct{ t driver.Tx }

func (t tx) Commit() error   { return mark(t.t.Commit()) }
func (t tx) Rollback() error { return mark(t.t.Rollback()) }
