package staff

import (
	"context"
	"net/http"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
)

// The access calls (users, villages, devices, audit) return the server's
// error as it is: a Connect error already says its code and the server's
// reason (already_exists: ..., permission_denied: ...), which is what
// staff act on.

// User is a person who may enroll devices. Times are Unix milliseconds
// and the JSON names are the wire's, so tools that read the server's JSON
// read this too.
type User struct {
	Name        string   `json:"name,omitempty"`
	Role        string   `json:"role,omitempty"` // volunteer, staff, coordinator or admin
	Villages    []string `json:"villages,omitempty"`
	CreatedAtMs int64    `json:"created_at_ms,omitempty"`
}

// Device is an enrolled replica.
type Device struct {
	Replica      uint32 `json:"replica,omitempty"`
	Name         string `json:"name,omitempty"`
	User         string `json:"user,omitempty"`
	EnrolledAtMs int64  `json:"enrolled_at_ms,omitempty"`
	LastSeenMs   int64  `json:"last_seen_ms,omitempty"`
	RevokedAtMs  int64  `json:"revoked_at_ms,omitempty"`
}

// Change is one entry of a record's audit trail: who changed it, from
// which device, when, and what became of the change.
type Change struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Replica uint32    `json:"replica"`
	Device  string    `json:"device"`
	User    string    `json:"user"`
	Outcome string    `json:"outcome"` // applied, merged, rejected or a staff resolution
	Detail  string    `json:"detail,omitempty"`
}

func access(hc connect.HTTPClient, url string) villagesyncv1connect.AccessServiceClient {
	if hc == nil {
		hc = http.DefaultClient
	}
	return villagesyncv1connect.NewAccessServiceClient(hc, url)
}

func userFromWire(u *v1.User) User {
	return User{Name: u.GetName(), Role: u.GetRole(), Villages: u.GetVillages(), CreatedAtMs: u.GetCreatedAtMs()}
}

func deviceFromWire(d *v1.Device) Device {
	return Device{Replica: d.GetReplica(), Name: d.GetName(), User: d.GetUser(), EnrolledAtMs: d.GetEnrolledAtMs(),
		LastSeenMs: d.GetLastSeenMs(), RevokedAtMs: d.GetRevokedAtMs()}
}

// Users lists the users of the server at url (admin only).
func Users(ctx context.Context, hc connect.HTTPClient, url string) ([]User, error) {
	resp, err := access(hc, url).ListUsers(ctx, &v1.ListUsersRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]User, len(resp.GetUsers()))
	for i, u := range resp.GetUsers() {
		out[i] = userFromWire(u)
	}
	return out, nil
}

// AddUser creates user name with role (volunteer, staff, coordinator or
// admin) assigned to villages (any spelling; the server keeps the
// canonical names).
func AddUser(ctx context.Context, hc connect.HTTPClient, url, name, role string, villages []string) (User, error) {
	resp, err := access(hc, url).CreateUser(ctx, &v1.CreateUserRequest{Name: name, Role: role, Villages: villages})
	if err != nil {
		return User{}, err
	}
	return userFromWire(resp.GetUser()), nil
}

// SetVillages replaces the villages user is assigned to.
func SetVillages(ctx context.Context, hc connect.HTTPClient, url, user string, villages []string) (User, error) {
	resp, err := access(hc, url).SetVillages(ctx, &v1.SetVillagesRequest{User: user, Villages: villages})
	if err != nil {
		return User{}, err
	}
	return userFromWire(resp.GetUser()), nil
}

// AddVillage adds a village, by its Chinese name, pinyin and other
// spellings, and returns its record id.
func AddVillage(ctx context.Context, hc connect.HTTPClient, url, name, pinyin string,
	aliases []string) (string, error) {
	resp, err := access(hc, url).AddVillage(ctx, &v1.AddVillageRequest{Name: name, Pinyin: pinyin, Aliases: aliases})
	if err != nil {
		return "", err
	}
	return resp.GetId(), nil
}

// EnrollmentCode makes a one-time code with which a device enrolls as
// user, usable for ttl (whole seconds; 0: the server's default), and
// returns it with when it expires.
func EnrollmentCode(ctx context.Context, hc connect.HTTPClient, url, user string,
	ttl time.Duration) (string, time.Time, error) {
	resp, err := access(hc, url).CreateEnrollmentCode(ctx,
		&v1.CreateEnrollmentCodeRequest{User: user, TtlSeconds: uint32(ttl.Seconds())})
	if err != nil {
		return "", time.Time{}, err
	}
	return resp.GetCode(), time.UnixMilli(resp.GetExpiresAtMs()), nil
}

// Devices lists the enrolled devices, revoked ones included.
func Devices(ctx context.Context, hc connect.HTTPClient, url string) ([]Device, error) {
	resp, err := access(hc, url).ListDevices(ctx, &v1.ListDevicesRequest{})
	if err != nil {
		return nil, err
	}
	out := make([]Device, len(resp.GetDevices()))
	for i, d := range resp.GetDevices() {
		out[i] = deviceFromWire(d)
	}
	return out, nil
}

// Revoke revokes the token of device replica: its next sync is refused.
func Revoke(ctx context.Context, hc connect.HTTPClient, url string, replica uint32) (Device, error) {
	resp, err := access(hc, url).RevokeDevice(ctx, &v1.RevokeDeviceRequest{Replica: replica})
	if err != nil {
		return Device{}, err
	}
	return deviceFromWire(resp.GetDevice()), nil
}

// ResetKey forgets the box key the server keeps for device replica, so
// the key it sends at its next sync is kept.
func ResetKey(ctx context.Context, hc connect.HTTPClient, url string, replica uint32) (Device, error) {
	resp, err := access(hc, url).ResetBoxKey(ctx, &v1.ResetBoxKeyRequest{Replica: replica})
	if err != nil {
		return Device{}, err
	}
	return deviceFromWire(resp.GetDevice()), nil
}

// Audit lists the changes of record id of table, oldest first.
func Audit(ctx context.Context, hc connect.HTTPClient, url, table, id string) ([]Change, error) {
	resp, err := access(hc, url).ListChanges(ctx, &v1.ListChangesRequest{Table: table, RecordId: id})
	if err != nil {
		return nil, err
	}
	out := make([]Change, len(resp.GetChanges()))
	for i, c := range resp.GetChanges() {
		out[i] = Change{Seq: c.GetSeq(), At: time.UnixMilli(c.GetAtMs()).UTC(), Replica: c.GetReplica(),
			Device: c.GetDevice(), User: c.GetUser(), Outcome: c.GetOutcome(), Detail: c.GetDetail()}
	}
	return out, nil
}
