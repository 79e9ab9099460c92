// Package appworker tests the volunteer app's database worker in headless
// Chromium through systest/appharness: enrollment, the forms' checks,
// saving, syncing with a real server, the server's refusals in her
// language and the unsynced-changes file — the device's side of the app
// without its screens. It is a test-only package.
package appworker
