// Package compat runs a fleet of mixed versions: the villagesync command
// built from this tree and the one built from the previous release (a git
// commit, taken from the repository's history) serve and sync each other,
// in both directions, and must converge with the conflict logged. It is a
// test-only package:
//
//	go test ./cmd/villagesync/internal/systest/compat
//	go test ./cmd/villagesync/internal/systest/compat -compat.previous=<commit>
package compat
