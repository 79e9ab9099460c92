package replica

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// carryDevice is fakeDevice (server 9, incarnation 3, cursor 40) that
// knows the test server's key, as after enrolling with it.
func carryDevice(t *testing.T, tr Transport) (*Replica, wire.BoxKeys) {
	t.Helper()
	d := fakeDevice(t, tr)
	server, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.learnServerBoxKey(context.Background(), server.Public[:]); err != nil {
		t.Fatal(err)
	}
	return d, server
}

func session(t *testing.T, d *Replica, photo bool) string {
	t.Helper()
	v := map[string]schema.Value{"village": schema.TextValue("南香村"),
		"session_date": schema.TextValue("2024-06-03"), "children_present": schema.IntValue(30)}
	if photo {
		v["sheet_photos"] = schema.TextValue(strings.Repeat("ab", 32))
	}
	id, err := d.Put(context.Background(), "tutoring_sessions", "", v)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// A file made before hand-carried sync gets a key pair when opened, and
// keeps it; the public half rides on syncs until the server's key is
// known, and then no more.
func TestBoxKeysMadeOnceAndSentUntilKnown(t *testing.T) {
	ctx := context.Background()
	d := fakeDevice(t, &scripted{})
	pub := d.BoxPublicKey()
	if len(pub) != wire.BoxKeySize || bytes.Equal(pub, make([]byte, wire.BoxKeySize)) {
		t.Fatalf("public key %x", pub)
	}
	if got := d.boxKeyToSend(); !bytes.Equal(got, pub) {
		t.Errorf("before the server's key is known, sends %x; want the public key", got)
	}
	var priv string
	if err := d.db.R.QueryRow(`SELECT value FROM meta WHERE key = 'box_private'`).Scan(&priv); err != nil || priv == "" {
		t.Fatalf("private key kept: %q %v", priv, err)
	}
	if err := d.ensureBoxKeys(ctx); err != nil || !bytes.Equal(d.BoxPublicKey(), pub) {
		t.Errorf("loading again made another key (%v)", err)
	}
	if _, _, err := d.CarryOut(ctx); !errors.Is(err, errNoServerKey) {
		t.Errorf("carry-out without the server's key: %v; want %v", err, errNoServerKey)
	}
	server, _ := wire.NewBoxKeys()
	if err := d.learnServerBoxKey(ctx, server.Public[:]); err != nil {
		t.Fatal(err)
	}
	other, _ := wire.NewBoxKeys()
	if err := d.learnServerBoxKey(ctx, other.Public[:]); err != nil {
		t.Fatal(err)
	}
	if got := d.serverBoxKey(); got == nil || *got != *server.Public {
		t.Errorf("server key %x; want the first one learned, kept", got)
	}
	if got := d.boxKeyToSend(); got != nil {
		t.Errorf("after the server's key is known, still sends %x", got)
	}
	if err := d.learnServerBoxKey(ctx, []byte{1, 2}); err == nil {
		t.Error("a 2-byte server key was taken")
	}
}

// A push file holds exactly what the next Sync pushes (held-back changes
// left out), opens only with the server's key, and leaves the changes
// pending.
func TestCarryOutIsTheNextPush(t *testing.T) {
	ctx := context.Background()
	srv := &scripted{}
	d, server := carryDevice(t, srv)
	session(t, d, true) // writes a column of schema 2: held back for a server of 1
	a, b := session(t, d, false), session(t, d, false)

	file, st, err := d.CarryOut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Changes != 2 || st.Held != 1 || st.More != 0 || st.Bytes != len(file) {
		t.Errorf("stats %+v; want 2 changes, 1 held", st)
	}
	if !strings.Contains(st.String(), "stay pending") {
		t.Errorf("stats say %q; want that the changes stay pending", st)
	}
	f, err := wire.ReadCarried(file)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != v1.CarriedKind_CARRIED_KIND_PUSH || f.Replica != 7 || f.ServerId != 9 {
		t.Errorf("outer layer %v", f)
	}
	if _, err := wire.OpenPush(f, server, mustKey(t, nil)); !errors.Is(err, wire.ErrCarriedDamaged) {
		t.Errorf("opened with another device's key: %v", err)
	}
	p, err := wire.OpenPush(f, server, d.box.Public)
	if err != nil {
		t.Fatal(err)
	}
	// The sealed file is compressed and encrypted, so searching it says
	// nothing: search the opened payload, raw and in the forms a key
	// would be written in (meta keeps it in base64).
	plain := mustMarshal(t, p)
	for form, key := range map[string][]byte{"raw": d.box.Private[:],
		"hex":       []byte(hex.EncodeToString(d.box.Private[:])),
		"base64":    []byte(base64.StdEncoding.EncodeToString(d.box.Private[:])),
		"base64url": []byte(base64.RawURLEncoding.EncodeToString(d.box.Private[:]))} {
		if bytes.Contains(plain, key) || bytes.Contains([]byte(p.String()), key) {
			t.Errorf("the file's payload holds the device's private key (%s)", form)
		}
	}
	// The check can find a key where one is: the same search finds the
	// public key's bytes in a request that carries it.
	if !bytes.Contains(mustMarshal(t, &v1.SyncRequest{BoxPublicKey: d.box.Public[:]}), d.box.Public[:]) {
		t.Error("the key search cannot find a key in a payload")
	}
	s, err := d.Status(ctx)
	if err != nil || s.Pending["tutoring_sessions"] != 3 {
		t.Errorf("after carry-out: pending %v %v; want all 3 still pending", s.Pending, err)
	}

	// The next Sync pushes the same request.
	srv.answer(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: 42, SchemaVersion: 1,
		Results: []protocol.Result{{Outcome: record.AlreadyHad, Seq: 41}, {Outcome: record.AlreadyHad, Seq: 42}}}, 1)
	if _, err := d.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := srv.next()
	if len(reqs) != 1 || !proto.Equal(wire.Request(reqs[0]), p.Request) {
		t.Fatalf("the sync after carry-out pushed\n%v\nthe file holds\n%v", reqs, p.Request)
	}
	if ids := []string{p.Request.Changes[0].Id, p.Request.Changes[1].Id}; ids[0] != min(a, b) || ids[1] != max(a, b) {
		t.Errorf("changes %v; want %s, %s in id order", ids, a, b)
	}
}

func mustKey(t *testing.T, k *[wire.BoxKeySize]byte) *[wire.BoxKeySize]byte {
	t.Helper()
	if k != nil {
		return k
	}
	keys, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	return keys.Public
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// pulled is a record of another device, as a page carries it at seq.
func pulled(seq uint64) *record.Record {
	dot := vv.Dot{Replica: 5, Counter: 1, HLC: 1}
	return &record.Record{Table: "tutoring_sessions", ID: uuid.Must(uuid.NewV7()).String(), Version: vv.VV{5: 1},
		Seq: seq, Fields: map[string]record.Field{
			"village":          {Value: schema.TextValue("南香村"), Dot: dot},
			"session_date":     {Value: schema.TextValue("2024-06-01"), Dot: dot},
			"children_present": {Value: schema.IntValue(12), Dot: dot}}}
}

func page(recs []*record.Record, next uint64, more bool) *v1.SyncResponse {
	return wire.Response(&protocol.Response{ServerID: 9, Incarnation: 3, NextCursor: next, HasMore: more,
		SchemaVersion: 2, Records: recs})
}

// A pull file applies like the pages it holds: pages at or before the
// cursor are no-ops, the acks confirm own changes (not writes made since),
// and the same file again changes nothing. Files for another device or
// server, of another incarnation, with a gap before them, damaged or
// sealed by another key are refused whole.
func TestCarryIn(t *testing.T) {
	ctx := context.Background()
	d, server := carryDevice(t, &scripted{})
	mine, later := session(t, d, false), session(t, d, false)
	if _, err := d.Put(ctx, "tutoring_sessions", later, map[string]schema.Value{
		"children_present": schema.IntValue(31)}); err != nil {
		t.Fatal(err)
	}
	old, straddle, fresh := pulled(39), pulled(40), pulled(41)
	good := &v1.CarriedPull{ServerId: 9, Replica: 7, MadeAtMs: 1, Incarnation: 3, FromCursor: 35, ScopeHash: 77,
		Pages: []*v1.SyncResponse{page([]*record.Record{old}, 39, true),
			page([]*record.Record{straddle, fresh}, 41, true), page(nil, 42, false)},
		Acks: []*v1.CarriedAck{{Table: "tutoring_sessions", Id: mine, Counter: 1},
			{Table: "tutoring_sessions", Id: later, Counter: 1}}}
	seal := func(p *v1.CarriedPull, keys wire.BoxKeys) []byte {
		t.Helper()
		f, err := wire.SealPull(proto.Clone(p).(*v1.CarriedPull), keys, d.box.Public)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	with := func(edit func(p *v1.CarriedPull)) []byte {
		p := proto.Clone(good).(*v1.CarriedPull)
		edit(p)
		return seal(p, server)
	}
	tampered := seal(good, server)
	tampered = append([]byte(nil), tampered...)
	tampered[len(tampered)/2] ^= 1
	otherServer, _ := wire.NewBoxKeys()
	pushFile, _, err := d.CarryOut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		file []byte
		want string
		// fullPull puts the device part-way through a full pull for the
		// case (meta full_pull = 1, restored after).
		fullPull bool
	}{
		{"another device", with(func(p *v1.CarriedPull) { p.Replica = 8 }), "for device 8", false},
		{"another server", with(func(p *v1.CarriedPull) { p.ServerId = 10 }), "another server", false},
		{"another incarnation", with(func(p *v1.CarriedPull) { p.Incarnation = 4 }), "restored", false},
		{"a gap before it", with(func(p *v1.CarriedPull) { p.FromCursor = 41 }), "sync directly or ask for a new file", false},
		{"tampered", tampered, "", false},
		{"sealed by another key", seal(good, otherServer), "damaged", false},
		{"a push file", pushFile, "villagesync carry", false},
		{"part-way through a re-pull", seal(good, server), "part-way through pulling", true},
		// The outer kind is in the clear: a pull file relabelled push is
		// read as a push file, a push file relabelled pull fails its seal.
		{"a pull file relabelled push", outerKind(t, seal(good, server), v1.CarriedKind_CARRIED_KIND_PUSH),
			"villagesync carry", false},
		{"a push file relabelled pull", outerKind(t, pushFile, v1.CarriedKind_CARRIED_KIND_PULL), "damaged", false},
		// Made for her villages of the time (hash 76); the device has
		// since learnt they changed (77).
		{"a record of an unknown table", with(func(p *v1.CarriedPull) { p.Pages[1].Changes[0].Table = "no_such" }),
			"does not know (no_such)", false},
		{"villages changed since", with(func(p *v1.CarriedPull) { p.ScopeHash = 76 }), "villages changed", false},
		{"a page of another incarnation", with(func(p *v1.CarriedPull) { p.Pages[1].Incarnation = 4 }), "damaged", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.fullPull {
				var was sql.NullString
				d.db.R.QueryRow(`SELECT value FROM meta WHERE key = 'full_pull'`).Scan(&was)
				if _, err := d.db.W.Exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('full_pull', '1')`); err != nil {
					t.Fatal(err)
				}
				defer d.db.W.Exec(`INSERT OR REPLACE INTO meta (key, value) VALUES ('full_pull', ?)`, was.String)
			}
			before := stateOf(t, d)
			if _, err := d.CarryIn(ctx, c.file); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("refusal %v; want one saying %q", err, c.want)
			}
			if after := stateOf(t, d); after != before {
				t.Errorf("a refused file changed the device:\n%s\nwas\n%s", after, before)
			}
		})
	}

	file := seal(good, server)
	st, err := d.CarryIn(ctx, file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Pages != 2 || st.Skipped != 1 || st.Pulled != 1 || st.Acked != 2 || st.From != 40 || st.To != 42 {
		t.Errorf("stats %+v; want 2 pages applied (1 skipped), 1 record, 2 acked, cursor 40 -> 42", st)
	}
	for id, want := range map[string]bool{old.ID: false, straddle.ID: false, fresh.ID: true} {
		if rec, err := d.Get(ctx, "tutoring_sessions", id); err != nil || (rec != nil) != want {
			t.Errorf("record %s on the device: %v (%v); want %v", id, rec != nil, err, want)
		}
	}
	s, err := d.Status(ctx)
	if err != nil || s.Pending["tutoring_sessions"] != 1 {
		t.Errorf("pending %v %v; want only the record written after the acknowledged write", s.Pending, err)
	}
	before := stateOf(t, d)
	if st, err = d.CarryIn(ctx, file); err != nil || st.Pages != 0 || st.Acked != 0 || !strings.Contains(st.String(), "nothing new") {
		t.Errorf("the same file again: %v %v; want nothing new", st, err)
	}
	if after := stateOf(t, d); after != before {
		t.Errorf("the same file again changed the device:\n%s\nwas\n%s", after, before)
	}
}

// stateOf is the device's rows and meta, for "nothing changed" checks.
func stateOf(t *testing.T, d *Replica) string {
	t.Helper()
	var b strings.Builder
	for _, q := range []string{`SELECT key || '=' || value FROM meta WHERE key <> 'hlc' ORDER BY key`,
		`SELECT id || ' ' || _own || ' ' || _acked || ' ' || _seq FROM tutoring_sessions ORDER BY id`} {
		rs, err := d.db.R.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var s string
			if err := rs.Scan(&s); err != nil {
				t.Fatal(err)
			}
			b.WriteString(s + "\n")
		}
		rs.Close()
	}
	return b.String()
}

// A file of 200 records is well under 100 KB (the bound), and a
// backlog larger than a request says how many more wait for the next file.
func TestCarryOutSize(t *testing.T) {
	ctx := context.Background()
	d, _ := carryDevice(t, &scripted{})
	for i := range 200 {
		if _, err := d.Put(ctx, "tutoring_sessions", "", map[string]schema.Value{
			"village": schema.TextValue("南香村"), "session_date": schema.TextValue("2024-06-03"),
			"children_present": schema.IntValue(int64(10 + i%20))}); err != nil {
			t.Fatal(err)
		}
	}
	file, st, err := d.CarryOut(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("a push file of %d records: %d bytes", st.Changes, len(file))
	if st.Changes != 200 || len(file) >= 100_000 {
		t.Errorf("%d changes in %d bytes; want 200 in well under 100 KB", st.Changes, len(file))
	}
	d.opt.PushBatch = 150
	if _, st, err = d.CarryOut(ctx); err != nil || st.Changes != 150 || st.More != 50 ||
		!strings.Contains(st.String(), "50 more") {
		t.Errorf("with room for 150: %v %v; want 150 in the file and 50 more", st, err)
	}
}

// A pull file whose last page fails to store (here a trigger stands for
// a full disk) leaves the device as it was: its acks and earlier pages
// are in the same transaction, so the file can simply be imported again.
func TestCarryInFailingPartWayAppliesNothing(t *testing.T) {
	ctx := context.Background()
	d, server := carryDevice(t, &scripted{})
	mine := session(t, d, false)
	first, bad := pulled(41), pulled(42)
	p := &v1.CarriedPull{ServerId: 9, Replica: 7, MadeAtMs: 1, Incarnation: 3, FromCursor: 40, ScopeHash: 77,
		Pages: []*v1.SyncResponse{page([]*record.Record{first}, 41, true), page([]*record.Record{bad}, 42, false)},
		Acks:  []*v1.CarriedAck{{Table: "tutoring_sessions", Id: mine, Counter: 1}}}
	file, err := wire.SealPull(p, server, d.box.Public)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.db.W.Exec(`CREATE TEMP TRIGGER full_disk BEFORE INSERT ON main.tutoring_sessions
		WHEN NEW.id = '` + bad.ID + `' BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END`); err != nil {
		t.Fatal(err)
	}
	before := stateOf(t, d)
	if _, err := d.CarryIn(ctx, file); err == nil || !strings.Contains(err.Error(), "disk is full") {
		t.Fatalf("carry-in with a failing page: %v; want the failure", err)
	}
	if after := stateOf(t, d); after != before {
		t.Errorf("a file that failed part-way changed the device:\n%s\nwas\n%s", after, before)
	}
	if _, err := d.db.W.Exec(`DROP TRIGGER temp.full_disk`); err != nil {
		t.Fatal(err)
	}
	if st, err := d.CarryIn(ctx, file); err != nil || st.Pages != 2 || st.Acked != 1 || st.To != 42 {
		t.Errorf("the same file once the disk has room: %v %v; want 2 pages, 1 ack, cursor 42", st, err)
	}
}

// outerKind is file with its outer layer's kind changed (the sealed
// payload untouched), as someone relabelling a file would.
func outerKind(t *testing.T, file []byte, kind v1.CarriedKind) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	f := &v1.CarriedFile{}
	if err := proto.Unmarshal(raw, f); err != nil {
		t.Fatal(err)
	}
	f.Kind = kind
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(mustMarshal(t, f)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}
