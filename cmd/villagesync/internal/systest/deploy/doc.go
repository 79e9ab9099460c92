// Package deploy tests the deployment files in docs/deploy against the
// villagesync command as built: the systemd unit passes systemd-analyze
// (verify, and security offline under an exposure threshold), and its
// ExecStart, environment, state directory and stop signal, run as systemd
// would run them, start a serving server that exits 0 within TimeoutStopSec;
// the Containerfile builds with the go.mod's Go on the Debian release it
// runs on, as a non-root user, listening on every interface of its exposed
// port, with its database on a volume, a health check the binary answers
// and a stop signal the server handles, and .dockerignore keeps every file
// the build needs; docs/postgres.md's nginx upstream, in front of two
// servers, keeps answering when one stops.
//
// No systemd runs as PID 1 here and no container engine is needed: the
// files are checked and their commands run as child processes. It is a
// test-only package:
//
//	go test ./cmd/villagesync/internal/systest/deploy
package deploy
