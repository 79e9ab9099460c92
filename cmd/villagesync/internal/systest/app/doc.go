// Package app tests the volunteer app's storage in a real headless
// Chromium: SQLite's wasm on the origin-private file system, one owning
// tab per browser profile (a Web Lock), and that what the page reports as
// saved survives a reload and the owning tab's end. Only a browser has
// OPFS, Web Locks and a worker to test them with. It is a test-only
// package:
//
//	go test ./cmd/villagesync/internal/systest/app
//	go test ./cmd/villagesync/internal/systest/app -run '^$' -bench SaveRow -benchtime 500x
package app
