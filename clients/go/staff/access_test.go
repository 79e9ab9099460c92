package staff_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
	"github.com/futian-xiaomo/villagesync/clients/go/staff"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// The access calls, as an admin tool makes them: users, villages, an
// enrollment, the devices, a revoke and a record's audit trail.
func TestAccessCalls(t *testing.T) {
	ctx := context.Background()
	srv := replicatest.Start(t, nil)
	hc, url := srv.Device(t, "boss", store.Admin, nil, replica.Options{}).HTTPClient(), srv.URL

	if _, err := staff.AddVillage(ctx, hc, url, "北村", "Beicun", []string{"北邨"}); err != nil {
		t.Fatal(err)
	}
	u, err := staff.AddUser(ctx, hc, url, "王芳", "volunteer", []string{"beicun"})
	if err != nil || u.Name != "王芳" || u.Role != "volunteer" || strings.Join(u.Villages, ",") != "北村" {
		t.Fatalf("add user: %+v, %v", u, err)
	}
	if _, err := staff.AddUser(ctx, hc, url, "王芳", "volunteer", nil); err == nil ||
		!strings.Contains(err.Error(), "already_exists") {
		t.Errorf("adding a user twice: %v", err)
	}
	if u, err = staff.SetVillages(ctx, hc, url, "王芳", []string{"Nanxiang", "北邨"}); err != nil || len(u.Villages) != 2 {
		t.Errorf("set villages: %+v, %v", u, err)
	}
	users, err := staff.Users(ctx, hc, url)
	if err != nil || len(users) != 2 {
		t.Errorf("users: %+v, %v", users, err)
	}
	code, expires, err := staff.EnrollmentCode(ctx, hc, url, "王芳", time.Hour)
	if err != nil || code == "" || time.Until(expires) > time.Hour || time.Until(expires) < 50*time.Minute {
		t.Fatalf("enrollment code: %q until %v, %v", code, expires, err)
	}
	phone, err := replica.Init(ctx, srv.Dir+"/phone.db", url, code, "phone", replica.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer phone.Close()
	if _, err := phone.Sync(ctx); err != nil { // the phone learns of 北村
		t.Fatal(err)
	}
	id, err := phone.LogSession(ctx, replica.Session{Village: "北村", Date: "2024-06-03", Children: "9"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := phone.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	changes, err := staff.Audit(ctx, hc, url, "tutoring_sessions", id)
	if err != nil || len(changes) != 1 || changes[0].Outcome != "applied" || changes[0].Device != "phone" ||
		changes[0].User != "王芳" || changes[0].Replica != phone.ID() {
		t.Errorf("audit: %+v, %v", changes, err)
	}
	devices, err := staff.Devices(ctx, hc, url)
	if err != nil || len(devices) != 2 {
		t.Fatalf("devices: %+v, %v", devices, err)
	}
	d, err := staff.Revoke(ctx, hc, url, phone.ID())
	if err != nil || d.Name != "phone" || d.RevokedAtMs == 0 {
		t.Errorf("revoke: %+v, %v", d, err)
	}
	if _, err := phone.Sync(ctx); err == nil || !strings.Contains(err.Error(), "unauthenticated") {
		t.Errorf("sync of a revoked phone: %v", err)
	}
}
