package rpc_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"connectrpc.com/connect"
	"github.com/google/uuid"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/clients/go/bearer"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Every answer states the server's versions, whatever the app sent; an
// app older than the oldest served is refused, naming the field, in its
// language, and nothing it pushed is applied.
func TestSyncStatesSchemaVersions(t *testing.T) {
	c, reg, e := start(t)
	for _, v := range []uint32{0, 1, schema.Version, schema.Version + 5} {
		resp, err := c.Sync(context.Background(), &v1.SyncRequest{Replica: reg.Replica, SchemaVersion: v})
		if err != nil {
			t.Fatalf("schema_version %d: %v", v, err)
		}
		if resp.SchemaVersion != schema.Version || resp.OldestAppSchema != schema.OldestApp {
			t.Errorf("schema_version %d: answered %d, oldest %d; want %d, %d", v, resp.SchemaVersion,
				resp.OldestAppSchema, schema.Version, schema.OldestApp)
		}
	}

	rpc.SetOldestApp(t, schema.Version)
	push := change(reg.Replica, "books", uuid.NewString(), "notes", text("x"))
	for _, tc := range []struct {
		name, lang string
		version    uint32
		want       []string
	}{
		{"before versions were sent (1)", "", 0, []string{"schema_version: ", "version 1", "update the app"}},
		{"older than the oldest served", "en", schema.Version - 1, []string{"schema_version: ", "update the app"}},
		{"in Chinese", "zh-CN", schema.Version - 1, []string{"数据版本：", "请更新应用"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lc := villagesyncv1connect.NewSyncServiceClient(langClient{hc: bearer.Client(nil, reg.Token), lang: tc.lang}, e.url)
			_, err := lc.Sync(context.Background(), &v1.SyncRequest{Replica: reg.Replica, SchemaVersion: tc.version,
				Changes: []*v1.Record{push}})
			var ce *connect.Error
			if !errors.As(err, &ce) || ce.Code() != connect.CodeFailedPrecondition {
				t.Fatalf("err = %v; want failed_precondition", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(ce.Message(), w) {
					t.Errorf("message %q does not say %q", ce.Message(), w)
				}
			}
		})
	}
	if _, err := c.Sync(context.Background(), &v1.SyncRequest{Replica: reg.Replica, SchemaVersion: schema.Version}); err != nil {
		t.Fatalf("an app of the oldest served version: %v", err)
	}
	other, oreg := e.device(t, "other", store.Staff)
	pull, err := other.Sync(context.Background(), &v1.SyncRequest{Replica: oreg.Replica, SchemaVersion: schema.Version})
	if err != nil {
		t.Fatal(err)
	}
	if len(pull.Changes) != 0 {
		t.Errorf("a refused app's push was applied: %d records on the server", len(pull.Changes))
	}
}
