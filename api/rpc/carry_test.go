package rpc_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/rpc"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// keyedDevice is a device enrolled with a box key pair of its own.
type keyedDevice struct {
	reg  *v1.EnrollResponse
	keys wire.BoxKeys
	sync villagesyncv1connect.SyncServiceClient
}

// keyed enrolls a device for a new user, sending its box public key
// (none when withKey is false).
func (e *accessEnv) keyed(t *testing.T, user string, role store.Role, withKey bool, villages ...string) keyedDevice {
	t.Helper()
	keys, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	code, err := e.st.CodeFor(context.Background(), user, role, villages)
	if err != nil {
		t.Fatal(err)
	}
	req := &v1.EnrollRequest{Code: code, DeviceName: user + "-device"}
	if withKey {
		req.BoxPublicKey = keys.Public[:]
	}
	reg, err := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, e.url).
		Enroll(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	return keyedDevice{reg: reg, keys: keys, sync: villagesyncv1connect.NewSyncServiceClient(as(reg.Token, ""), e.url)}
}

func (e *accessEnv) carry(token, lang string) villagesyncv1connect.CarryServiceClient {
	return villagesyncv1connect.NewCarryServiceClient(as(token, lang), e.url)
}

func (e *accessEnv) serverKey(t *testing.T) *[wire.BoxKeySize]byte {
	t.Helper()
	pub, _ := e.st.BoxKeys()
	k, err := wire.BoxKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// pushFile is d's push file of changes, made as its app would.
func (e *accessEnv) pushFile(t *testing.T, d keyedDevice, changes ...*v1.Record) []byte {
	t.Helper()
	return e.pushFileOf(t, d.keys, &v1.CarriedPush{ServerId: e.st.ServerID(), Replica: d.reg.Replica,
		MadeAtMs: time.Now().UnixMilli(), Request: &v1.SyncRequest{Replica: d.reg.Replica, ServerId: e.st.ServerID(),
			Incarnation: e.st.Incarnation(), Changes: changes}})
}

func (e *accessEnv) pushFileOf(t *testing.T, keys wire.BoxKeys, p *v1.CarriedPush) []byte {
	t.Helper()
	file, err := wire.SealPush(p, keys, e.serverKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return file
}

// A push file applies as the device that made it, whoever carries it:
// the device's villages hold (a change to another village is refused as
// in its own Sync), the audit names the carrier, and carrying it again
// changes nothing.
func TestCarryAppliesAsTheDevice(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol := e.keyed(t, "王芳", store.Volunteer, true, "南香村")
	if !bytes.Equal(vol.reg.ServerBoxPublicKey, e.serverKey(t)[:]) {
		t.Fatalf("enrollment answered server key %x", vol.reg.ServerBoxPublicKey)
	}
	carrier := e.keyed(t, "张伟", store.Volunteer, false, "东旺村") // a volunteer of another village carries it
	mine, other := book(vol.reg.Replica, "南香村"), book(vol.reg.Replica, "东旺村")
	// A book staff wrote meanwhile, which her file edits without having
	// seen: a conflict, whose log says who carried her side.
	staff := e.keyed(t, "李老师", store.Staff, false)
	shared := book(staff.reg.Replica, "南香村")
	if _, err := staff.sync.Sync(ctx, &v1.SyncRequest{Replica: staff.reg.Replica,
		Changes: []*v1.Record{shared}}); err != nil {
		t.Fatal(err)
	}
	edit := change(vol.reg.Replica, "books", shared.Id, "title", text("小王子（新版）"))
	file := e.pushFile(t, vol, mine, other, edit)

	resp, err := e.carry(carrier.reg.Token, "").Carry(ctx, &v1.CarryRequest{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Replica != vol.reg.Replica || resp.User != "王芳" || resp.Device != "王芳-device" || len(resp.Results) != 3 {
		t.Fatalf("carry answered %v", resp)
	}
	if r := resp.Results[0]; r.Outcome != v1.Outcome_OUTCOME_APPLIED {
		t.Errorf("her village's book: %v %s", r.Outcome, r.Message)
	}
	if r := resp.Results[1]; r.Outcome != v1.Outcome_OUTCOME_REJECTED || r.Code != "permission_denied" {
		t.Errorf("another village's book: %v %s %s, want rejected as in her Sync", r.Outcome, r.Code, r.Message)
	}
	if r := resp.Results[2]; r.Outcome != v1.Outcome_OUTCOME_MERGED || r.Conflicts != 1 {
		t.Errorf("the concurrent edit: %v, %d conflicts, want merged with one", r.Outcome, r.Conflicts)
	}
	log, err := villagesyncv1connect.NewConflictServiceClient(as(staff.reg.Token, ""), e.url).
		ListConflicts(ctx, &v1.ListConflictsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(log.Conflicts) != 1 {
		t.Fatalf("the conflict log: %v", log.Conflicts)
	}
	c := log.Conflicts[0]
	herSide, staffSide := c.WinnerDevice, c.LoserDevice
	if c.WinnerDot.Replica != vol.reg.Replica {
		herSide, staffSide = staffSide, herSide
	}
	if herSide != "王芳-device (carried by 张伟 (张伟-device))" || staffSide != "李老师-device" {
		t.Errorf("the conflict log names her side %q and staff's %q", herSide, staffSide)
	}
	changes, err := villagesyncv1connect.NewAccessServiceClient(as(staff.reg.Token, ""), e.url).
		ListChanges(ctx, &v1.ListChangesRequest{Table: "books", RecordId: mine.Id})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes.Changes) != 1 || changes.Changes[0].User != "王芳" ||
		!strings.Contains(changes.Changes[0].Detail, "carried by 张伟 (张伟-device)") {
		t.Errorf("the trail: %v, want her change carried by 张伟", changes.Changes)
	}

	before := e.state(t)
	again, err := e.carry(staff.reg.Token, "").Carry(ctx, &v1.CarryRequest{File: file})
	if err != nil {
		t.Fatal(err)
	}
	if r := again.Results[0]; r.Outcome != v1.Outcome_OUTCOME_ALREADY_HAD {
		t.Errorf("carried twice: %v, want already had", r.Outcome)
	}
	if after := e.state(t); after != before {
		t.Errorf("carrying the file twice changed the server: %s -> %s", before, after)
	}
}

// A file that fails any check is refused whole with a code and a
// sentence in the caller's language, and nothing of it is applied.
func TestCarryRefusesWholeFiles(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol := e.keyed(t, "王芳", store.Volunteer, true, "南香村")
	keyless := e.keyed(t, "赵敏", store.Volunteer, false, "南香村")
	revoked := e.keyed(t, "钱进", store.Volunteer, true, "南香村")
	if err := e.st.RevokeDevice(ctx, revoked.reg.Replica); err != nil {
		t.Fatal(err)
	}
	carrier := e.keyed(t, "李老师", store.Staff, false)
	stranger, _ := wire.NewBoxKeys()

	good := func(d keyedDevice) *v1.Record { return book(d.reg.Replica, "南香村") }
	push := func(d keyedDevice, edit func(*v1.CarriedPush), changes ...*v1.Record) *v1.CarriedPush {
		p := &v1.CarriedPush{ServerId: e.st.ServerID(), Replica: d.reg.Replica, MadeAtMs: time.Now().UnixMilli(),
			Request: &v1.SyncRequest{Replica: d.reg.Replica, ServerId: e.st.ServerID(), Incarnation: e.st.Incarnation(),
				Changes: changes}}
		if edit != nil {
			edit(p)
		}
		return p
	}
	// resealed is file with its outer layer edited and compressed again.
	resealed := func(file []byte, edit func(*v1.CarriedFile)) []byte {
		zr, err := gzip.NewReader(bytes.NewReader(file))
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(zr)
		f := &v1.CarriedFile{}
		if err := proto.Unmarshal(raw, f); err != nil {
			t.Fatal(err)
		}
		edit(f)
		raw, _ = proto.Marshal(f)
		var out bytes.Buffer
		zw := gzip.NewWriter(&out)
		zw.Write(raw)
		zw.Close()
		return out.Bytes()
	}
	othersWrite := good(vol)
	othersWrite.Fields = append(othersWrite.Fields, &v1.Field{Name: "notes", Value: text("x"),
		Dot: &v1.Dot{Replica: carrier.reg.Replica, Counter: 1, Hlc: hlc.FromTime(timeNow())}})
	othersWrite.Version.Replicas = append(othersWrite.Version.Replicas, carrier.reg.Replica)
	othersWrite.Version.Counters = append(othersWrite.Version.Counters, 1)
	pullFile, err := e.carry(carrier.reg.Token, "").CarryFor(ctx, &v1.CarryForRequest{Replica: vol.reg.Replica})
	if err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name string
		file []byte
		code connect.Code
		want string
	}{
		{"a byte changed in the seal", resealed(e.pushFile(t, vol, good(vol)), func(f *v1.CarriedFile) {
			f.Sealed[len(f.Sealed)/2] ^= 1
		}), connect.CodeInvalidArgument, "cannot be opened"},
		{"a byte changed in the compression", func() []byte {
			f := e.pushFile(t, vol, good(vol))
			f[len(f)/2] ^= 0x40
			return f
		}(), connect.CodeInvalidArgument, "file: the file"},
		{"the outer layer names another device", resealed(e.pushFile(t, vol, good(vol)), func(f *v1.CarriedFile) {
			f.Replica = revoked.reg.Replica + 1000
		}), connect.CodeInvalidArgument, "cannot be opened"},
		{"sealed with another device's key", e.pushFileOf(t, stranger, push(vol, nil, good(vol))),
			connect.CodeInvalidArgument, "cannot be opened"},
		{"a revoked device", e.pushFileOf(t, revoked.keys, push(revoked, nil, good(revoked))),
			connect.CodePermissionDenied, "was revoked"},
		{"a device whose key the server lacks", e.pushFileOf(t, keyless.keys, push(keyless, nil, good(keyless))),
			connect.CodeInvalidArgument, "must sync directly once first"},
		{"another server's file", e.pushFileOf(t, vol.keys, push(vol, func(p *v1.CarriedPush) {
			p.ServerId, p.Request.ServerId = e.st.ServerID()+2, e.st.ServerID()+2
		}, good(vol))), connect.CodeFailedPrecondition, "carry it to the server its device syncs with"},
		{"made before a restore", e.pushFileOf(t, vol.keys, push(vol, func(p *v1.CarriedPush) {
			p.Request.Incarnation = e.st.Incarnation() + 2
		}, good(vol))), connect.CodeFailedPrecondition, "restored from a backup"},
		{"from the restored server's future", e.pushFileOf(t, vol.keys, push(vol, func(p *v1.CarriedPush) {
			p.Request.Cursor = 1 << 40
		}, good(vol))), connect.CodeFailedPrecondition, "restored from an older backup"},
		{"a write of another replica", e.pushFile(t, vol, good(vol), othersWrite),
			connect.CodeInvalidArgument, "carries a write of replica"},
		{"a pull file", pullFile.File, connect.CodeInvalidArgument, "open it on that device"},
		{"no file at all", []byte("hello"), connect.CodeInvalidArgument, "not a villagesync carried file"},
	}
	before := e.state(t)
	for _, tc := range cases {
		for _, lang := range []string{"", "zh-CN"} {
			_, err := e.carry(carrier.reg.Token, lang).Carry(ctx, &v1.CarryRequest{File: tc.file})
			var ce *connect.Error
			switch {
			case !errors.As(err, &ce):
				t.Errorf("%s: %v, want refused", tc.name, err)
			case ce.Code() != tc.code:
				t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
			case lang == "" && !strings.Contains(ce.Message(), tc.want):
				t.Errorf("%s: %q, want it to say %q", tc.name, ce.Message(), tc.want)
			case lang != "" && !hasHan(ce.Message()):
				t.Errorf("%s in Chinese: %q", tc.name, ce.Message())
			}
		}
	}
	if after := e.state(t); after != before {
		t.Errorf("a refused file changed the server: %s -> %s", before, after)
	}
}

// 200 records of a day's work travel in a file well under 100 KB.
func TestCarriedFileOf200Records(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	vol := e.keyed(t, "王芳", store.Volunteer, true, "南香村")
	var changes []*v1.Record
	for range 200 {
		changes = append(changes, book(vol.reg.Replica, "南香村"))
	}
	file := e.pushFile(t, vol, changes...)
	t.Logf("a push file of 200 books: %d bytes", len(file))
	if len(file) > 50<<10 {
		t.Errorf("a push file of 200 books is %d bytes, more than half the 100 KB budget", len(file))
	}
	resp, err := e.carry(vol.reg.Token, "").Carry(context.Background(), &v1.CarryRequest{File: file})
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range resp.Results {
		if r.Outcome != v1.Outcome_OUTCOME_APPLIED {
			t.Fatalf("change %d: %v %s", i, r.Outcome, r.Message)
		}
	}
}

// A pull file holds what the device has not pulled, of its villages
// only, and the acks of its own changes the server has; it opens with
// the device's keys; only staff make one, and not for a revoked device or
// one whose key the server lacks.
func TestCarryFor(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol := e.keyed(t, "王芳", store.Volunteer, true, "南香村")
	staff := e.keyed(t, "李老师", store.Staff, false)
	// She pulled a book of her village (her second sync says she has it);
	// what comes after is what the file holds.
	pulled := book(staff.reg.Replica, "南香村")
	if _, err := staff.sync.Sync(ctx, &v1.SyncRequest{Replica: staff.reg.Replica,
		Changes: []*v1.Record{pulled}}); err != nil {
		t.Fatal(err)
	}
	first, err := vol.sync.Sync(ctx, &v1.SyncRequest{Replica: vol.reg.Replica})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := vol.sync.Sync(ctx, &v1.SyncRequest{Replica: vol.reg.Replica, Cursor: first.NextCursor,
		ScopeHash: first.ScopeHash}); err != nil {
		t.Fatal(err)
	}
	hers, elsewhere := book(staff.reg.Replica, "南香村"), book(staff.reg.Replica, "东旺村")
	if _, err := staff.sync.Sync(ctx, &v1.SyncRequest{Replica: staff.reg.Replica,
		Changes: []*v1.Record{hers, elsewhere}}); err != nil {
		t.Fatal(err)
	}
	own := book(vol.reg.Replica, "南香村")
	if _, err := e.carry(staff.reg.Token, "").Carry(ctx, &v1.CarryRequest{File: e.pushFile(t, vol, own)}); err != nil {
		t.Fatal(err)
	}

	resp, err := e.carry(staff.reg.Token, "").CarryFor(ctx, &v1.CarryForRequest{Replica: vol.reg.Replica})
	if err != nil {
		t.Fatal(err)
	}
	f, err := wire.ReadCarried(resp.File)
	if err != nil {
		t.Fatal(err)
	}
	pull, err := wire.OpenPull(f, vol.keys, e.serverKey(t))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, p := range pull.Pages {
		for _, r := range p.Changes {
			got[r.Id] = true
		}
	}
	if !got[hers.Id] || got[elsewhere.Id] || !got[own.Id] || got[pulled.Id] {
		t.Errorf("the pages hold %v; want her village's new book and her own, never 东旺村's nor what she pulled", got)
	}
	if pull.Replica != vol.reg.Replica || pull.Incarnation != e.st.Incarnation() || pull.FromCursor != first.NextCursor {
		t.Errorf("the file is for replica %d, incarnation %x, from cursor %d", pull.Replica, pull.Incarnation,
			pull.FromCursor)
	}
	if len(pull.Acks) != 1 || pull.Acks[0].Id != own.Id || pull.Acks[0].Counter != 1 || resp.Acks != 1 {
		t.Errorf("acks %v (%d), want her book at counter 1", pull.Acks, resp.Acks)
	}
	if resp.Device != "王芳-device" || int(resp.Records) != len(got) {
		t.Errorf("answered device %q, %d records; the pages hold %d", resp.Device, resp.Records, len(got))
	}
	if _, err := wire.OpenPull(f, staff.keys, e.serverKey(t)); err == nil {
		t.Error("another device's keys opened her pull file")
	}

	keyless := e.keyed(t, "赵敏", store.Volunteer, false, "南香村")
	revoked := e.keyed(t, "钱进", store.Volunteer, true, "南香村")
	if err := e.st.RevokeDevice(ctx, revoked.reg.Replica); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		token   string
		replica uint32
		code    connect.Code
	}{
		{"a volunteer asks", vol.reg.Token, vol.reg.Replica, connect.CodePermissionDenied},
		{"a device without a key", staff.reg.Token, keyless.reg.Replica, connect.CodeFailedPrecondition},
		{"a revoked device", staff.reg.Token, revoked.reg.Replica, connect.CodePermissionDenied},
		{"an unknown device", staff.reg.Token, 999, connect.CodeFailedPrecondition},
	} {
		_, err := e.carry(tc.token, "").CarryFor(ctx, &v1.CarryForRequest{Replica: tc.replica})
		if connect.CodeOf(err) != tc.code {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.code)
		}
	}
}

// A device enrolled before carried files sends its key at a sync and gets
// the server's in that answer only; another key later is refused.
func TestBoxKeyAtSync(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	d := e.keyed(t, "王芳", store.Volunteer, false, "南香村")
	if len(d.reg.ServerBoxPublicKey) != wire.BoxKeySize {
		t.Errorf("enrollment without a key answered server key %x", d.reg.ServerBoxPublicKey)
	}
	resp, err := d.sync.Sync(ctx, &v1.SyncRequest{Replica: d.reg.Replica, BoxPublicKey: d.keys.Public[:]})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.ServerBoxPublicKey, e.serverKey(t)[:]) {
		t.Errorf("a sync with a key answered server key %x", resp.ServerBoxPublicKey)
	}
	if resp, err = d.sync.Sync(ctx, &v1.SyncRequest{Replica: d.reg.Replica}); err != nil ||
		len(resp.ServerBoxPublicKey) != 0 {
		t.Errorf("a sync without a key: %v, server key %x", err, resp.GetServerBoxPublicKey())
	}
	// A short key is refused, and the book sent with it is not applied.
	short := book(d.reg.Replica, "南香村")
	_, err = d.sync.Sync(ctx, &v1.SyncRequest{Replica: d.reg.Replica, BoxPublicKey: []byte{1, 2, 3},
		Changes: []*v1.Record{short}})
	if connect.CodeOf(err) != connect.CodeInvalidArgument || !strings.Contains(err.Error(), "box_public_key") {
		t.Errorf("a short key: %v, want invalid_argument naming box_public_key", err)
	}
	// Another key (a copied token, an old copy of the device's file) does
	// not lock the device out: its book is applied, the kept key stands,
	// and the answer holds no server key.
	other, _ := wire.NewBoxKeys()
	mine := book(d.reg.Replica, "南香村")
	resp, err = d.sync.Sync(ctx, &v1.SyncRequest{Replica: d.reg.Replica, BoxPublicKey: other.Public[:],
		Changes: []*v1.Record{mine}})
	if err != nil {
		t.Fatalf("a sync with another key: %v", err)
	}
	if len(resp.Results) != 1 || resp.Results[0].Outcome != v1.Outcome_OUTCOME_APPLIED {
		t.Errorf("the book sent with another key: %v", resp.Results)
	}
	if len(resp.ServerBoxPublicKey) != 0 {
		t.Errorf("a sync with another key answered the server key %x", resp.ServerBoxPublicKey)
	}
	staff := e.keyed(t, "李老师", store.Staff, false)
	seen := map[string]bool{}
	for _, pg := range e.openPull(t, staff, d).Pages { // sealed for the kept key: opens with it
		for _, r := range pg.Changes {
			seen[r.Id] = true
		}
	}
	if !seen[mine.Id] || seen[short.Id] {
		t.Errorf("the server holds the book of the other key's sync %v and of the short key's %v, want yes and no",
			seen[mine.Id], seen[short.Id])
	}
	if _, err := e.carry(staff.reg.Token, "").Carry(ctx, &v1.CarryRequest{File: e.pushFile(t, d,
		book(d.reg.Replica, "南香村"))}); err != nil {
		t.Errorf("a file sealed with the kept key: %v", err)
	}
	// Staff reset the key; the next one the device sends is kept.
	if _, err := villagesyncv1connect.NewAccessServiceClient(as(staff.reg.Token, ""), e.url).
		ResetBoxKey(ctx, &v1.ResetBoxKeyRequest{Replica: d.reg.Replica}); err != nil {
		t.Fatal(err)
	}
	if resp, err = d.sync.Sync(ctx, &v1.SyncRequest{Replica: d.reg.Replica, BoxPublicKey: other.Public[:]}); err != nil ||
		!bytes.Equal(resp.ServerBoxPublicKey, e.serverKey(t)[:]) {
		t.Errorf("a sync with the new key after the reset: %v, server key %x", err, resp.GetServerBoxPublicKey())
	}
	if _, err := villagesyncv1connect.NewAccessServiceClient(as(d.reg.Token, ""), e.url).
		ResetBoxKey(ctx, &v1.ResetBoxKeyRequest{Replica: d.reg.Replica}); connect.CodeOf(err) != connect.CodePermissionDenied {
		t.Errorf("a volunteer resets a key: %v, want permission_denied", err)
	}
}

// A carrier of another village learns what became of each change, not the
// device's data: no Current (the merged record staff wrote), and a
// refusal's sentence, which may quote values, only by its code.
func TestCarryShowsTheCarrierNoData(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol := e.keyed(t, "王芳", store.Volunteer, true, "南香村")
	carrier := e.keyed(t, "张伟", store.Volunteer, false, "东旺村")
	staff := e.keyed(t, "李老师", store.Staff, false)
	shared := book(staff.reg.Replica, "南香村")
	shared.Fields = append(shared.Fields, &v1.Field{Name: "author", Value: text("圣埃克苏佩里-秘密"),
		Dot: shared.Fields[0].Dot})
	if _, err := staff.sync.Sync(ctx, &v1.SyncRequest{Replica: staff.reg.Replica,
		Changes: []*v1.Record{shared}}); err != nil {
		t.Fatal(err)
	}
	edit := change(vol.reg.Replica, "books", shared.Id, "title", text("小王子（新版）"))
	file := e.pushFile(t, vol, edit, book(vol.reg.Replica, "东旺村-秘密村"))
	for _, lang := range []string{"", "zh-CN"} {
		resp, err := e.carry(carrier.reg.Token, lang).Carry(ctx, &v1.CarryRequest{File: file})
		if err != nil {
			t.Fatal(err)
		}
		if len(resp.Results) != 2 || resp.Results[1].Outcome != v1.Outcome_OUTCOME_REJECTED ||
			resp.Results[1].Code != "permission_denied" {
			t.Fatalf("carry answered %v", resp.Results)
		}
		for _, r := range resp.Results {
			if r.Current != nil {
				t.Errorf("result %d hands the carrier the record %v", r.Index, r.Current)
			}
		}
		raw, _ := proto.Marshal(resp)
		for _, secret := range []string{"圣埃克苏佩里-秘密", "秘密村", "children"} {
			if bytes.Contains(raw, []byte(secret)) {
				t.Errorf("%q in the carrier's answer: %v", secret, resp)
			}
		}
		if m := resp.Results[1].Message; !strings.Contains(m, "permission_denied") ||
			lang != "" && !hasHan(m) {
			t.Errorf("the carrier's refusal reads %q", m)
		}
	}
}

// Until a file's seal opens its outer layer is anybody's writing: the
// answer names neither the device nor its user, and is the same for a
// revoked device, one without a key and one never enrolled, so no
// enrolled device can ask who is enrolled or revoked.
func TestCarryOfAnUnopenedFileNamesNobody(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	revoked := e.keyed(t, "钱进", store.Volunteer, true, "南香村")
	keyless := e.keyed(t, "赵敏", store.Volunteer, false, "南香村")
	if err := e.st.RevokeDevice(ctx, revoked.reg.Replica); err != nil {
		t.Fatal(err)
	}
	attacker := e.keyed(t, "张伟", store.Volunteer, false, "东旺村")
	junk := func(replica uint32) []byte {
		raw, _ := proto.Marshal(&v1.CarriedFile{Magic: wire.CarriedMagic, Format: wire.CarriedFormat,
			Kind: v1.CarriedKind_CARRIED_KIND_PUSH, ServerId: e.st.ServerID(), Replica: replica,
			Nonce: make([]byte, 24), Sealed: []byte("junk, not sealed by anyone")})
		return gzipBytes(t, raw)
	}
	var answers []string
	for _, tc := range []struct {
		name    string
		replica uint32
	}{
		{"revoked", revoked.reg.Replica}, {"keyless", keyless.reg.Replica}, {"never enrolled", 9999},
	} {
		_, err := e.carry(attacker.reg.Token, "").Carry(ctx, &v1.CarryRequest{File: junk(tc.replica)})
		for _, name := range []string{"钱进", "赵敏", "-device", "revoked", "key"} {
			if err == nil || strings.Contains(err.Error(), name) {
				t.Errorf("%s: %v names %q", tc.name, err, name)
			}
		}
		answers = append(answers, connect.CodeOf(err).String()+" "+err.Error())
	}
	if answers[0] != answers[1] || answers[1] != answers[2] {
		t.Errorf("the answers tell the devices apart: %q", answers)
	}
}

func gzipBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// openPull is the pull file made for d, opened as d would.
func (e *accessEnv) openPull(t *testing.T, staff keyedDevice, d keyedDevice) *v1.CarriedPull {
	t.Helper()
	resp, err := e.carry(staff.reg.Token, "").CarryFor(context.Background(), &v1.CarryForRequest{Replica: d.reg.Replica})
	if err != nil {
		t.Fatal(err)
	}
	f, err := wire.ReadCarried(resp.File)
	if err != nil {
		t.Fatal(err)
	}
	p, err := wire.OpenPull(f, d.keys, e.serverKey(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// A device that only ever syncs by file moves on: its push file's cursor
// (what it imported of the last pull file) is noted as a sync of it, so
// the next pull file starts there, and a backlog larger than one file
// arrives in two rounds, every record once.
func TestPullFilesMoveOn(t *testing.T) {
	rpc.SetPullFileBudget(t, 1) // one page a file
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol := e.keyed(t, "王芳", store.Volunteer, true, "南香村")
	staff := e.keyed(t, "李老师", store.Staff, false)
	wrote := map[string]bool{}
	for range 2 {
		var books []*v1.Record
		for range 600 {
			b := book(staff.reg.Replica, "南香村")
			wrote[b.Id] = true
			books = append(books, b)
		}
		if _, err := staff.sync.Sync(ctx, &v1.SyncRequest{Replica: staff.reg.Replica, Changes: books}); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]int{}
	var cursor uint64
	for round := 1; ; round++ {
		p := e.openPull(t, staff, vol)
		if p.FromCursor != cursor {
			t.Fatalf("round %d: the pull file starts at %d, the device imported up to %d", round, p.FromCursor, cursor)
		}
		last := p.Pages[len(p.Pages)-1]
		for _, pg := range p.Pages {
			for _, r := range pg.Changes {
				got[r.Id]++
			}
		}
		cursor = last.NextCursor
		// The device imports it and sends its next push file from there.
		file := e.pushFileOf(t, vol.keys, &v1.CarriedPush{ServerId: e.st.ServerID(), Replica: vol.reg.Replica,
			MadeAtMs: time.Now().UnixMilli(), Request: &v1.SyncRequest{Replica: vol.reg.Replica,
				ServerId: e.st.ServerID(), Incarnation: e.st.Incarnation(), Cursor: cursor}})
		if _, err := e.carry(staff.reg.Token, "").Carry(ctx, &v1.CarryRequest{File: file}); err != nil {
			t.Fatal(err)
		}
		if !last.HasMore {
			if round != 2 {
				t.Errorf("%d rounds, want 2 (one page a file)", round)
			}
			break
		}
		if round > 2 {
			t.Fatalf("round %d still has more", round)
		}
	}
	for id := range wrote {
		if got[id] != 1 {
			t.Errorf("book %s arrived %d times", id, got[id])
		}
	}
}

// A pull file says the scope it was made for, as the device's Sync
// computes it, so a device whose villages changed since refuses it.
func TestPullFileScopeHash(t *testing.T) {
	e := startAccess(t, rpc.Limits{})
	ctx := context.Background()
	vol := e.keyed(t, "王芳", store.Volunteer, true, "南香村")
	staff := e.keyed(t, "李老师", store.Staff, false)
	resp, err := vol.sync.Sync(ctx, &v1.SyncRequest{Replica: vol.reg.Replica})
	if err != nil {
		t.Fatal(err)
	}
	if p := e.openPull(t, staff, vol); resp.ScopeHash == 0 || p.ScopeHash != resp.ScopeHash {
		t.Errorf("the pull file's scope hash %x, her Sync's %x", p.ScopeHash, resp.ScopeHash)
	}
}
