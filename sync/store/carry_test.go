package store

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"errors"
	"path/filepath"
	"testing"

	"github.com/futian-xiaomo/villagesync/sync/record"
)

// The server's box key pair is made once, at the first start, and kept:
// the same after a restart, and in a backup, so a restored server still
// opens the files its devices made for it. The public half is the
// private half's X25519 public key (what NaCl box computes).
func TestServerBoxKeysAreKept(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	file := filepath.Join(dir, "s.db")
	s, err := Open(ctx, file, Options{})
	if err != nil {
		t.Fatal(err)
	}
	pub, priv := s.BoxKeys()
	k, err := ecdh.X25519().NewPrivateKey(priv)
	if err != nil || !bytes.Equal(k.PublicKey().Bytes(), pub) {
		t.Fatalf("the key pair does not match: %v", err)
	}
	s.Close()
	backup := filepath.Join(dir, "backup.db")
	if err := Backup(ctx, file, backup); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{file, backup} {
		s, err := Open(ctx, f, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p2, q2 := s.BoxKeys(); !bytes.Equal(p2, pub) || !bytes.Equal(q2, priv) {
			t.Errorf("%s: the server's keys changed", filepath.Base(f))
		}
		s.Close()
	}
}

// A device's key is kept at enrollment or at its first sync that sends
// one; the same again is fine, a different one is refused and the kept
// one stays.
func TestDeviceBoxKey(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, testDSN(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := func(b byte) []byte { return bytes.Repeat([]byte{b}, BoxKeySize) }
	code, _ := s.CodeFor(ctx, "a", Volunteer, []string{"南香村"})
	keyed, _, err := s.EnrollKeyed(ctx, code, "keyed", key(1))
	if err != nil {
		t.Fatal(err)
	}
	code, _ = s.CodeFor(ctx, "b", Volunteer, []string{"南香村"})
	later, _, err := s.Enroll(ctx, code, "later")
	if err != nil {
		t.Fatal(err)
	}
	var prob *record.Problem
	for _, tc := range []struct {
		name    string
		replica uint32
		key     []byte
		code    record.Code // "" for none
	}{
		{"the same key again", keyed.Replica, key(1), ""},
		{"another key", keyed.Replica, key(2), "mismatch"},
		{"a short key", keyed.Replica, key(1)[:5], record.CodeInvalidArgument},
		{"a first key at a sync", later.Replica, key(3), ""},
		{"its first key again", later.Replica, key(3), ""},
		{"another after it", later.Replica, key(4), "mismatch"},
		{"an unknown replica", 999, key(5), ""},
	} {
		err := s.SetDeviceBoxKey(ctx, tc.replica, tc.key)
		switch {
		case tc.replica == 999:
			if !errors.Is(err, ErrUnknownReplica) {
				t.Errorf("%s: %v, want unknown replica", tc.name, err)
			}
		case tc.code == "mismatch":
			if !errors.Is(err, ErrBoxKeyMismatch) {
				t.Errorf("%s: %v, want the kept key to stand (ErrBoxKeyMismatch)", tc.name, err)
			}
		case tc.code == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.code != "" && (!errors.As(err, &prob) || prob.Code != tc.code || prob.Field != "box_public_key"):
			t.Errorf("%s: %v, want %s of box_public_key", tc.name, err, tc.code)
		}
	}
	for replica, want := range map[uint32][]byte{keyed.Replica: key(1), later.Replica: key(3)} {
		d, err := s.CarriedDevice(ctx, replica)
		if err != nil || !bytes.Equal(d.BoxKey, want) || !d.Enrolled || d.Revoked {
			t.Errorf("replica %d: %+v %v, want its first key kept", replica, d, err)
		}
	}
	// Staff reset a key: the next one sent is kept, and only that one.
	if err := s.ResetDeviceBoxKey(ctx, keyed.Replica); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetDeviceBoxKey(ctx, 999); !errors.Is(err, ErrUnknownReplica) {
		t.Errorf("reset an unknown replica: %v", err)
	}
	if d, _ := s.CarriedDevice(ctx, keyed.Replica); d.BoxKey != nil {
		t.Errorf("after a reset the server still keeps %x", d.BoxKey)
	}
	if err := s.SetDeviceBoxKey(ctx, keyed.Replica, key(2)); err != nil {
		t.Errorf("the key after a reset: %v", err)
	}
	if err := s.SetDeviceBoxKey(ctx, keyed.Replica, key(1)); !errors.Is(err, ErrBoxKeyMismatch) {
		t.Errorf("the old key after the reset: %v", err)
	}
	if d, _ := s.CarriedDevice(ctx, keyed.Replica); !bytes.Equal(d.BoxKey, key(2)) {
		t.Errorf("after the reset the server keeps %x, want the key sent after it", d.BoxKey)
	}
}
