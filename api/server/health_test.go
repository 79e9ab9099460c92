package server_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/api/server"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/schema"
)

// Health states the schema versions, so a person (curl) or a monitor can
// tell which apps a server serves without a token or a sync.
func TestHealthStatesSchemaVersions(t *testing.T) {
	s := replicatest.Start(t, nil)
	resp, err := http.Post(s.URL+"/grpc.health.v1.Health/Check", "application/json", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health: %s", resp.Status)
	}
	for h, want := range map[string]int{server.SchemaVersionHeader: schema.Version, server.OldestAppHeader: schema.OldestApp} {
		if got := resp.Header.Get(h); got != strconv.Itoa(want) {
			t.Errorf("%s: %q, want %d", h, got, want)
		}
	}
}
