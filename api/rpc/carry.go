package rpc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"connectrpc.com/connect"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// CarryService implements CarryService: the hand-carried files of issue
// 15. The store keeps the keys; sealing and opening is api/wire's.
type CarryService struct{ *Service }

// pullFileBudget bounds the pages of one pull file before sealing (they
// compress well): under wire.MaxCarriedBytes however they compress, so a
// device far behind takes what fits and the rest next time.
// A var so a test can make a backlog that takes two files.
var pullFileBudget = 6 << 20

// refuseMessage is a refusal whose sentence is err's: a *schema.Message
// (api/wire's refusals) keeps its format, so Localize says it in the
// caller's language.
func refuseMessage(code connect.Code, field string, err error) *connect.Error {
	p := record.Problemf(record.Code(code.String()), field, "%v", err)
	var m *schema.Message
	if errors.As(err, &m) {
		p.ZH = m.In(schema.ZH)
	}
	return connect.NewError(code, p)
}

func (c *CarryService) serverKeys() wire.BoxKeys {
	pub, priv := c.Store.BoxKeys()
	var k wire.BoxKeys
	k.Public, k.Private = new([wire.BoxKeySize]byte), new([wire.BoxKeySize]byte)
	copy(k.Public[:], pub)
	copy(k.Private[:], priv)
	return k
}

// carriedDevice is the device a file is from (field "file") or for
// ("replica"), refused when no file can be opened or made for it: one the
// server never enrolled, a revoked one, one whose key it does not have.
func (c *CarryService) carriedDevice(ctx context.Context, replica uint32, field string) (store.CarriedDevice,
	*[wire.BoxKeySize]byte, error) {
	d, err := c.Store.CarriedDevice(ctx, replica)
	if errors.Is(err, store.ErrUnknownReplica) || err == nil && !d.Enrolled {
		return d, nil, refuse(connect.CodeFailedPrecondition, field,
			"device %d was never enrolled on this server (server %016x): a file goes to and from its device's own server",
			replica, c.Store.ServerID())
	}
	if err != nil {
		return d, nil, c.toConnect(err)
	}
	if d.Revoked {
		return d, nil, refuse(connect.CodePermissionDenied, field,
			"device %s (replica %d, user %s) was revoked: the server takes nothing from it and makes nothing for it",
			d.Device, d.Replica, d.User)
	}
	key, err := wire.BoxKey(d.BoxKey)
	if err != nil {
		return d, nil, c.internal(fmt.Errorf("the kept box key of replica %d: %w", replica, err))
	}
	if key == nil {
		return d, nil, refuse(connect.CodeFailedPrecondition, field,
			"the server has no key of device %s (replica %d) yet: sync the device directly once "+
				"(it sends its key then), and carry its files after that", d.Device, d.Replica)
	}
	return d, key, nil
}

// errNotOpened is Carry's one answer for a file it cannot open: a device
// never enrolled, one whose key the server lacks, or a seal that fails.
// Until the seal opens, the outer layer is anybody's writing, so the
// answer says nothing of the device it names (not its name, user, or
// whether it is revoked) and is the same for each: otherwise any enrolled
// device could ask, replica by replica, who is enrolled and revoked.
var errNotOpened = schema.Messagef("the file cannot be opened: its device is unknown to this server or not ready " +
	"for carried files (it must sync directly once first), or the file is damaged or was changed on the way: " +
	"nothing was applied; make it again on the device, or sync the device directly")

// openPush opens the push file f with the key of the device it names.
// Only a file that opens (the device's own, unaltered) learns what the
// server knows of the device, a revoked one included.
func (c *CarryService) openPush(ctx context.Context, f *v1.CarriedFile) (store.CarriedDevice, *v1.CarriedPush, error) {
	notOpened := refuseMessage(connect.CodeInvalidArgument, "file", errNotOpened)
	d, err := c.Store.CarriedDevice(ctx, f.GetReplica())
	if errors.Is(err, store.ErrUnknownReplica) || err == nil && !d.Enrolled {
		return d, nil, notOpened
	}
	if err != nil {
		return d, nil, c.toConnect(err)
	}
	key, err := wire.BoxKey(d.BoxKey)
	if err != nil {
		return d, nil, c.internal(fmt.Errorf("the kept box key of replica %d: %w", d.Replica, err))
	}
	if key == nil {
		return d, nil, notOpened
	}
	push, err := wire.OpenPush(f, c.serverKeys(), key)
	if err != nil {
		return d, nil, notOpened
	}
	if d.Revoked {
		return d, nil, refuse(connect.CodePermissionDenied, "file",
			"device %s (replica %d, user %s) was revoked: the server takes nothing from it and makes nothing for it",
			d.Device, d.Replica, d.User)
	}
	return d, push, nil
}

// Carry applies a device's push file as that device, audited as carried
// by the caller. A file is refused whole, nothing applied, unless it
// opens with the device's key, is for this server and this incarnation,
// and carries only the device's own writes.
func (c *CarryService) Carry(ctx context.Context, req *v1.CarryRequest) (*v1.CarryResponse, error) {
	carrier, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	f, err := wire.ReadCarried(req.GetFile())
	if err != nil {
		return nil, refuseMessage(connect.CodeInvalidArgument, "file", err)
	}
	if f.GetKind() != v1.CarriedKind_CARRIED_KIND_PUSH {
		return nil, refuse(connect.CodeInvalidArgument, "file",
			"this file is not a device's changes but the server's updates for device %d: open it on that device",
			f.GetReplica())
	}
	if sid := f.GetServerId(); sid != c.Store.ServerID() {
		return nil, refuse(connect.CodeFailedPrecondition, "file",
			"the file is for server %016x, but this is server %016x: carry it to the server its device syncs with "+
				"(nothing was applied)", sid, c.Store.ServerID())
	}
	d, push, err := c.openPush(ctx, f)
	if err != nil {
		return nil, err
	}
	sreq := push.GetRequest()
	if v := max(int(sreq.GetSchemaVersion()), 1); v < oldestApp {
		return nil, refuse(connect.CodeFailedPrecondition, "schema_version",
			"this app has schema version %d and this server serves %d and newer; update the app (nothing was changed)",
			v, oldestApp)
	}
	if sid := sreq.GetServerId(); sid != 0 && sid != c.Store.ServerID() {
		return nil, refuseMessage(connect.CodeInvalidArgument, "file", wire.ErrCarriedDamaged)
	}
	// A restored server may lack writes it acknowledged: the device must
	// sync directly, pushing all its writes again, and nothing may be
	// built on a state from before the restore or past what it now has.
	if inc := sreq.GetIncarnation(); inc != 0 && inc != c.Store.Incarnation() {
		return nil, refuse(connect.CodeFailedPrecondition, "file",
			"the file was made before this server was restored from a backup, so it may build on changes the server "+
				"no longer has: nothing was applied; sync device %s directly (it sends all its changes again)", d.Device)
	}
	if err := c.Store.CheckCursor(sreq.GetCursor()); err != nil {
		return nil, refuse(connect.CodeFailedPrecondition, "file",
			"the file's device %s has seen this server's changes up to %d, more than the server has "+
				"(it was restored from an older backup): nothing was applied; sync the device directly",
			d.Device, sreq.GetCursor())
	}
	if n := len(sreq.GetChanges()); n > protocol.MaxChanges {
		return nil, refuse(connect.CodeInvalidArgument, "file",
			"%d changes in one file, the limit is %d; make several files on the device", n, protocol.MaxChanges)
	}
	preq := wire.FromRequest(sreq)
	// A file holds its device's own writes only; one carrying another's
	// (which a Sync would refuse change by change) is no file its device
	// made, and is refused whole.
	for i, ch := range preq.Changes {
		if ch.Record == nil {
			continue
		}
		for _, name := range ch.Record.FieldNames() {
			if r := ch.Record.Fields[name].Dot.Replica; r != d.Replica {
				return nil, otherWrite(i, ch.Record, r, d.Replica)
			}
		}
		if t := ch.Record.Tombstone; t != nil && t.Dot.Replica != d.Replica {
			return nil, otherWrite(i, ch.Record, t.Dot.Replica, d.Replica)
		}
	}
	// The file passed every check: its device has stored what it pulled
	// up to the cursor it sent, as a Sync of it says. Noted as a sync of it
	// (when the file was made, or now for a clock ahead) so the next pull
	// file starts there, and the horizon does not pass a device that only
	// ever syncs by file.
	if sreq.GetCursor() >= d.LastCursor {
		at := time.Now()
		if made := time.UnixMilli(push.GetMadeAtMs()); made.Before(at) {
			at = made
		}
		c.Store.SeenAt(d.Replica, sreq.GetCursor(), at)
	}
	p := d.Principal
	p.CarriedBy = fmt.Sprintf("%s (%s)", carrier.User, carrier.Device)
	changes := make([]*record.Record, len(preq.Changes))
	results := make([]protocol.Result, len(changes))
	// A change the server took before is one carried (or synced) before:
	// the store answers a replay with what the first push was told, as a
	// device retrying a lost response needs, and the carrier is told
	// instead that the server had it.
	carried := make([]bool, len(changes))
	for i, ch := range preq.Changes {
		if ch.Problem != nil {
			results[i] = protocol.Result{Outcome: record.Rejected, Problem: ch.Problem}
			continue
		}
		changes[i] = ch.Record
		if carried[i], err = c.Store.Acked(ctx, d.Replica, ch.Record.Table, ch.Record.ID,
			ch.Record.Version[d.Replica]); err != nil {
			return nil, c.toConnect(err)
		}
	}
	if len(changes) > 0 {
		pushed, err := c.Store.Push(ctx, p, changes)
		if err != nil {
			return nil, c.toConnect(err)
		}
		for i, r := range pushed {
			if changes[i] != nil {
				results[i] = r
			}
			if carried[i] && r.Outcome != record.Rejected {
				results[i].Outcome = record.AlreadyHad
			}
		}
	}
	c.observe(preq.Changes, results, 0)
	m := wire.Response(&protocol.Response{Results: results})
	// The carrier may be anyone enrolled, of any village: she is told what
	// became of each change, never the device's data. Current (the
	// server's record after a merge, or as it stands) is left out, and a
	// refusal's sentence (which may quote a value) only goes to the
	// device's own user; another carrier reads a sentence by its code.
	own := carrier.UserID != 0 && carrier.UserID == d.UserID
	l := requestLang(ctx)
	for i, res := range results {
		m.Results[i].Current = nil
		switch {
		case res.Problem == nil:
		case !own:
			m.Results[i].Message = schema.Messagef("the server refused this change (%s); "+
				"the device shows why at its next direct sync", res.Problem.Code).In(l)
		case l != schema.EN:
			m.Results[i].Message = res.Problem.In(l)
		}
	}
	c.log().Info("carried file applied", "replica", d.Replica, "device", d.Device, "carrier", carrier.Replica,
		"changes", len(changes))
	return &v1.CarryResponse{Replica: d.Replica, Device: d.Device, User: d.User, Results: m.Results}, nil
}

func otherWrite(i int, r *record.Record, other, device uint32) error {
	return refuse(connect.CodeInvalidArgument, "file",
		"change %d (%s %s) carries a write of replica %d, not of the file's device %d: a carried file holds only "+
			"its device's own writes; nothing was applied", i, r.Table, r.ID, other, device)
}

// CarryFor makes a pull file for a device: the pages a Sync of it would
// pull from its last known cursor, in its villages, and the acks of its
// own changes the server has, sealed for its key.
func (c *CarryService) CarryFor(ctx context.Context, req *v1.CarryForRequest) (*v1.CarryForResponse, error) {
	staffer, err := caller(ctx)
	if err != nil {
		return nil, err
	}
	if req.GetReplica() == 0 {
		return nil, refuse(connect.CodeInvalidArgument, "replica", "missing")
	}
	// The cursor the device reached at its last sync may be noted in
	// memory only (Store.Seen): written first, so the file starts there.
	if err := c.Store.FlushSeen(ctx); err != nil {
		return nil, c.toConnect(err)
	}
	d, key, err := c.carriedDevice(ctx, req.GetReplica(), "replica")
	if err != nil {
		return nil, err
	}
	horizon, err := c.Store.Horizon(ctx)
	if err != nil {
		return nil, c.toConnect(err)
	}
	if d.LastCursor != 0 && d.LastCursor < horizon {
		return nil, refuse(connect.CodeFailedPrecondition, "replica",
			"device %s was away while the server forgot deleted records it has not seen: "+
				"it must pull everything again, which a file cannot do; sync it directly", d.Device)
	}
	pull := &v1.CarriedPull{ServerId: c.Store.ServerID(), Replica: d.Replica, MadeAtMs: time.Now().UnixMilli(),
		Incarnation: c.Store.Incarnation(), FromCursor: d.LastCursor, ScopeHash: store.ScopeHash(d.Principal)}
	records, size := 0, 0
	for cursor := d.LastCursor; ; {
		// The device's own states come too (all): a carried push has no
		// results to hand back what a merge of its changes made.
		page, err := c.Store.Pull(ctx, d.Principal, cursor, 0, true)
		if err != nil {
			return nil, c.toConnect(err)
		}
		m := wire.Response(&protocol.Response{ServerID: c.Store.ServerID(), Incarnation: c.Store.Incarnation(),
			ServerHLC: c.Store.Clock().Now(), Horizon: horizon, NextCursor: page.Next, HasMore: page.HasMore,
			Records: page.Records, Evicted: page.Evicted, SchemaVersion: schema.Version, OldestApp: oldestApp})
		pull.Pages = append(pull.Pages, m)
		records += len(page.Records)
		size += proto.Size(m)
		if !page.HasMore || page.Next <= cursor || size > pullFileBudget {
			break
		}
		cursor = page.Next
	}
	acks, err := c.Store.Acks(ctx, d.Replica)
	if err != nil {
		return nil, c.toConnect(err)
	}
	for _, a := range acks {
		pull.Acks = append(pull.Acks, &v1.CarriedAck{Table: a.Table, Id: a.ID, Counter: a.Counter})
	}
	file, err := wire.SealPull(pull, c.serverKeys(), key)
	if err != nil {
		return nil, c.internal(err)
	}
	c.log().Info("pull file made", "replica", d.Replica, "device", d.Device, "by", staffer.Replica,
		"records", records, "acks", len(acks), "bytes", len(file))
	return &v1.CarryForResponse{File: file, Device: d.Device, Records: uint32(records), Acks: uint32(len(acks))}, nil
}
