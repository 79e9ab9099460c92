// Package mixedfleet holds the randomized fault test of a fleet that mixes
// the two device implementations: volunteer apps in headless Chromium
// (each in a browser context of its own, so its own origin-private file
// system, driving the app's real database worker through appharness) and
// Go replicas (clients/go/replica) log classes, edit each other's notes,
// delete and sync at the same time against one real server, over links
// that lose requests and lose responses after the server committed. The
// browsers' link is a proxy in front of the server (a browser takes no
// transport of ours), the Go replicas' a faulty client (faultnet). Once
// the faults stop and everyone syncs until quiet, it checks that every
// replica equals the server and that every written value is live, was
// overwritten by a write that had seen it, or lost a logged conflict. It
// is a test-only package.
package mixedfleet
