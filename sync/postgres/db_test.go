package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

func TestRedactHidesThePassword(t *testing.T) {
	for _, dsn := range []string{
		"postgres://vs:s3cret-pw@db.example:5433/villagesync?sslmode=verify-full",
		"postgresql://vs:s3cret-pw@db.example/villagesync",
	} {
		got := Redact(dsn)
		if strings.Contains(got, "s3cret-pw") || !strings.Contains(got, "db.example") || !strings.Contains(got, "villagesync") {
			t.Errorf("Redact(%q) = %q", dsn, got)
		}
	}
	if got := Redact("postgres://vs:pw@[bad"); strings.Contains(got, "pw") {
		t.Errorf("an unparsable URL is echoed: %q", got)
	}
}

func TestOpenErrorHidesThePassword(t *testing.T) {
	// Nothing listens on port 1: the error names the server, not the password.
	_, err := Open(context.Background(), "postgres://vs:s3cret-pw@127.0.0.1:1/x?connect_timeout=2", 2)
	if err == nil || strings.Contains(err.Error(), "s3cret-pw") {
		t.Fatalf("open error %v", err)
	}
	if !Unavailable(err) {
		t.Errorf("a server that cannot be reached is not Unavailable: %v", err)
	}
}

func TestUnavailable(t *testing.T) {
	for _, c := range []struct {
		code string
		want bool
	}{
		{"53100", true},  // disk full
		{"53300", true},  // too many connections
		{"57P01", true},  // admin shutdown
		{"08006", true},  // connection failure
		{"58030", true},  // I/O error
		{"57014", false}, // query canceled: the caller's context
		{"23505", false}, // unique violation: the statement's fault
		{"42601", false}, // syntax error
		{"40001", true},  // serialization failure: the device retries
		{"40P01", true},  // deadlock
		{"55P03", true},  // lock_timeout
		{"25006", true},  // read-only: a standby after failover
	} {
		err := fmt.Errorf("push: %w", &pgconn.PgError{Code: c.code})
		if got := Unavailable(err); got != c.want {
			t.Errorf("Unavailable(%s) = %v, want %v", c.code, got, c.want)
		}
	}
	if Unavailable(nil) || Unavailable(errors.New("plain")) || Unavailable(fmt.Errorf("x: %w", context.DeadlineExceeded)) {
		t.Error("a plain error is Unavailable")
	}
}
