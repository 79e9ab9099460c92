package wire

import (
	"bytes"
	"compress/gzip"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
)

func keys(t *testing.T) BoxKeys {
	t.Helper()
	k, err := NewBoxKeys()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestCarriedPushRoundTripAndRefusals(t *testing.T) {
	dev, srv, other := keys(t), keys(t), keys(t)
	push := &v1.CarriedPush{ServerId: 7, Replica: 3, MadeAtMs: 1700000000000,
		Request: &v1.SyncRequest{Replica: 3, ServerId: 7, Changes: []*v1.Record{{Table: "tutoring_sessions", Id: "x"}}}}
	file, err := SealPush(push, dev, srv.Public)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadCarried(file)
	if err != nil {
		t.Fatal(err)
	}
	got, err := OpenPush(f, srv, dev.Public)
	if err != nil {
		t.Fatal(err)
	}
	if !proto.Equal(got.Request, push.Request) {
		t.Fatalf("opened %v, sealed %v", got.Request, push.Request)
	}
	// Another device's key, or the wrong server's: the seal fails.
	if _, err := OpenPush(f, srv, other.Public); !errors.Is(err, ErrCarriedDamaged) {
		t.Errorf("opened with another device's key: %v", err)
	}
	if _, err := OpenPush(f, other, dev.Public); !errors.Is(err, ErrCarriedDamaged) {
		t.Errorf("opened with another server's key: %v", err)
	}
	// The outer layer changed to name another device: refused as altered.
	f.Replica = 4
	if _, err := OpenPush(f, srv, dev.Public); !errors.Is(err, ErrCarriedDamaged) {
		t.Errorf("outer layer altered: %v", err)
	}
	// The outer format changed (say, to pass an older reader): the sealed
	// copy differs, refused as altered.
	f.Replica, f.Format = 3, 0
	if _, err := OpenPush(f, srv, dev.Public); !errors.Is(err, ErrCarriedDamaged) {
		t.Errorf("outer format altered: %v", err)
	}
	f.Format = CarriedFormat
	// A payload sealed without its own format (as the first browser
	// build did) is refused: the outer copy alone is not authenticated.
	noFormat := &v1.CarriedPush{Kind: v1.CarriedKind_CARRIED_KIND_PUSH, ServerId: 7, Replica: 3,
		MadeAtMs: push.MadeAtMs, Request: push.Request}
	raw, err := seal(noFormat, &v1.CarriedFile{Kind: noFormat.Kind, ServerId: 7, Replica: 3, MadeAtMs: push.MadeAtMs},
		dev.Private, srv.Public)
	if err != nil {
		t.Fatal(err)
	}
	nf, err := ReadCarried(raw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenPush(nf, srv, dev.Public); !errors.Is(err, ErrCarriedDamaged) {
		t.Errorf("payload without its format: %v", err)
	}
	// Every single flipped byte of the sealed payload is refused.
	for i := range f.Sealed {
		g := proto.Clone(f).(*v1.CarriedFile)
		g.Sealed[i] ^= 0x40
		if _, err := OpenPush(g, srv, dev.Public); !errors.Is(err, ErrCarriedDamaged) {
			t.Fatalf("byte %d flipped: %v", i, err)
		}
	}
	for _, c := range []struct {
		name string
		file []byte
		want string
	}{
		{"empty", nil, "not gzip"},
		{"truncated", file[:len(file)/2], "truncated or damaged"},
		{"not ours", gzipBytes(t, []byte("hello")), "not a villagesync carried file"},
	} {
		if _, err := ReadCarried(c.file); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
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

// A box seal is symmetric: the server's own pull file for a device opens
// with the server's private key and the device's public key, just as that
// device's push file would. The kind inside the seal is what keeps a pull
// file, its outer kind changed to PUSH, from being carried back in as
// the device's changes.
func TestCarriedPullReflectedAsPushRefused(t *testing.T) {
	dev, srv := keys(t), keys(t)
	file, err := SealPull(&v1.CarriedPull{ServerId: 7, Replica: 3, MadeAtMs: 1700000000000, ScopeHash: 42}, srv, dev.Public)
	if err != nil {
		t.Fatal(err)
	}
	f, err := ReadCarried(file)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := OpenPull(f, dev, srv.Public); err != nil || p.ScopeHash != 42 || p.Format != CarriedFormat {
		t.Fatalf("open the pull file: %v, %v", p, err)
	}
	f.Kind = v1.CarriedKind_CARRIED_KIND_PUSH
	if _, err := OpenPush(f, srv, dev.Public); !errors.Is(err, ErrCarriedDamaged) {
		t.Errorf("pull file carried in as a push: %v", err)
	}
}
