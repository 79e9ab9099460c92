package appworker

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// carried is protocol.ts's Carried.
type carried struct {
	Records int `json:"records"`
	Acks    int `json:"acks"`
	Pages   int `json:"pages"`
}

// exportFile asks the worker for its push file; the bytes, or its refusal.
func (p *phone) exportFile() ([]byte, string) {
	p.T.Helper()
	s := p.str(`vs.call({op: "export", lang: "en"}).then((r) => {
	  if (!r.ok) return "!" + r.error;
	  let s = ""; for (const b of r.exported.bytes) s += String.fromCharCode(b);
	  return btoa(s);
	})`)
	if strings.HasPrefix(s, "!") {
		return nil, s[1:]
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		p.T.Fatalf("export: %v", err)
	}
	return b, ""
}

// carryIn hands the worker a pull file ("open a file from staff").
func (p *phone) carryIn(file []byte) (carried, string) {
	p.T.Helper()
	var r struct {
		OK      bool    `json:"ok"`
		Error   string  `json:"error"`
		Carried carried `json:"carried"`
	}
	p.eval(fmt.Sprintf(`(() => {
	  const s = atob(%q); const b = new Uint8Array(s.length);
	  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i);
	  return vs.call({op: "carryIn", bytes: b.buffer, lang: "en"});
	})()`, base64.StdEncoding.EncodeToString(file)), &r)
	if !r.OK {
		return carried{}, r.Error
	}
	return r.Carried, ""
}

func (p *phone) meta(key string) string {
	p.T.Helper()
	return p.str(fmt.Sprintf(`vs.call({op: "query", sql: "SELECT value FROM meta WHERE key = ?", bind: [%q]}).then((r) => r.rows.length ? String(r.rows[0].value) : "")`, key))
}

// tamper changes one byte of a carried file's sealed payload and packs it
// again, so only the seal can tell.
func tamper(t *testing.T, file []byte) []byte {
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
	f.Sealed[len(f.Sealed)/2] ^= 1
	raw, err = proto.Marshal(f)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw)
	zw.Close()
	return out.Bytes()
}

// The browser's carried files and api/wire's are one format: a push file
// sealed in the worker (tweetnacl, CompressionStream) opens with
// wire.OpenPush and holds exactly the pending change, which stays
// pending; a pull file sealed with wire.SealPull opens in the worker,
// brings its record and marks the device's change pushed; the same file
// again is a no-op; a tampered file and another device's file are refused
// whole with their sentences, nothing applied.
func TestCarriedFilesInterop(t *testing.T) {
	e := start(t)
	p := e.phone(t)
	id := p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "en"}`,
		js(e.code(t, "xiaoli", store.Volunteer, "南香村")))).Identity
	devicePub, err := hex.DecodeString(p.meta("box_public_key"))
	if err != nil || len(devicePub) != wire.BoxKeySize {
		t.Fatalf("the device's box public key in meta: %x, %v", devicePub, err)
	}
	// The secret key is kept, and is not the public one (Contains of an
	// empty secret would always hold, and said nothing).
	if sk := p.meta("box_secret_key"); len(sk) != 2*wire.BoxKeySize || sk == p.meta("box_public_key") {
		t.Fatalf("the device's secret key in meta: %q; want 32 bytes of its own", sk)
	}
	if p.meta("server_box_public_key") == "" {
		if _, why := p.exportFile(); !strings.Contains(why, "server's key is not known") {
			t.Fatalf("export before the server's key is known: %q; want it refused, saying to sync once", why)
		}
	}
	// The server's keys: the test's, as the server's handlers would hold them.
	server, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_box_public_key', ?)", bind: [%q]}`,
		hex.EncodeToString(server.Public[:])))
	var dpub [wire.BoxKeySize]byte
	copy(dpub[:], devicePub)

	saved := p.call(`{op: "save", form: "log-session", lang: "en", fields: {village: "南香村", children_present: "14", class_group: "三年级"}}`)
	file, why := p.exportFile()
	if why != "" {
		t.Fatalf("export: %s", why)
	}
	f, err := wire.ReadCarried(file)
	if err != nil {
		t.Fatalf("wire.ReadCarried of the browser's file: %v", err)
	}
	push, err := wire.OpenPush(f, server, &dpub)
	if err != nil {
		t.Fatalf("wire.OpenPush of the browser's file: %v", err)
	}
	if push.Replica != id.Replica || f.Kind != v1.CarriedKind_CARRIED_KIND_PUSH || len(push.Request.Changes) != 1 ||
		push.Request.Changes[0].Id != saved.RecordID || push.Request.SchemaVersion == 0 {
		t.Fatalf("the browser's push file: %v; want her one class", push)
	}
	if tok := p.meta("token"); bytes.Contains(file, []byte(tok)) || bytes.Contains([]byte(push.String()), []byte(tok)) {
		t.Fatal("the push file carries the device's token")
	}
	if s := p.call(`{op: "state", lang: "en"}`).State; s.Pending != 1 {
		t.Fatalf("after writing the file: %+v; want the class still pending", s)
	}

	// A pull file from Go: a class written elsewhere, and the server's
	// acknowledgement of hers.
	change := push.Request.Changes[0]
	var own uint64
	for _, fl := range change.Fields {
		if fl.Dot.Replica == id.Replica && fl.Dot.Counter > own {
			own = fl.Dot.Counter
		}
	}
	other := proto.Clone(change).(*v1.Record)
	other.Id = uuid.Must(uuid.NewV7()).String()
	other.Version = &v1.VersionVector{Replicas: []uint32{900}, Counters: []uint64{1}}
	for _, fl := range other.Fields {
		fl.Dot = &v1.Dot{Replica: 900, Counter: 1, Hlc: fl.Dot.Hlc}
	}
	other.Seq = 5
	pull := func(replica uint32) []byte {
		b, err := wire.SealPull(&v1.CarriedPull{
			ServerId: push.ServerId, Replica: replica, MadeAtMs: time.Now().UnixMilli(),
			Pages: []*v1.SyncResponse{{Changes: []*v1.Record{other}, NextCursor: 5, ServerId: push.ServerId,
				SchemaVersion: push.Request.SchemaVersion}},
			Acks: []*v1.CarriedAck{{Table: change.Table, Id: change.Id, Counter: own}},
		}, server, &dpub)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := pull(id.Replica)
	for _, c := range []struct {
		name, want string
		file       []byte
	}{
		{"tampered", "fails its seal", tamper(t, good)},
		{"another device's", fmt.Sprintf("for device %d, not this one", id.Replica+1), pull(id.Replica + 1)},
		{"a push file", "not a file from staff", file},
		{"not a carried file", "not a villagesync carried file", []byte("{}")},
	} {
		if got, why := p.carryIn(c.file); !strings.Contains(why, c.want) {
			t.Errorf("%s file: %+v %q; want refused saying %q", c.name, got, why, c.want)
		}
	}
	if s := p.call(`{op: "state", lang: "en"}`).State; s.Pending != 1 || p.meta("cursor") != "0" {
		t.Fatalf("after the refused files: %+v, cursor %s; want nothing applied", s, p.meta("cursor"))
	}
	got, why := p.carryIn(good)
	if why != "" || got.Records != 1 || got.Acks != 1 {
		t.Fatalf("the pull file: %+v %q; want one record and one acknowledgement", got, why)
	}
	if s := p.call(`{op: "state", lang: "en"}`).State; s.Pending != 0 || p.meta("cursor") != "5" {
		t.Fatalf("after the pull file: %+v, cursor %s; want nothing pending, at 5", s, p.meta("cursor"))
	}
	if l := p.call(fmt.Sprintf(`{op: "get", table: "tutoring_sessions", recordId: %s, lang: "en"}`, js(other.Id))).Listed; len(l) != 1 ||
		l[0].Fields["children_present"] != "14" || l[0].Pending {
		t.Fatalf("the pulled class: %+v", l)
	}
	if got, why := p.carryIn(good); why != "" || got.Pages != 0 || got.Acks != 0 {
		t.Fatalf("the same file again: %+v %q; want a no-op", got, why)
	}
}

// The size of a carried file of 200 records, as a volunteer's week offline
// makes it (logged; the bound is wire.MaxCarriedBytes, far above).
func TestCarriedFileOf200Records(t *testing.T) {
	if testing.Short() {
		t.Skip("200 saves in a browser")
	}
	e := start(t)
	p := e.phone(t)
	p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "en"}`, js(e.code(t, "xiaoli", store.Volunteer, "南香村"))))
	server, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('server_box_public_key', ?)", bind: [%q]}`,
		hex.EncodeToString(server.Public[:])))
	var n int
	p.eval(`(async () => {
	  for (let i = 0; i < 200; i++) {
	    const r = await vs.call({op: "save", form: "log-session", lang: "en", fields: {village: "南香村", children_present: String(i % 40), class_group: "三年级", notes: "读了第" + i + "课"}});
	    if (!r.ok) throw new Error(JSON.stringify(r));
	  }
	  return 200;
	})()`, &n)
	file, why := p.exportFile()
	if why != "" {
		t.Fatal(why)
	}
	f, err := wire.ReadCarried(file)
	if err != nil {
		t.Fatal(err)
	}
	var dpub [wire.BoxKeySize]byte
	b, _ := hex.DecodeString(p.meta("box_public_key"))
	copy(dpub[:], b)
	push, err := wire.OpenPush(f, server, &dpub)
	if err != nil || len(push.Request.Changes) != 200 {
		t.Fatalf("200 records: %v, %v", err, push)
	}
	raw, _ := json.Marshal(len(file))
	t.Logf("a push file of 200 records is %s bytes (the sealed, compressed payload %d)", raw, len(f.Sealed))
}

// The browser's carried files refuse what the Go device's CarryIn
// refuses (clients/go/replica TestCarryIn), nothing applied: another
// incarnation, a page of another incarnation or server, a record of an
// unknown table, a device part-way through a re-pull, a file made for
// other villages than hers now; and a push file holds at most
// protocol.MaxChanges changes, saying how many more wait.
func TestCarriedFileRefusals(t *testing.T) {
	e := start(t)
	p := e.phone(t)
	id := p.call(fmt.Sprintf(`{op: "enroll", code: %s, deviceName: "手机", lang: "en"}`,
		js(e.code(t, "xiaoli", store.Volunteer, "南香村")))).Identity
	server, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"server_box_public_key": hex.EncodeToString(server.Public[:]),
		"incarnation": "3", "scope_hash": "77", "cursor": "40"} {
		p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", bind: [%q, %q]}`, k, v))
	}
	var dpub [wire.BoxKeySize]byte
	b, _ := hex.DecodeString(p.meta("box_public_key"))
	copy(dpub[:], b)
	saved := p.call(`{op: "save", form: "log-session", lang: "en", fields: {village: "南香村", children_present: "14", class_group: "三年级"}}`)
	push, _ := p.exportFile()
	f, err := wire.ReadCarried(push)
	if err != nil {
		t.Fatal(err)
	}
	pushed, err := wire.OpenPush(f, server, &dpub)
	if err != nil {
		t.Fatal(err)
	}
	change := pushed.Request.Changes[0]
	other := proto.Clone(change).(*v1.Record)
	other.Id = uuid.Must(uuid.NewV7()).String()
	other.Version = &v1.VersionVector{Replicas: []uint32{900}, Counters: []uint64{1}}
	for _, fl := range other.Fields {
		fl.Dot = &v1.Dot{Replica: 900, Counter: 1, Hlc: fl.Dot.Hlc}
	}
	other.Seq = 41
	good := &v1.CarriedPull{ServerId: pushed.ServerId, Replica: id.Replica, MadeAtMs: 1, Incarnation: 3, FromCursor: 40,
		ScopeHash: 77,
		Pages: []*v1.SyncResponse{{Changes: []*v1.Record{other}, NextCursor: 41, ServerId: pushed.ServerId, Incarnation: 3,
			SchemaVersion: pushed.Request.SchemaVersion}},
		Acks: []*v1.CarriedAck{{Table: change.Table, Id: saved.RecordID, Counter: 100}}}
	with := func(edit func(p *v1.CarriedPull)) []byte {
		c := proto.Clone(good).(*v1.CarriedPull)
		edit(c)
		file, err := wire.SealPull(c, server, &dpub)
		if err != nil {
			t.Fatal(err)
		}
		return file
	}
	state := func() string {
		return p.meta("cursor") + " " + p.str(`vs.call({op: "query", sql: "SELECT group_concat(id || ' ' || _own || ' ' || _acked, ',') AS s FROM (SELECT * FROM tutoring_sessions ORDER BY id)", bind: []}).then((r) => String(r.rows[0].s))`)
	}
	for _, c := range []struct {
		name, want string
		file       []byte
		meta       map[string]string
	}{
		{"another incarnation", "restored", with(func(p *v1.CarriedPull) { p.Incarnation = 4 }), nil},
		{"a page of another incarnation", "damaged", with(func(p *v1.CarriedPull) { p.Pages[0].Incarnation = 4 }), nil},
		{"a page of another server", "damaged", with(func(p *v1.CarriedPull) { p.Pages[0].ServerId++ }), nil},
		{"a record of an unknown table", "does not know (no_such)",
			with(func(p *v1.CarriedPull) { p.Pages[0].Changes[0].Table = "no_such" }), nil},
		{"part-way through a re-pull (full_pull)", "part-way through pulling", with(func(*v1.CarriedPull) {}),
			map[string]string{"full_pull": "1"}},
		{"part-way through a re-pull (sweep)", "part-way through pulling", with(func(*v1.CarriedPull) {}),
			map[string]string{"sweep": "2"}},
		// Staff made the file for her villages then (77); a sync since
		// told the device her villages changed (78).
		{"her villages changed since", "villages changed", with(func(*v1.CarriedPull) {}),
			map[string]string{"scope_hash": "78"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			was := map[string]string{}
			for k, v := range c.meta {
				was[k] = p.meta(k)
				p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", bind: [%q, %q]}`, k, v))
			}
			defer func() {
				for k, v := range was {
					p.call(fmt.Sprintf(`{op: "exec", sql: "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", bind: [%q, %q]}`, k, v))
				}
			}()
			before := state()
			if got, why := p.carryIn(c.file); !strings.Contains(why, c.want) {
				t.Errorf("%+v %q; want refused saying %q", got, why, c.want)
			}
			if after := state(); after != before {
				t.Errorf("a refused file changed the device: %s; was %s", after, before)
			}
		})
	}
	if got, why := p.carryIn(with(func(*v1.CarriedPull) {})); why != "" || got.Records != 1 || got.Acks != 1 {
		t.Fatalf("the good file: %+v %q", got, why)
	}

	// 1001 pending: the file holds 1000 and says one more waits.
	// In evaluations of 250 saves each, so none comes near the step's
	// deadline on a loaded machine (a save is a commit, ~50 ms here).
	for saved := 0; saved < 1001; saved += 250 {
		var n int
		p.eval(fmt.Sprintf(`(async () => {
		  for (let i = 0; i < %d; i++) {
		    const r = await vs.call({op: "save", form: "log-session", lang: "en", fields: {village: "南香村", children_present: "3", class_group: "三年级"}});
		    if (!r.ok) throw new Error(JSON.stringify(r));
		  }
		  return %[1]d;
		})()`, min(250, 1001-saved)), &n)
	}
	var x struct {
		OK       bool `json:"ok"`
		Exported struct {
			Records int `json:"records"`
			More    int `json:"more"`
		} `json:"exported"`
		Bytes string `json:"b64"`
	}
	p.eval(`vs.call({op: "export", lang: "en"}).then((r) => {
	  let s = ""; for (const b of r.exported.bytes) s += String.fromCharCode(b);
	  return {ok: r.ok, exported: {records: r.exported.records, more: r.exported.more}, b64: btoa(s)};
	})`, &x)
	if !x.OK || x.Exported.Records != 1000 || x.Exported.More != 1 {
		t.Fatalf("export of 1001 pending: %+v; want 1000 in the file, 1 more", x.Exported)
	}
	file, _ := base64.StdEncoding.DecodeString(x.Bytes)
	if f, err = wire.ReadCarried(file); err != nil {
		t.Fatal(err)
	}
	if pushed, err = wire.OpenPush(f, server, &dpub); err != nil || len(pushed.Request.Changes) != 1000 {
		t.Fatalf("the file of 1001 pending: %v; want 1000 changes (protocol.MaxChanges)", err)
	}
}
