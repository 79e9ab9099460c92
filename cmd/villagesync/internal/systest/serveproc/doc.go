// Package serveproc runs the villagesync command as a child process for
// system tests: Build compiles it once per test binary (Main, called from
// TestMain, removes it at exit, as a t.Cleanup would under the next
// test), and Start (or Launch, for a caller that retries) runs
// `villagesync serve ...`, learning its address from the
// `msg=serving addr=` log line and keeping the end of its log (Log) for
// failure messages. FreeAddr picks a port for a process that must be told
// its address in advance. It is imported by tests only.
package serveproc
