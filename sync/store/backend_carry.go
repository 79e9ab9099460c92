package store

import "context"

// carryBackend are the statements carry.go runs, each atomic by itself
// (single reads, and single writes under Store.mu). A lookup that finds
// nothing returns ok false and a nil error.
type carryBackend interface {
	// keepBoxKeys stores the server's key pair unless one is stored, and
	// returns the stored one.
	keepBoxKeys(ctx context.Context, public, private []byte) (storedPublic, storedPrivate []byte, err error)
	// deviceBoxKey returns a replica's box public key (nil for none), read
	// on the writer when onWriter (the caller holds Store.mu).
	deviceBoxKey(ctx context.Context, replica uint32, onWriter bool) (key []byte, ok bool, err error)
	// setDeviceBoxKey stores a replica's box public key unless it has one.
	setDeviceBoxKey(ctx context.Context, replica uint32, key []byte) error
	// clearDeviceBoxKey forgets a replica's box public key.
	clearDeviceBoxKey(ctx context.Context, replica uint32) error
	// carriedDevice returns a replica, revoked or not, with its user's
	// principal when it belongs to one (Enrolled).
	carriedDevice(ctx context.Context, replica uint32) (d CarriedDevice, ok bool, err error)
	// acks returns a replica's receipts but the rejected ones, by table
	// and id.
	acks(ctx context.Context, replica uint32) ([]Ack, error)
	// ackedCounter returns the counter of a replica's receipt of a record
	// unless the receipt is a rejection.
	ackedCounter(ctx context.Context, replica uint32, table, id string) (counter uint64, ok bool, err error)
}

var _ carryBackend = (*sqlBackend)(nil)
