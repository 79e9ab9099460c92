// Package bearer adds a device token to the requests of any villagesync
// client, so every client package (device sync, staff review, reports,
// admin) authenticates the same way.
package bearer
