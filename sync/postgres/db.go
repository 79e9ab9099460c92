package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// IsURL says whether dsn names a PostgreSQL database (postgres:// or
// postgresql://) rather than a SQLite file.
func IsURL(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Redact returns dsn without its password, for logs and error messages.
func Redact(dsn string) string {
	cfg, err := pgconn.ParseConfig(dsn)
	if err != nil {
		return "postgres://(unparsable URL)"
	}
	return fmt.Sprintf("postgres://%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// Open opens a pool of at most conns connections to the database at dsn
// and checks that it answers.
func Open(ctx context.Context, dsn string, conns int) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message may quote the URL, password and all.
		return nil, errors.New("open PostgreSQL: the URL does not parse; see https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING")
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	// Times are the store's own milliseconds and text compares by bytes
	// (COLLATE "C" on every column), so nothing depends on the session's
	// zone or locale; the application name shows in pg_stat_activity.
	//
	// Every write of every server takes one lock (the store's feed lock):
	// a server that stops mid-transaction (paused, cut off) must not stop
	// the others for long. Its session is ended after a minute idle in a
	// transaction, and a writer waits at most lock_timeout for the lock,
	// then fails as unavailable: the device retries.
	for k, v := range map[string]string{"application_name": "villagesync",
		"idle_in_transaction_session_timeout": "60s", "lock_timeout": "30s"} {
		if _, ok := cfg.RuntimeParams[k]; !ok {
			cfg.RuntimeParams[k] = v
		}
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(max(conns, 2))
	db.SetMaxIdleConns(max(conns, 2))
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open PostgreSQL %s: %w", Redact(dsn), err)
	}
	return db, nil
}

// Unavailable says whether err is the database failing rather than the
// statement: it cannot be reached, it is shutting down, it is out of disk,
// memory or connections, or the server reports an internal error; or it
// refused this transaction (a deadlock, a serialization failure, a lock
// waited for past lock_timeout, a standby after a failover). The same
// request may succeed later, and nothing of it was committed.
func Unavailable(err error) bool {
	// The caller's own deadline or cancel is not the database failing
	// (a deadline is a net.Error too).
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "40001", "40P01", // serialization failure, deadlock: the transaction may run again
			"55P03", // lock_not_available: lock_timeout passed
			"25006": // read_only_sql_transaction: a standby after a failover
			return true
		}
		switch pe.Code[:2] {
		case "08", // connection exception
			"53", // insufficient resources: disk full, out of memory, too many connections
			"57", // operator intervention: admin shutdown, crash shutdown, cannot connect now
			"58", // system error: I/O error
			"XX": // internal error
			return pe.Code != "57014" // query_canceled is the caller's own context
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || pgconn.SafeToRetry(err) || errors.Is(err, sql.ErrConnDone)
}
