// Package require lets a system test that needs a tool the machine lacks
// skip, saying how to install it, except where CI sets
// VILLAGESYNC_REQUIRE_ALL: there a missing tool is a failure, not a silent
// skip.
package require

import (
	"os"
	"testing"
)

// SkipOrFail skips t with the message, or fails it under
// VILLAGESYNC_REQUIRE_ALL.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	if os.Getenv("VILLAGESYNC_REQUIRE_ALL") != "" {
		t.Fatalf(format+" (VILLAGESYNC_REQUIRE_ALL is set, so this does not skip)", args...)
	}
	t.Skipf(format, args...)
}
