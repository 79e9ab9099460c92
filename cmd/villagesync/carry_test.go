package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1/villagesyncv1connect"
	"github.com/futian-xiaomo/villagesync/api/wire"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/store"
)

// Staff carry a volunteer's push file with their own device file, and
// write a pull file for her by her device's name, owner-only.
func TestCarryCommands(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	srv := startServer(t)
	cli := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := run(ctx, args, &out)
		return out.String(), err
	}
	staff := filepath.Join(dir, "staff.db")
	if out, err := cli("device", "--db", staff, "init", "--server", srv.URL, "--code", srv.code(t, "李老师"),
		"--name", "laptop"); err != nil {
		t.Fatal(out, err)
	}
	keys, err := wire.NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := villagesyncv1connect.NewAccessServiceClient(http.DefaultClient, srv.URL).Enroll(ctx,
		&v1.EnrollRequest{Code: srv.Code(t, "王芳", store.Volunteer, "南香村"), DeviceName: "王芳的手机",
			BoxPublicKey: keys.Public[:]})
	if err != nil {
		t.Fatal(err)
	}
	r := reg.Replica
	d := &v1.Dot{Replica: r, Counter: 1, Hlc: hlc.FromTime(time.Now())}
	book := &v1.Record{Table: "books", Id: uuid.Must(uuid.NewV7()).String(),
		Version: &v1.VersionVector{Replicas: []uint32{r}, Counters: []uint64{1}}}
	for name, v := range map[string]string{"village": "南香村", "library": "children", "title": "小王子"} {
		book.Fields = append(book.Fields, &v1.Field{Name: name, Value: &v1.Value{Kind: &v1.Value_Text{Text: v}}, Dot: d})
	}
	serverKey, err := wire.BoxKey(reg.ServerBoxPublicKey)
	if err != nil {
		t.Fatal(err)
	}
	file, err := wire.SealPush(&v1.CarriedPush{ServerId: reg.ServerId, Replica: r, MadeAtMs: time.Now().UnixMilli(),
		Request: &v1.SyncRequest{Replica: r, ServerId: reg.ServerId, Changes: []*v1.Record{book}}}, keys, serverKey)
	if err != nil {
		t.Fatal(err)
	}
	push := filepath.Join(dir, "push.vsc")
	if err := os.WriteFile(push, file, 0o600); err != nil {
		t.Fatal(err)
	}

	out, err := cli("carry", "--device", staff, push)
	if err != nil || !strings.Contains(out, "王芳的手机") || !strings.Contains(out, "user 王芳") ||
		!strings.Contains(out, "change 0: applied") {
		t.Errorf("carry: %v\n%s", err, out)
	}
	if out, err = cli("carry", "--device", staff, push); err != nil || !strings.Contains(out, "change 0: already_had") {
		t.Errorf("carry again: %v\n%s", err, out)
	}

	pull := filepath.Join(dir, "for-wang.vsc")
	os.WriteFile(pull, []byte("old"), 0o644) // a file from before is replaced, and made owner-only
	if out, err = cli("carry-for", "--device", staff, "王芳的手机", pull); err != nil ||
		!strings.Contains(out, "1 acknowledgement") {
		t.Fatalf("carry-for: %v\n%s", err, out)
	}
	fi, err := os.Stat(pull)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("the pull file: %v %v, want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(pull)
	f, err := wire.ReadCarried(b)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := wire.OpenPull(f, keys, serverKey); err != nil || len(p.Acks) != 1 || p.Acks[0].Id != book.Id {
		t.Errorf("the pull file opens to %v, %v", p, err)
	}
	if _, err := cli("carry-for", "--device", staff, "no such phone", pull); err == nil ||
		!strings.Contains(err.Error(), "no enrolled device is called") {
		t.Errorf("carry-for an unknown name: %v", err)
	}
}

// carry reads no more of a file than a carried file may be: a big file
// given by mistake is refused, the right size is read whole.
func TestReadCarriedFileLimited(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		size int64
		ok   bool
	}{
		{"the limit", wire.MaxCarriedBytes, true},
		{"a byte more", wire.MaxCarriedBytes + 1, false},
		{"a disk image", 4 << 30, false},
	} {
		name := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-"))
		f, err := os.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.Truncate(tc.size); err != nil { // sparse: no disk space used
			t.Fatal(err)
		}
		f.Close()
		b, err := readCarriedFile(name)
		if tc.ok && (err != nil || len(b) != int(tc.size)) || !tc.ok && (err == nil || b != nil) {
			t.Errorf("%s: %d bytes, %v", tc.name, len(b), err)
		}
	}
}
