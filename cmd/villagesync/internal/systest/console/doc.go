// Package console tests the web console as its users meet it: in a real
// headless Chromium against a real server holding the demo season, since
// only a browser shows what a page draws, downloads, stores and fetches. It
// is a test-only package:
//
//	go test ./cmd/villagesync/internal/systest/console
//	go test ./cmd/villagesync/internal/systest/console -run Screenshots -args -screenshots ../../../../../docs/screenshots
//	go test ./cmd/villagesync/internal/systest/console -run '^$' -bench OverviewYear -benchtime 5x
package console
