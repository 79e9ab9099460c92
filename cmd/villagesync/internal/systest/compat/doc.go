// Package compat runs a fleet of mixed versions: the villagesync command
// built from this tree and the one built from the previous release (a git
// commit, taken from the repository's history) serve and sync each other,
// in both directions, and must converge with the conflict logged. It holds
// both halves of the version rule (sync/DESIGN.md, Versions) to the real
// binaries: a previous-release device keeps syncing and editing a record
// with a column it does not know, and a new device holds back its change
// to a new column while the server is of the previous release, says so,
// and pushes it once the server is upgraded in place. It is a test-only
// package:
//
//	go test ./cmd/villagesync/internal/systest/compat
//	go test ./cmd/villagesync/internal/systest/compat -compat.previous=<commit>
package compat
