// Package endtoend runs device replicas against a real server on
// 127.0.0.1:0 and checks what the two ends promise together: offline edits
// converge and every loser is logged, retries and cut links lose nothing,
// scopes, restores, collection, rate limits and program rules hold. It is
// a test-only package: go test ./cmd/villagesync/internal/systest/endtoend
package endtoend
