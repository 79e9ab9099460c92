// Package volunteer holds the browser tests of what a volunteer sees in
// the app (clients/web/src/app): its screens, routes and DOM contract
// (body[data-page], data-sync, data-pending, forms by data-form and
// their [data-error-for] messages, records, refused changes).
//
// Until the worker answers the device ops, the screens are driven by a
// stand-in worker (fakeworker_test.go) served under the real worker's
// name; tests against the real worker and a real server join it. The
// phone-width screenshots in docs/screenshots/app-*.png come from
//
//	go test ./cmd/villagesync/internal/systest/volunteer -run Screenshots -args -screenshots ../../../../../docs/screenshots
package volunteer
