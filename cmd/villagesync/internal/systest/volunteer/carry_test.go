package volunteer

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/google/uuid"
	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// openFromStaff picks file in the home screen's "open a file from staff"
// and waits for what the app says of it.
func (p *phone) openFromStaff(file []byte) string {
	p.T.Helper()
	path := filepath.Join(p.T.TempDir(), "from-staff.vscarry")
	if err := os.WriteFile(path, file, 0o644); err != nil {
		p.T.Fatal(err)
	}
	p.Eval("forget the last note", `(document.querySelector("[data-test=carry-in-status]").textContent = "", true)`, nil)
	p.Do("pick the file", chromedp.SetUploadFiles(chromedp.CSS("[data-test=carry-in]"), []string{path}))
	p.WaitFor("the file's note", `document.querySelector("[data-test=carry-in-status]")?.textContent !== ""`)
	return p.text("[data-test=carry-in-status]")
}

// A volunteer without signal opens the file staff wrote for her phone
// (here sealed by api/wire as the server would, for keys the test gives
// the device): a tampered one is refused with the seal's sentence and
// changes nothing; the real one brings a class from town and marks hers
// synced. The home screen with both answers: app-home-carried*.png.
func TestRealOpenAFileFromStaff(t *testing.T) {
	s := realServer(t)
	p := enrolled(t, s)
	p.setOffline(true)
	p.logClass(12, "", "subjects", "数学", "class_group", "三年级", "session_date", "2026-11-28")
	mine := p.classIDs()
	if len(mine) != 1 {
		t.Fatalf("classes %v; want hers", mine)
	}
	device, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	server, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	// The device's keys and the server's public key, as enrollment and the
	// first sync leave them once the server holds keys.
	p.inWorker("give the device its keys", fmt.Sprintf(`self.onmessage({data: {id: 999990, op: "exec",
	  sql: "INSERT OR REPLACE INTO meta (key, value) VALUES ('box_secret_key', ?), ('box_public_key', ?), ('server_box_public_key', ?)",
	  bind: [%q, %q, %q]}})`, hex.EncodeToString(device.Private[:]), hex.EncodeToString(device.Public[:]), hex.EncodeToString(server.Public[:])))
	p.route("#/", "home")

	ds, err := s.st.ListDevices(context.Background())
	if err != nil || len(ds) != 1 {
		t.Fatalf("devices %v, %v; want her phone", ds, err)
	}
	v := func(s string) *v1.Value { return &v1.Value{Kind: &v1.Value_Text{Text: s}} }
	dot := &v1.Dot{Replica: 900, Counter: 1, Hlc: uint64(time.Now().UnixMilli()) << 16}
	class := &v1.Record{Table: "tutoring_sessions", Id: uuid.Must(uuid.NewV7()).String(),
		Version: &v1.VersionVector{Replicas: []uint32{900}, Counters: []uint64{1}}, Seq: 1 << 20}
	for _, f := range []struct {
		name string
		val  *v1.Value
	}{
		{"village", v("南香村")}, {"session_date", v("2026-11-29")}, {"class_group", v("五年级")}, {"subjects", v("语文")},
		{"children_present", &v1.Value{Kind: &v1.Value_Integer{Integer: 9}}},
	} {
		class.Fields = append(class.Fields, &v1.Field{Name: f.name, Value: f.val, Dot: dot})
	}
	// Made for her villages, as CarryFor makes it: her first sync taught
	// the device its scope, and a file of another scope is refused.
	cd, err := s.st.CarriedDevice(context.Background(), ds[0].Replica)
	if err != nil {
		t.Fatal(err)
	}
	file, err := wire.SealPull(&v1.CarriedPull{
		ServerId: s.st.ServerID(), Replica: ds[0].Replica, MadeAtMs: time.Now().UnixMilli(), Incarnation: s.st.Incarnation(),
		ScopeHash: store.ScopeHash(cd.Principal),
		Pages: []*v1.SyncResponse{{Changes: []*v1.Record{class}, NextCursor: 1 << 20, ServerId: s.st.ServerID(),
			Incarnation: s.st.Incarnation(), SchemaVersion: 1}},
		// Her class's counter is at most this: the device marks it pushed up to its own.
		Acks: []*v1.CarriedAck{{Table: "tutoring_sessions", Id: mine[0], Counter: 1 << 30}},
	}, server, device.Public)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.openFromStaff(tamper(t, file)); !strings.Contains(got, "未通过校验") {
		t.Errorf("a tampered file: %q; want the seal's refusal in Chinese", got)
	}
	if n := p.count("[data-test=pending-count][data-count='1']"); n != 1 {
		t.Errorf("after the tampered file her class is not pending any more")
	}
	p.screenshot("home-carried-refused")
	if got := p.openFromStaff(file); !strings.Contains(got, "1 条记录") || !strings.Contains(got, "1 条改动") {
		t.Fatalf("the staff's file: %q; want one class brought and hers confirmed", got)
	}
	p.WaitFor("nothing pending", `document.querySelector("[data-test=pending-count]")?.dataset.count === "0"`)
	p.screenshot("home-carried")
	p.route("#/records?table=tutoring_sessions", "records")
	if ids := p.classIDs(); len(ids) != 2 {
		t.Errorf("classes %v; want hers and the one from town", ids)
	}
}

func (p *phone) count(sel string) int {
	p.T.Helper()
	var n int
	p.Eval("count "+sel, fmt.Sprintf(`document.querySelectorAll(%q).length`, sel), &n)
	return n
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
	if raw, err = proto.Marshal(f); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	zw.Write(raw)
	zw.Close()
	return out.Bytes()
}
