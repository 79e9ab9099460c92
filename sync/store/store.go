package store

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/hlc"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// ServerReplica is the replica number of edits made on the server itself.
const ServerReplica = 1

// ErrUnknownReplica is returned for a replica number the server never issued.
var ErrUnknownReplica = errors.New("unknown replica")

// Store is the server database. It is safe for concurrent use.
type Store struct {
	// sqlBackend is the database: its handles and prepared statements
	// (store_sql.go). The rest of Store is the same on any backend.
	sqlBackend

	serverID    uint64
	incarnation uint64
	// boxPublic and boxPrivate are the server's box key pair (carry.go).
	boxPublic, boxPrivate []byte
	clock                 *hlc.Clock
	log                   *slog.Logger

	// mu serialises write transactions and guards seq, the last feed
	// sequence number handed out (persisted in meta with every write).
	mu  sync.Mutex
	seq uint64
	// anyCollected says the collected table may hold entries, so a push
	// of an unknown record must look there (most servers never collect).
	anyCollected bool
	// mayHaveOpen holds the records that may have open field or
	// delete-vs-edit entries (see supersede), guarded by mu.
	mayHaveOpen map[string]struct{}

	// queue holds pushes waiting for the writer (see Push).
	queueMu sync.Mutex
	queue   []*pushJob

	// gate puts pushes before page reads (gate.go).
	gate *pageGate

	seenMu sync.Mutex
	seen   map[uint32]seen

	// quota is the attachment bytes one device may have stored and in
	// flight; 0: schema.DeviceAttachmentQuota.
	quota int64
	// checks bounds the uploads checked at once (hashed, decoded,
	// thumbnailed): each may take up to media.DecodeBudget to decode.
	checks chan struct{}
	// checking holds each device's own check slot (see checkSlot),
	// guarded by checkingMu.
	checkingMu sync.Mutex
	checking   map[uint32]chan struct{}
	// afterCheck, when set (by tests), runs after an upload's check and
	// before its store transaction.
	afterCheck func()

	// heldCap overrides defaultHeldLimits (for tests); zero: the default.
	heldCap heldLimits

	// naiveFeed, set only by feed_internal_test.go, swaps the feed lock
	// for the design it prevents, so the test can show that design losing
	// rows: each write transaction reserves its feed positions with an
	// UPDATE committed at once and does not hold the seq row to commit.
	naiveFeed bool
	// beforeCommit, when set (by tests), runs in a push's transaction after
	// it took its feed positions and before it commits.
	beforeCommit func()
}

// Options tune a Store; the zero value is fine.
type Options struct {
	Logger *slog.Logger
	Clock  *hlc.Clock
	// Conns is the most connections to open to PostgreSQL; 0: a few.
	Conns int
	// MaxPages caps the database's size in pages (PRAGMA max_page_count),
	// for a server on a small disk; 0 leaves SQLite's default.
	MaxPages int64
	// DeviceAttachmentQuota is the bytes of attachments one device may
	// have stored and in flight; 0: schema.DeviceAttachmentQuota.
	DeviceAttachmentQuota int64
}

// ServerID identifies this database; it never changes.
func (s *Store) ServerID() uint64 { return s.serverID }

// Incarnation changes when the database is restored from a backup.
func (s *Store) Incarnation() uint64 { return s.incarnation }

// randomID is a random non-zero 64-bit id (0 means "unknown" on the wire).
func randomID() uint64 {
	var b [8]byte
	rand.Read(b[:])
	return binary.LittleEndian.Uint64(b[:]) | 1
}

// Clock is the server's hybrid logical clock.
func (s *Store) Clock() *hlc.Clock { return s.clock }

// Register issues a new replica number to a device called name.
func (s *Store) Register(ctx context.Context, name string) (uint32, error) {
	name = strings.TrimSpace(name)
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		return 0, record.Problemf(record.CodeInvalidArgument, "name", "must be 1 to 64 characters of UTF-8")
	}
	if err := schema.CheckName(name); err != nil {
		return 0, record.Problemf(record.CodeInvalidArgument, "name", "%v", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	id, err := s.insertReplica(ctx, name, time.Now())
	if err != nil {
		return 0, fmt.Errorf("register replica %q: %w", name, err)
	}
	s.log.Info("replica registered", "replica", id, "name", name)
	return uint32(id), nil
}
