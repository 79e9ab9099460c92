package replica_test

import (
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// The replica's own tests (imports, the volunteer forms) need enrolled
// devices, so a server; the tests of both ends together live in
// cmd/villagesync/internal/systest/endtoend.

var (
	put    = replicatest.Put
	syncOK = replicatest.SyncOK
)

type env struct {
	t *testing.T
	s *replicatest.Server
}

func newEnv(t *testing.T) *env { return &env{t, replicatest.Start(t, nil)} }

// device enrolls a staff device name (staff see every village).
func (e *env) device(name string, opt replica.Options) *replica.Replica {
	return e.s.Device(e.t, name, store.Staff, nil, opt)
}

func assertConverged(t *testing.T, e *env, devs ...*replica.Replica) { e.s.AssertConverged(t, devs...) }
