package rpc

import "testing"

// SetOldestApp raises the oldest app version Sync serves for one test:
// schema.OldestApp is 1, so no real request is too old yet.
func SetOldestApp(t testing.TB, v int) {
	was := oldestApp
	oldestApp = v
	t.Cleanup(func() { oldestApp = was })
}

// SetPullFileBudget makes pull files small for one test, so a backlog
// takes several.
func SetPullFileBudget(t testing.TB, bytes int) {
	was := pullFileBudget
	pullFileBudget = bytes
	t.Cleanup(func() { pullFileBudget = was })
}
