// Package volunteer holds the browser tests of what a volunteer sees in
// the app (clients/web/src/app): its screens, routes and DOM contract
// (body[data-page], data-sync, data-pending, forms by data-form and
// their [data-error-for] messages, records, refused changes).
//
// Most tests drive the screens with a stand-in worker (fakeworker_test.go)
// served under the real worker's name, so that what the screens send and
// show can be checked in states a real server is slow to reach (old
// pending writes, refusals, no signal); real_test.go runs the real worker
// and replica against a real server. The phone-width screenshots in
// docs/screenshots/app-*.png come from (app-home-synced.png is the real
// one, the others the stand-in's):
//
//	go test ./cmd/villagesync/internal/systest/volunteer -run Screenshots -args -screenshots ../../../../../docs/screenshots
package volunteer
