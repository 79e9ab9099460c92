package store

import (
	"context"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
)

// accessTxn and accessView are the statements that access.go, seen.go,
// store.go need inside a transaction; accessBackend those they run on
// their own, outside one (each is atomic by itself: reads of one row or
// one listing, and single writes under Store.mu). A lookup that finds
// nothing returns ok false and a nil error; any other error is the
// backend's, returned as is (the decisions add their context).

type accessTxn interface {
	// insertUser adds a user with no villages and returns its id; added
	// is false, and nothing is written, when a user of that name exists.
	insertUser(ctx context.Context, name string, role Role, created time.Time) (id int64, added bool, err error)
	// userByName returns the id and role of the user called name.
	userByName(ctx context.Context, name string) (id int64, role Role, ok bool, err error)
	// knownVillages returns the villages of the villages table as this
	// transaction sees them (deleted ones left out).
	knownVillages(ctx context.Context) (*schema.Villages, error)
	// deleteUserVillages removes every village of a user but those in keep.
	deleteUserVillages(ctx context.Context, userID int64, keep []string) error
	// insertUserVillage assigns a village to a user from feed position
	// since; assigning it again is a no-op (its position stays).
	insertUserVillage(ctx context.Context, userID int64, village string, since uint64) error
	// enrollmentCode returns the enrollment code whose SHA-256 is
	// codeHash, used or not, expired or not.
	enrollmentCode(ctx context.Context, codeHash []byte) (c enrollmentCode, ok bool, err error)
	// insertDevice adds a replica enrolled for a user, with the SHA-256
	// of its token and its box public key (nil: none yet), and returns
	// its number (never one issued before).
	insertDevice(ctx context.Context, name string, userID int64, tokenHash, boxKey []byte,
		created time.Time) (replica uint32, err error)
	// markEnrollmentCodeUsed records that the code was used, when and
	// for which replica.
	markEnrollmentCodeUsed(ctx context.Context, codeHash []byte, replica uint32, at time.Time) error
	// principalByReplica returns the device and its user, revoked or not;
	// Villages are the user's villages in any order (nil when none).
	principalByReplica(ctx context.Context, replica uint32) (p Principal, ok bool, err error)
	// updateReplicaSeen records when a replica last synced and the feed
	// cursor it had reached; an unknown replica is no error.
	updateReplicaSeen(ctx context.Context, replica uint32, at time.Time, cursor uint64) error
}

type accessView interface {
	// listDevices lists every replica but the server's own (ServerReplica)
	// by number, with zero times for never seen and not revoked, its
	// user's name and role ("" for none), PulledSeq its last cursor as
	// written down, and Behind (0 for a revoked one and one never seen)
	// the number of records of tables after that cursor whose last write
	// is not its own: for a device of a user with role scoped, only
	// records whose t.Scope is one of the user's villages (none when she
	// has none), the filter readFeed applies for her. One statement,
	// however many devices and records.
	listDevices(ctx context.Context, tables []*schema.Table, scoped Role) ([]Device, error)
}

type accessBackend interface {
	// insertReplica adds a replica that belongs to no user (the
	// Register of old devices) and returns its number.
	insertReplica(ctx context.Context, name string, created time.Time) (int64, error)
	// principalByToken returns the unrevoked device whose token has the
	// SHA-256 tokenHash, as principalByReplica does. It is on the path of
	// every call: one indexed read.
	principalByToken(ctx context.Context, tokenHash []byte) (p Principal, ok bool, err error)
	// listUsers lists the users by name, each with its villages in any
	// order (nil when none).
	listUsers(ctx context.Context) ([]User, error)
	// userIDOnWriter returns the id of the user called name as the writer
	// sees it (the caller holds Store.mu, so it is current).
	userIDOnWriter(ctx context.Context, name string) (id int64, ok bool, err error)
	// insertEnrollmentCode stores an unused code by its SHA-256.
	insertEnrollmentCode(ctx context.Context, codeHash []byte, userID int64, created, expires time.Time) error
	// userRole returns the role of the user called name.
	userRole(ctx context.Context, name string) (r Role, ok bool, err error)
	// deviceRole returns the role of the user a replica was enrolled for;
	// ok is false for an unknown replica and one enrolled for no user.
	deviceRole(ctx context.Context, replica uint32) (r Role, ok bool, err error)
	// listVillages lists the live villages of the villages table by name,
	// aliases in the order written.
	listVillages(ctx context.Context) ([]Village, error)
	// revokeReplica marks a replica revoked at at, keeping the first time
	// when it is revoked already; found is false for an unknown replica
	// and for ServerReplica, which is never revoked.
	revokeReplica(ctx context.Context, replica uint32, at time.Time) (found bool, err error)
	// listRecordChanges returns a record's audit trail, oldest first, with
	// the device and user names ("" when unknown).
	listRecordChanges(ctx context.Context, table, id string) ([]Change, error)
}

// enrollmentCode is a stored enrollment code.
type enrollmentCode struct {
	userID  int64
	expires time.Time
	used    bool
}
