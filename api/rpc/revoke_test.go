package rpc_test

import (
	"context"
	"testing"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Signing out of the console revokes the browser's device, whatever the
// role: a volunteer and a coordinator revoke their own, and the next call
// with the token is unauthenticated. Any other replica, real (another
// user's, or another of her own devices) or not, is refused alike, before
// it is looked up: the refusal does not tell which replicas exist.
func TestEveryRoleRevokesOnlyItsOwnDevice(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	_, staffReg := e.device(t, "陈伟", store.Staff)
	for _, tc := range []struct {
		user     string
		role     store.Role
		villages []string
	}{
		{"王芳", store.Volunteer, []string{"南香村"}},
		{"李主任", store.Coordinator, nil},
	} {
		t.Run(string(tc.role), func(t *testing.T) {
			_, phone := e.device(t, tc.user, tc.role, tc.villages...)
			browser := e.token(t, tc.user)
			for _, lang := range []string{"", "zh"} {
				acc := villagesyncv1connect.NewAccessServiceClient(as(browser, lang), e.url)
				before := e.state(t)
				var first string
				for _, other := range []struct {
					what    string
					replica uint32
				}{
					{"staff's device", staffReg.Replica},
					{"her own phone", phone.Replica},
					{"the server", store.ServerReplica},
					{"a replica never registered", 99999},
					{"replica 0", 0},
				} {
					_, err := acc.RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: other.replica})
					if connect.CodeOf(err) != connect.CodePermissionDenied || errorField(err) != "replica" {
						t.Errorf("%s revokes %s: %v, want permission_denied on replica", tc.role, other.what, err)
						continue
					}
					if first == "" {
						first = err.Error()
						t.Logf("%s", first)
					} else if err.Error() != first {
						t.Errorf("%s revokes %s: %q; another replica got %q", tc.role, other.what, err, first)
					}
				}
				if after := e.state(t); after != before {
					t.Errorf("state changed: %s -> %s", before, after)
				}
			}
			acc := villagesyncv1connect.NewAccessServiceClient(as(browser, ""), e.url)
			me, err := acc.Whoami(ctx, &v1.WhoamiRequest{})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := acc.RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: me.Replica})
			if err != nil {
				t.Fatalf("%s signs out: %v", tc.role, err)
			}
			if resp.Device.Replica != me.Replica || resp.Device.RevokedAtMs == 0 {
				t.Errorf("the revoked device: %v", resp.Device)
			}
			if _, err := acc.Whoami(ctx, &v1.WhoamiRequest{}); connect.CodeOf(err) != connect.CodeUnauthenticated {
				t.Errorf("a call after signing out: %v, want unauthenticated", err)
			}
			// Her phone is untouched.
			phoneAcc := villagesyncv1connect.NewAccessServiceClient(as(phone.Token, ""), e.url)
			if _, err := phoneAcc.Whoami(ctx, &v1.WhoamiRequest{}); err != nil {
				t.Errorf("her phone after the browser signed out: %v", err)
			}
		})
	}
}
