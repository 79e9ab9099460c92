// Package photolane holds the attachment lane's budgets, over a real
// server: a photo's upload over a link cut every 500 KB re-sends at most a
// tenth of its bytes, and an idle sync of a device that is uploading
// costs what it costs without the upload (bytes on the wire, round trips;
// BenchmarkIdleSyncBesideUpload gives the time as a ratio). Records never
// wait for photos, and a photo over the device's quota is refused alone.
// It is a test-only package.
package photolane
