package rpc

import (
	"context"
	"slices"
	"time"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Enroll exchanges an enrollment code for a device token.
func (s *Service) Enroll(ctx context.Context, req *v1.EnrollRequest) (*v1.EnrollResponse, error) {
	key, err := wire.BoxKey(req.GetBoxPublicKey())
	if err != nil {
		return nil, refuseMessage(connect.CodeInvalidArgument, "box_public_key", err)
	}
	var keyBytes []byte
	if key != nil {
		keyBytes = key[:]
	}
	p, token, err := s.Store.EnrollKeyed(ctx, req.GetCode(), req.GetDeviceName(), keyBytes)
	if err != nil {
		return nil, s.toConnect(err)
	}
	serverKey, _ := s.Store.BoxKeys()
	return &v1.EnrollResponse{Replica: p.Replica, ServerId: s.Store.ServerID(), Token: token,
		User: p.User, Role: string(p.Role), ServerBoxPublicKey: serverKey}, nil
}

// Whoami describes the caller.
func (s *Service) Whoami(ctx context.Context, _ *v1.WhoamiRequest) (*v1.WhoamiResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	return &v1.WhoamiResponse{Replica: p.Replica, DeviceName: p.Device, User: p.User, Role: string(p.Role),
		Villages: p.Villages, AllVillages: p.AllVillages()}, nil
}

// CreateUser adds a user.
func (s *Service) CreateUser(ctx context.Context, req *v1.CreateUserRequest) (*v1.CreateUserResponse, error) {
	if err := s.Store.CreateUser(ctx, req.GetName(), store.Role(req.GetRole()), req.GetVillages()); err != nil {
		return nil, s.toConnect(err)
	}
	u, err := s.user(ctx, req.GetName())
	if err != nil {
		return nil, err
	}
	return &v1.CreateUserResponse{User: u}, nil
}

// ListUsers lists the users.
func (s *Service) ListUsers(ctx context.Context, _ *v1.ListUsersRequest) (*v1.ListUsersResponse, error) {
	us, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, s.toConnect(err)
	}
	resp := &v1.ListUsersResponse{}
	for _, u := range us {
		resp.Users = append(resp.Users, userToWire(u))
	}
	return resp, nil
}

func (s *Service) user(ctx context.Context, name string) (*v1.User, error) {
	us, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, s.toConnect(err)
	}
	for _, u := range us {
		if u.Name == name {
			return userToWire(u), nil
		}
	}
	return nil, refuse(connect.CodeNotFound, "user", "no user %q", name)
}

func userToWire(u store.User) *v1.User {
	return &v1.User{Name: u.Name, Role: string(u.Role), Villages: u.Villages, CreatedAtMs: u.Created.UnixMilli()}
}

// SetVillages replaces a volunteer's villages.
func (s *Service) SetVillages(ctx context.Context, req *v1.SetVillagesRequest) (*v1.SetVillagesResponse, error) {
	if err := s.Store.SetVillages(ctx, req.GetUser(), req.GetVillages()); err != nil {
		return nil, s.toConnect(err)
	}
	u, err := s.user(ctx, req.GetUser())
	if err != nil {
		return nil, err
	}
	return &v1.SetVillagesResponse{User: u}, nil
}

// AddVillage adds a village, synced to every device.
func (s *Service) AddVillage(ctx context.Context, req *v1.AddVillageRequest) (*v1.AddVillageResponse, error) {
	id, err := s.Store.AddVillage(ctx, req.GetName(), req.GetPinyin(), req.GetAliases())
	if err != nil {
		return nil, s.toConnect(err)
	}
	return &v1.AddVillageResponse{Id: id}, nil
}

// CreateEnrollmentCode creates a one-time code for a user's device.
func (s *Service) CreateEnrollmentCode(ctx context.Context,
	req *v1.CreateEnrollmentCodeRequest) (*v1.CreateEnrollmentCodeResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	role, err := s.Store.UserRole(ctx, req.GetUser())
	if err != nil {
		return nil, s.toConnect(err)
	}
	if !p.Manages(role) {
		return nil, refuse(connect.CodePermissionDenied, "user", "%s may not enroll devices of a %s; ask an admin", p.User, role)
	}
	code, expires, err := s.Store.NewEnrollmentCode(ctx, req.GetUser(), time.Duration(req.GetTtlSeconds())*time.Second)
	if err != nil {
		return nil, s.toConnect(err)
	}
	return &v1.CreateEnrollmentCodeResponse{Code: code, ExpiresAtMs: expires.UnixMilli()}, nil
}

// ListDevices lists the enrolled devices and how far each is behind the
// feed: every device for staff, admins and coordinators; a volunteer's
// own devices for her.
func (s *Service) ListDevices(ctx context.Context, _ *v1.ListDevicesRequest) (*v1.ListDevicesResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	ds, err := s.Store.ListDevices(ctx)
	if err != nil {
		return nil, s.toConnect(err)
	}
	resp := &v1.ListDevicesResponse{}
	for _, d := range ds {
		if p.MaySee(d) {
			resp.Devices = append(resp.Devices, deviceToWire(d))
		}
	}
	return resp, nil
}

func deviceToWire(d store.Device) *v1.Device {
	m := &v1.Device{Replica: d.Replica, Name: d.Name, User: d.User, EnrolledAtMs: d.Enrolled.UnixMilli(),
		PulledSeq: d.PulledSeq, Behind: d.Behind, FeedSeq: d.FeedSeq, Role: string(d.Role)}
	if !d.LastSeen.IsZero() {
		m.LastSeenMs = d.LastSeen.UnixMilli()
	}
	if !d.Revoked.IsZero() {
		m.RevokedAtMs = d.Revoked.UnixMilli()
	}
	return m
}

// RevokeDevice revokes a device's token at once. Every role may revoke
// the device it calls from (the console's sign-out does, so that the
// token it forgets is dead too); staff and admins also the devices of the
// roles they manage.
func (s *Service) RevokeDevice(ctx context.Context, req *v1.RevokeDeviceRequest) (*v1.RevokeDeviceResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	// Refused before the replica is looked up, in words that do not name
	// it: else not_found against permission_denied would tell a volunteer
	// which replica numbers exist.
	if !slices.Contains(staff, p.Role) && req.GetReplica() != p.Replica {
		return nil, refuse(connect.CodePermissionDenied, "replica",
			"%s may revoke only this device (replica %d); ask staff to revoke another", p.User, p.Replica)
	}
	role, err := s.Store.DeviceRole(ctx, req.GetReplica())
	if err != nil {
		return nil, s.toConnect(err)
	}
	if !p.Manages(role) && req.GetReplica() != p.Replica {
		return nil, refuse(connect.CodePermissionDenied, "replica", "%s may not revoke a %s's device; ask an admin", p.User, role)
	}
	if err := s.Store.RevokeDevice(ctx, req.GetReplica()); err != nil {
		return nil, s.toConnect(err)
	}
	ds, err := s.Store.ListDevices(ctx)
	if err != nil {
		return nil, s.toConnect(err)
	}
	for _, d := range ds {
		if d.Replica == req.GetReplica() {
			return &v1.RevokeDeviceResponse{Device: deviceToWire(d)}, nil
		}
	}
	return nil, refuse(connect.CodeNotFound, "replica", "not found")
}

// ResetBoxKey forgets the box key kept for a device (see
// Store.ResetDeviceBoxKey), for staff and admins of the roles they manage.
func (s *Service) ResetBoxKey(ctx context.Context, req *v1.ResetBoxKeyRequest) (*v1.ResetBoxKeyResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	role, err := s.Store.DeviceRole(ctx, req.GetReplica())
	if err != nil {
		return nil, s.toConnect(err)
	}
	if !p.Manages(role) {
		return nil, refuse(connect.CodePermissionDenied, "replica", "%s may not reset a %s's device key; ask an admin",
			p.User, role)
	}
	if err := s.Store.ResetDeviceBoxKey(ctx, req.GetReplica()); err != nil {
		return nil, s.toConnect(err)
	}
	s.log().Warn("a device's box key was reset: the next key it sends is kept", "replica", req.GetReplica(),
		"by", p.User, "from", p.Device)
	ds, err := s.Store.ListDevices(ctx)
	if err != nil {
		return nil, s.toConnect(err)
	}
	for _, d := range ds {
		if d.Replica == req.GetReplica() {
			return &v1.ResetBoxKeyResponse{Device: deviceToWire(d)}, nil
		}
	}
	return nil, refuse(connect.CodeNotFound, "replica", "not found")
}

// ListChanges is a record's audit trail; a volunteer's, of records of her
// villages only.
func (s *Service) ListChanges(ctx context.Context, req *v1.ListChangesRequest) (*v1.ListChangesResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	cs, err := s.Store.ListChanges(ctx, p, req.GetTable(), req.GetRecordId())
	if err != nil {
		return nil, s.toConnect(err)
	}
	resp := &v1.ListChangesResponse{}
	for _, c := range cs {
		resp.Changes = append(resp.Changes, &v1.Change{Seq: c.Seq, AtMs: c.At.UnixMilli(),
			Replica: c.Replica, Device: c.Device, User: c.User, Outcome: c.Outcome, Detail: c.Detail})
	}
	return resp, nil
}

// ListVillages lists the villages the caller serves: a volunteer's own,
// every village for the other roles.
func (s *Service) ListVillages(ctx context.Context, _ *v1.ListVillagesRequest) (*v1.ListVillagesResponse, error) {
	p, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	vs, err := s.Store.ListVillages(ctx, p)
	if err != nil {
		return nil, s.toConnect(err)
	}
	resp := &v1.ListVillagesResponse{}
	for _, v := range vs {
		resp.Villages = append(resp.Villages, &v1.Village{Id: v.ID, Name: v.Name, Pinyin: v.Pinyin, Aliases: v.Aliases})
	}
	return resp, nil
}
