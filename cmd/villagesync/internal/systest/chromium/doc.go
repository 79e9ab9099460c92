// Package chromium starts the one headless Chromium a browser test binary
// shares (the console's and the volunteer app's), and skips a test without
// it — or fails it where CI sets VILLAGESYNC_REQUIRE_ALL. Tab is the one
// way the packages drive a page: each step bounded, and a failure saying
// what the page showed.
package chromium
