// Package app tests the volunteer app's storage in a real headless
// Chromium, driving its database worker through appharness: SQLite's
// wasm on the origin-private file system, that what the worker reports
// as saved survives a reload, a killed tab and a killed browser, that a
// start while the pool's handles are held keeps the files, the save
// latency budget, and that the service worker lets the app open with the
// server gone. Only a browser has OPFS, Web Locks, service workers and a
// worker to test them with. It is a test-only package:
//
//	go test ./cmd/villagesync/internal/systest/app
//	go test ./cmd/villagesync/internal/systest/app -run '^$' -bench SaveRow -benchtime 1000x
package app
