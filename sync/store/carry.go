package store

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/rand"
	"errors"
	"fmt"
)

// Hand-carried sync (issue 15). The store keeps the key bytes: the
// server's box key pair and each device's public key. Sealing and opening
// files is api/wire's (carry.go), so nothing of the file format is here.

// BoxKeySize is the size of a box (X25519) public or private key.
const BoxKeySize = 32

// newBoxKeyPair makes an X25519 key pair: a NaCl box key pair (box's keys
// are X25519's, clamped the same way), from the system's randomness.
func newBoxKeyPair() (public, private []byte, err error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("make the server's box key pair: %w", err)
	}
	return k.PublicKey().Bytes(), k.Bytes(), nil
}

// ensureBoxKeys makes the server's key pair once: at a new database's
// first start, and at an older one's first start with migration 0010
// (a backup copies the table, so a restored server keeps its keys).
func (s *Store) ensureBoxKeys(ctx context.Context) (public, private []byte, err error) {
	pub, priv, err := newBoxKeyPair()
	if err != nil {
		return nil, nil, err
	}
	if public, private, err = s.keepBoxKeys(ctx, pub, priv); err != nil {
		return nil, nil, fmt.Errorf("keep the server's box key pair: %w", err)
	}
	if len(public) != BoxKeySize || len(private) != BoxKeySize {
		return nil, nil, fmt.Errorf("the server's box key pair is %d and %d bytes, not %d", len(public), len(private),
			BoxKeySize)
	}
	return public, private, nil
}

// BoxKeys returns the server's box key pair. The private half never
// leaves the server (nor this database and its backups).
func (s *Store) BoxKeys() (public, private []byte) {
	return bytes.Clone(s.boxPublic), bytes.Clone(s.boxPrivate)
}

// SetDeviceBoxKey keeps a device's box public key, sent at enrollment or
// at a sync: the first one sent is the device's; the same one again is a
// no-op; a different one is not taken (ErrBoxKeyMismatch), since taking it
// would let whoever holds the token read the files made for the device.
func (s *Store) SetDeviceBoxKey(ctx context.Context, replica uint32, key []byte) error {
	if len(key) != BoxKeySize {
		return problem("box_public_key", "a box public key is %d bytes, not %d", BoxKeySize, len(key))
	}
	have, found, err := s.deviceBoxKey(ctx, replica, false)
	if err != nil {
		return fmt.Errorf("read the box key of replica %d: %w", replica, err)
	}
	if !found || replica == ServerReplica {
		return unknownReplica(replica)
	}
	if have == nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if err := s.setDeviceBoxKey(ctx, replica, key); err != nil {
			return fmt.Errorf("keep the box key of replica %d: %w", replica, err)
		}
		if have, _, err = s.deviceBoxKey(ctx, replica, true); err != nil {
			return fmt.Errorf("read the box key of replica %d: %w", replica, err)
		}
	}
	if !bytes.Equal(have, key) {
		return fmt.Errorf("replica %d: %w", replica, ErrBoxKeyMismatch)
	}
	return nil
}

// ErrBoxKeyMismatch is SetDeviceBoxKey's answer to a key other than the
// one kept: the kept one stands. It is no refusal of the sync it came
// with (a device restored from an older copy of its file, or a stolen
// token, would otherwise be locked out of syncing at all); staff reset the
// key (ResetDeviceBoxKey) once they know which device is the real one.
var ErrBoxKeyMismatch = errors.New("the device sent another box key than the one the server keeps for it " +
	"(possibly a copied token or an old copy of the device's file); the kept key stands")

// ResetDeviceBoxKey forgets the box key kept for replica, so the next one
// it sends is kept: staff's way out of ErrBoxKeyMismatch.
func (s *Store) ResetDeviceBoxKey(ctx context.Context, replica uint32) error {
	_, found, err := s.deviceBoxKey(ctx, replica, false)
	if err != nil {
		return fmt.Errorf("read the box key of replica %d: %w", replica, err)
	}
	if !found || replica == ServerReplica {
		return unknownReplica(replica)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.clearDeviceBoxKey(ctx, replica); err != nil {
		return fmt.Errorf("reset the box key of replica %d: %w", replica, err)
	}
	return nil
}

// CarriedDevice is what the server knows of a device a file is from or
// for.
type CarriedDevice struct {
	// Principal is the device as its own Sync would be: its user, role
	// and villages (normalized).
	Principal
	Revoked bool
	// BoxKey is the device's box public key; nil until it sent one.
	BoxKey []byte
	// LastCursor is the feed cursor it had reached at its last sync.
	LastCursor uint64
	// Enrolled says the replica belongs to a user (one of the Register
	// of old devices belongs to none and cannot carry).
	Enrolled bool
}

// CarriedDevice returns the device of replica, revoked or not; a replica
// never issued is ErrUnknownReplica.
func (s *Store) CarriedDevice(ctx context.Context, replica uint32) (CarriedDevice, error) {
	d, ok, err := s.carriedDevice(ctx, replica)
	if err != nil {
		return CarriedDevice{}, fmt.Errorf("read replica %d: %w", replica, err)
	}
	if !ok || replica == ServerReplica {
		return CarriedDevice{}, unknownReplica(replica)
	}
	d.Principal = d.Principal.normalized()
	if !d.Enrolled {
		d.Principal = Principal{Replica: replica, Device: d.Device}
	}
	return d, nil
}

// Ack is one record the server has acknowledged of a device: the
// device's own counter of it as last pushed.
type Ack struct {
	Table, ID string
	Counter   uint64
}

// Acks returns the records whose latest push by replica the server took
// (applied, merged or already had), by table and id. A rejected one is
// left out: the device keeps it pending and learns why at its next
// direct sync (the receipt answers the replay the same).
func (s *Store) Acks(ctx context.Context, replica uint32) ([]Ack, error) {
	acks, err := s.acks(ctx, replica)
	if err != nil {
		return nil, fmt.Errorf("read the receipts of replica %d: %w", replica, err)
	}
	return acks, nil
}

// Acked says whether the server has taken a write of replica's record
// at counter or later (a receipt, not a rejection): a carried change it
// holds is one carried before.
func (s *Store) Acked(ctx context.Context, replica uint32, table, id string, counter uint64) (bool, error) {
	have, ok, err := s.ackedCounter(ctx, replica, table, id)
	if err != nil {
		return false, fmt.Errorf("read the receipt of replica %d for %s %s: %w", replica, table, id, err)
	}
	return ok && have >= counter, nil
}
