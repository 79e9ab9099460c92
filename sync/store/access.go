package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// Role is what a user may do.
type Role string

const (
	Volunteer   Role = "volunteer"   // program records of the assigned villages
	Staff       Role = "staff"       // every village; devices; conflicts
	Coordinator Role = "coordinator" // reads everything and the reports; writes nothing
	Admin       Role = "admin"       // users, villages, roles; and what staff do
)

// Roles lists the roles.
var Roles = []Role{Volunteer, Staff, Coordinator, Admin}

// roleZH names the roles in Chinese, for messages.
var roleZH = map[Role]string{Volunteer: "志愿者", Staff: "工作人员", Coordinator: "协调员", Admin: "管理员"}

func (r Role) String() string { return string(r) }

// In is the role's name in l, so a message naming a role is said whole
// in the console's language.
func (r Role) In(l schema.Lang) string {
	if zh, ok := roleZH[r]; ok && l == schema.ZH {
		return zh
	}
	return string(r)
}

// Principal is who is calling: the device and the user it was enrolled for.
type Principal struct {
	Replica  uint32
	Device   string
	UserID   int64
	User     string
	Role     Role
	Villages []string // a volunteer's villages, sorted; nil for the other roles
	// CarriedBy names who carried the device's changes to the server in a
	// file (issue 15), "user (device)"; empty for its own Sync. The audit
	// says it with each change.
	CarriedBy string
}

// AllVillages reports whether p sees every village.
func (p Principal) AllVillages() bool { return p.Role != Volunteer }

// Serves reports whether p may read and write records of village.
func (p Principal) Serves(village string) bool {
	return p.AllVillages() || slices.Contains(p.Villages, village)
}

// MayRead reports whether p may read r: its table is not scoped to a
// village (schema.Table.Scope), or r's village is one p serves.
func (p Principal) MayRead(r *record.Record) bool {
	t, err := schema.Lookup(r.Table)
	if err != nil || t.Scope == "" {
		return true
	}
	f, ok := r.Fields[t.Scope]
	return !ok || p.Serves(f.Value.Text)
}

// Errors of authentication; the RPC layer maps them to Unauthenticated.
var (
	ErrUnauthenticated = errors.New("unauthenticated")
	ErrNoSuchUser      = errors.New("no such user")
)

// secret returns a new random secret of n bytes, URL-safe.
func secret(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

// newEnrollmentCode is a new one-time code: 120 bits, URL-safe, and never
// starting with "-", which a command line would take for a flag
// (`device enroll -x...` failed for one code in 64).
func newEnrollmentCode() string {
	for {
		if c := secret(15); c[0] != '-' {
			return c
		}
	}
}

func hash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func problem(field, format string, args ...any) error {
	return record.Problemf(record.CodeInvalidArgument, field, format, args...)
}

// noSuchUser is the refusal of a request naming a user the server does
// not have (errors.Is ErrNoSuchUser).
func noSuchUser(user string) error {
	return record.Problemf(record.CodeNotFound, "user", "no such user: %q", user).Of(ErrNoSuchUser)
}

// unknownReplica is the refusal of a replica number the server never
// issued (errors.Is ErrUnknownReplica).
func unknownReplica(replica uint32) error {
	return record.Problemf(record.CodeNotFound, "replica",
		"unknown replica %d; this server never registered it (villagesync device init registers a device)",
		replica).Of(ErrUnknownReplica)
}

// refusedCode is the refusal of an enrollment code (errors.Is
// ErrUnauthenticated); what is wrong is said as the code's field has
// always said it.
func refusedCode(format string, args ...any) error {
	return record.Problemf(record.CodeUnauthenticated, "code", format, args...).Of(ErrUnauthenticated)
}

// badToken is the refusal of a device token (errors.Is
// ErrUnauthenticated).
func badToken(format string, args ...any) error {
	return record.Problemf(record.CodeUnauthenticated, "token", format, args...).Of(ErrUnauthenticated)
}

// CreateUser adds a user. Volunteers need at least one village.
func (s *Store) CreateUser(ctx context.Context, name string, role Role, villages []string) error {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 64 {
		return problem("name", "must be 1 to 64 characters")
	}
	if err := schema.CheckName(name); err != nil {
		return problem("name", "%v", err)
	}
	if !slices.Contains(Roles, role) {
		return problem("role", "%q is not one of volunteer, staff, coordinator, admin", role)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.beginTxn(ctx)
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	defer t.rollback()
	id, added, err := t.insertUser(ctx, name, role, time.Now())
	if err != nil {
		return fmt.Errorf("create user: %w", err)
	}
	if !added {
		return record.Problemf(record.CodeAlreadyExists, "name", "a user called %q exists already", name)
	}
	if err := setVillages(ctx, t, id, role, villages, s.seq); err != nil {
		return err
	}
	return t.commit()
}

// SetVillages replaces the villages a volunteer serves. Devices of the
// user pick the change up on their next sync.
func (s *Store) SetVillages(ctx context.Context, user string, villages []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.beginTxn(ctx)
	if err != nil {
		return fmt.Errorf("set villages: %w", err)
	}
	defer t.rollback()
	id, role, ok, err := t.userByName(ctx, user)
	if err != nil {
		return fmt.Errorf("set villages: %w", err)
	}
	if !ok {
		return noSuchUser(user)
	}
	if err := setVillages(ctx, t, id, role, villages, s.seq); err != nil {
		return err
	}
	return t.commit()
}

// setVillages gives user userID the villages; those newly given count from
// feed position head (see evictions), the others keep theirs.
func setVillages(ctx context.Context, t txn, userID int64, role Role, villages []string, head uint64) error {
	if role != Volunteer {
		if len(villages) > 0 {
			return problem("villages", "only volunteers are assigned villages; a %s sees every village", role)
		}
		return nil
	}
	if len(villages) == 0 {
		return problem("villages", "a volunteer needs at least one village")
	}
	known, err := t.knownVillages(ctx)
	if err != nil {
		return err
	}
	canon := make([]string, len(villages))
	for i, v := range villages {
		c, ok := known.Canonical(v)
		if !ok {
			return problem("villages", "%q is not a known village (known: %s)", v, strings.Join(known.Names(), ", "))
		}
		canon[i] = c
	}
	if err := t.deleteUserVillages(ctx, userID, canon); err != nil {
		return fmt.Errorf("set villages: %w", err)
	}
	for _, v := range canon {
		if err := t.insertUserVillage(ctx, userID, v, head); err != nil {
			return fmt.Errorf("set villages: %w", err)
		}
	}
	return nil
}

// User is a user as listed.
type User struct {
	Name     string
	Role     Role
	Villages []string
	Created  time.Time
}

// ListUsers lists the users by name.
func (s *Store) ListUsers(ctx context.Context) ([]User, error) {
	users, err := s.listUsers(ctx)
	for i := range users {
		slices.Sort(users[i].Villages)
	}
	return users, err
}

// Enrollment code limits.
const (
	DefaultCodeTTL = 24 * time.Hour
	MaxCodeTTL     = 7 * 24 * time.Hour
)

// NewEnrollmentCode creates a one-time code with which one device of user
// can enroll until it expires.
func (s *Store) NewEnrollmentCode(ctx context.Context, user string, ttl time.Duration) (string, time.Time, error) {
	if ttl <= 0 {
		ttl = DefaultCodeTTL
	}
	if ttl > MaxCodeTTL {
		return "", time.Time{}, problem("ttl_seconds", "%s is longer than the limit of %s", ttl, MaxCodeTTL)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, ok, err := s.userIDOnWriter(ctx, user)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("enrollment code: %w", err)
	}
	if !ok {
		return "", time.Time{}, noSuchUser(user)
	}
	code := newEnrollmentCode()
	now := time.Now()
	expires := now.Add(ttl)
	if err := s.insertEnrollmentCode(ctx, hash(code), id, now, expires); err != nil {
		return "", time.Time{}, fmt.Errorf("enrollment code: %w", err)
	}
	return code, expires, nil
}

// Enroll exchanges an enrollment code, once, for a new device replica and
// its token.
func (s *Store) Enroll(ctx context.Context, code, deviceName string) (Principal, string, error) {
	return s.EnrollKeyed(ctx, code, deviceName, nil)
}

// EnrollKeyed is Enroll of a device that sends its box public key (nil
// for none), kept with its replica in the same transaction.
func (s *Store) EnrollKeyed(ctx context.Context, code, deviceName string, boxKey []byte) (Principal, string, error) {
	if boxKey != nil && len(boxKey) != BoxKeySize {
		return Principal{}, "", problem("box_public_key", "a box public key is %d bytes, not %d", BoxKeySize, len(boxKey))
	}
	deviceName = strings.TrimSpace(deviceName)
	if deviceName == "" || utf8.RuneCountInString(deviceName) > 64 || !utf8.ValidString(deviceName) {
		return Principal{}, "", problem("device_name", "must be 1 to 64 characters of UTF-8")
	}
	if err := schema.CheckName(deviceName); err != nil {
		return Principal{}, "", problem("device_name", "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.beginTxn(ctx)
	if err != nil {
		return Principal{}, "", fmt.Errorf("enroll: %w", err)
	}
	defer t.rollback()
	c, ok, err := t.enrollmentCode(ctx, hash(code))
	now := time.Now()
	switch {
	case err != nil:
		return Principal{}, "", fmt.Errorf("enroll: %w", err)
	case !ok:
		return Principal{}, "", refusedCode("this enrollment code is not known; check it, or ask staff for a new one")
	case c.used:
		return Principal{}, "", refusedCode("this enrollment code was used already; ask staff for a new one")
	case now.UnixMilli() > c.expires.UnixMilli():
		return Principal{}, "", refusedCode("this enrollment code expired; ask staff for a new one")
	}
	token := secret(24)
	replica, err := t.insertDevice(ctx, deviceName, c.userID, hash(token), boxKey, now)
	if err != nil {
		return Principal{}, "", fmt.Errorf("enroll: %w", err)
	}
	if err := t.markEnrollmentCodeUsed(ctx, hash(code), replica, now); err != nil {
		return Principal{}, "", fmt.Errorf("enroll: %w", err)
	}
	p, ok, err := t.principalByReplica(ctx, replica)
	if err != nil {
		return Principal{}, "", err
	}
	if !ok {
		return Principal{}, "", fmt.Errorf("enroll: replica %d is gone", replica)
	}
	p = p.normalized()
	if err := t.commit(); err != nil {
		return Principal{}, "", fmt.Errorf("enroll: %w", err)
	}
	s.log.Info("device enrolled", "replica", replica, "device", deviceName, "user", p.User, "role", p.Role)
	return p, token, nil
}

// Authenticate returns who holds token: unknown and revoked tokens are
// ErrUnauthenticated.
func (s *Store) Authenticate(ctx context.Context, token string) (Principal, error) {
	if token == "" {
		return Principal{}, badToken("no token; enroll the device first")
	}
	p, ok, err := s.principalByToken(ctx, hash(token))
	if err != nil {
		return Principal{}, err
	}
	if !ok {
		return Principal{}, badToken("unknown or revoked token; enroll this device again")
	}
	return p.normalized(), nil
}

// normalized is p as the store hands it out: a volunteer's villages
// sorted and never nil (a volunteer with none serves nothing, not
// everything); nil for the other roles, who serve every village.
func (p Principal) normalized() Principal {
	if p.Role != Volunteer {
		p.Villages = nil
		return p
	}
	if p.Villages == nil {
		p.Villages = []string{}
	}
	slices.Sort(p.Villages)
	return p
}

// UserRole returns a user's role.
func (s *Store) UserRole(ctx context.Context, user string) (Role, error) {
	r, ok, err := s.userRole(ctx, user)
	if err == nil && !ok {
		return "", noSuchUser(user)
	}
	return r, err
}

// DeviceRole returns the role of the user a device was enrolled for.
func (s *Store) DeviceRole(ctx context.Context, replica uint32) (Role, error) {
	r, ok, err := s.deviceRole(ctx, replica)
	if err == nil && !ok {
		return "", unknownReplica(replica)
	}
	return r, err
}

// Manages reports whether p may enroll or revoke devices of a user with
// role: admins manage everyone; staff only volunteers and coordinators
// (else staff could enroll a device as an admin and make themselves one).
func (p Principal) Manages(role Role) bool {
	return p.Role == Admin || (p.Role == Staff && (role == Volunteer || role == Coordinator))
}

// Device is an enrolled device as listed.
type Device struct {
	Replica                     uint32
	Name, User                  string
	Role                        Role // its user's; "" for a device of no user
	Enrolled, LastSeen, Revoked time.Time
	// PulledSeq is the feed position the device has pulled up to: the
	// cursor it sent with its last sync, which it had stored (the server
	// learns of the cursor a pull gives it only when it syncs again).
	PulledSeq uint64
	// Behind is how many records the device would pull if it synced now:
	// those after PulledSeq, up to FeedSeq, in its scope and not last
	// written by itself, as its pull selects them. 0 for a revoked
	// device, which pulls nothing, and for one that has never synced
	// (LastSeen zero; a console's browser never does), whose lag would be
	// the whole feed and mean nothing.
	Behind uint64
	// FeedSeq is the feed position the list was made at.
	FeedSeq uint64
}

// ListDevices lists the enrolled devices, with how far each is behind the
// feed. Sync times and cursors noted in memory are written first.
func (s *Store) ListDevices(ctx context.Context) ([]Device, error) {
	if err := s.FlushSeen(ctx); err != nil {
		return nil, err
	}
	v, err := s.beginView(ctx)
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer v.close()
	return devicesIn(ctx, v)
}

// devicesIn lists the devices as v sees them, with their lag counted
// against v's feed position: ListDevices and the report's freshness say
// the same. A volunteer's device counts the records of her villages only,
// as her pull reads them; the other roles' devices every record.
func devicesIn(ctx context.Context, v view) ([]Device, error) {
	head, err := v.feedHead(ctx)
	if err != nil {
		return nil, fmt.Errorf("list devices: feed position: %w", err)
	}
	ds, err := v.listDevices(ctx, schema.Tables(), Volunteer)
	if err != nil {
		return nil, err
	}
	for i := range ds {
		ds[i].FeedSeq = head
	}
	return ds, nil
}

// MaySee reports whether p may see device d in a list: a volunteer sees
// her own devices, the other roles every device.
func (p Principal) MaySee(d Device) bool {
	return p.Role != Volunteer || (d.User != "" && d.User == p.User)
}

// RevokeDevice revokes a device's token at once; its next call is
// refused. Revoking twice is a no-op.
func (s *Store) RevokeDevice(ctx context.Context, replica uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	found, err := s.revokeReplica(ctx, replica, time.Now())
	if err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if !found {
		return unknownReplica(replica)
	}
	s.log.Info("device revoked", "replica", replica)
	return nil
}

// Change is one row of a record's audit trail.
type Change struct {
	Seq             uint64
	At              time.Time
	Replica         uint32
	Device, User    string
	Role            Role // the writer's role; "" for the server's own writes
	Outcome, Detail string
}

// ListChanges returns who changed a record and when, oldest first, as p
// may see it. A volunteer sees the trail of records of her villages only;
// of another village's record, or one the server does not have, she is
// told the same (as for a write, see authorize). For her, of any table
// (villages too, which every volunteer may read), other users' refused
// changes are left out: they changed nothing, and what they say and who
// sent them can be of another village (a volunteer there who meant to
// move the record). And she sees who wrote an entry only when it was she,
// town staff or an admin: another volunteer's entry keeps its time and
// outcome with no user, device or replica, since it may date from before
// the record moved into her village and name the earlier village's people
// (the trail does not say which village a record was in at each entry).
func (s *Store) ListChanges(ctx context.Context, p Principal, table, id string) ([]Change, error) {
	t, err := schema.Lookup(table)
	if err != nil {
		return nil, problem("table", "%v", err)
	}
	if err := record.CheckID(id); err != nil {
		return nil, problem("record_id", "%q is not a UUID in canonical form (like 0190a6e4-5b7a-7c3e-8f00-1a2b3c4d5e6f)", id)
	}
	if !p.AllVillages() && t.Scope != "" {
		v, err := s.beginView(ctx)
		if err != nil {
			return nil, fmt.Errorf("list changes: %w", err)
		}
		village, ok, err := v.recordVillage(ctx, t, id)
		v.close()
		if err != nil {
			return nil, fmt.Errorf("list changes: %w", err)
		}
		if !ok || !p.Serves(village) {
			return nil, record.Problemf(record.CodePermissionDenied, "record_id",
				"not a record of your villages (%s serves %s)", p.User, strings.Join(p.Villages, ", "))
		}
	}
	cs, err := s.listRecordChanges(ctx, table, id)
	if err != nil {
		return nil, err
	}
	if p.AllVillages() {
		return cs, nil
	}
	cs = slices.DeleteFunc(cs, func(c Change) bool {
		return c.Outcome == record.Rejected.String() && c.User != p.User
	})
	for i, c := range cs {
		if c.Role == Volunteer && c.User != p.User {
			cs[i].Replica, cs[i].Device, cs[i].User, cs[i].Role = 0, "", "", ""
		}
	}
	return cs, nil
}

// Village is a village of the villages table as listed.
type Village struct {
	ID, Name, Pinyin string
	Aliases          []string
}

// ListVillages lists the villages p serves, by name: a volunteer's own,
// every village (deleted ones aside) for the other roles.
func (s *Store) ListVillages(ctx context.Context, p Principal) ([]Village, error) {
	vs, err := s.listVillages(ctx)
	if err != nil {
		return nil, fmt.Errorf("list villages: %w", err)
	}
	out := vs[:0]
	for _, v := range vs {
		if p.Serves(v.Name) {
			out = append(out, v)
		}
	}
	return out, nil
}

// AddVillage adds a village as a server write to the villages table, so
// every device receives it with its next sync.
func (s *Store) AddVillage(ctx context.Context, name, pinyin string, aliases []string) (string, error) {
	name, pinyin = strings.TrimSpace(name), strings.TrimSpace(pinyin)
	if name == "" || pinyin == "" {
		return "", problem("name", "a village needs a Chinese name and its pinyin")
	}
	if err := checkVillageFields(name, pinyin, aliases); err != nil {
		return "", err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	t, err := s.beginTxn(ctx)
	if err != nil {
		return "", fmt.Errorf("add village: %w", err)
	}
	defer t.rollback()
	known, err := t.knownVillages(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range append([]string{name, pinyin}, aliases...) {
		if c, ok := known.Canonical(n); ok {
			return "", record.Problemf(record.CodeAlreadyExists, "name", "%q is already village %s", n, c)
		}
	}
	id := schema.SeedVillageID(name)
	// The id a name had may belong to a live village since renamed: then
	// this one gets an id of its own.
	if cur, _, err := s.loadState(ctx, t, &record.Record{Table: schema.VillageTable, ID: id}); err != nil {
		return "", err
	} else if cur != nil && !cur.Deleted() {
		u, err := uuid.NewV7()
		if err != nil {
			return "", fmt.Errorf("add village: %w", err)
		}
		id = u.String()
	}
	seq := s.seq
	err = s.createAsServer(ctx, t, &seq, schema.VillageTable, id,
		map[string]string{"name": name, "pinyin": pinyin, "aliases": strings.Join(aliases, ",")})
	if err != nil {
		return "", err
	}
	err = auditRow(ctx, t, schema.VillageTable, id, ServerReplica, 0, "village added", name, time.Now())
	if err != nil {
		return "", err
	}
	if err := t.saveFeedPosition(ctx, seq); err != nil {
		return "", err
	}
	if err := t.commit(); err != nil {
		return "", fmt.Errorf("add village: %w", err)
	}
	s.seq = seq
	return id, nil
}

// CodeFor creates user (with role and villages) unless it exists, and
// returns a fresh enrollment code for it: one step for tools and tests that
// set devices up in bulk.
func (s *Store) CodeFor(ctx context.Context, user string, role Role, villages []string) (string, error) {
	err := s.CreateUser(ctx, user, role, villages)
	var p *record.Problem
	if err != nil && !(errors.As(err, &p) && p.Code == record.CodeAlreadyExists) {
		return "", err
	}
	code, _, err := s.NewEnrollmentCode(ctx, user, time.Hour)
	return code, err
}

// checkVillageFields checks a new village's fields by the villages table's
// columns (length, control characters), as a pushed village is checked.
func checkVillageFields(name, pinyin string, aliases []string) error {
	t, err := schema.Lookup(schema.VillageTable)
	if err != nil {
		return err
	}
	for _, a := range aliases {
		if strings.Contains(a, ",") { // the field holds them comma-separated
			return problem("aliases", "%q holds a comma; give each alias as its own argument", a)
		}
	}
	fields := []struct{ name, value string }{{"name", name}, {"pinyin", pinyin}, {"aliases", strings.Join(aliases, ",")}}
	for _, f := range fields {
		if f.value == "" {
			continue
		}
		if err := t.Column(f.name).Check(schema.TextValue(f.value)); err != nil {
			return record.Refused(f.name, err)
		}
	}
	return nil
}
