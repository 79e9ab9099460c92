// Package volunteer holds the browser tests of what a volunteer sees in
// the app (clients/web/src/app): its screens, routes and DOM contract
// (body[data-page], data-sync, data-pending, forms by data-form and
// their [data-error-for] messages, records, refused changes).
//
// Every test runs the real app: its real worker and replica on the
// phone's OPFS against a real server (realServer), so that what the
// screens show is what the worker of protocol.ts really answers. States a
// server is slow to reach are made in the real pieces: books catalogued
// by a staff Go device, a refusal by rewriting a stored value in the
// worker's database (as an older app's rules would let through), an old
// pending write by rewriting its dots' clocks, no signal by cutting the
// link (realSrv.drop). The phone-width screenshots in
// docs/screenshots/app-*.png come from TestScreenshots,
// TestRealEnrollLogAClassSynced (app-home-synced.png) and
// TestRealEditDeleteLendReturn (app-lend.png):
//
//	go test ./cmd/villagesync/internal/systest/volunteer -args -screenshots ../../../../../docs/screenshots
package volunteer
