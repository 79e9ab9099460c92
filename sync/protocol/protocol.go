package protocol

import "github.com/futian-xiaomo/villagesync/sync/record"

// MaxChanges is the most changes one request may push; a device with more
// pushes them over several requests.
const MaxChanges = 1000

// Page limits of a pull.
const (
	DefaultPageLimit = 1000
	MaxPageLimit     = 5000
)

// Request is one round trip's request: push the changes, then pull a page.
type Request struct {
	Replica uint32
	// ServerID and Incarnation are what the device last synced with (0
	// before its first sync).
	ServerID, Incarnation uint64
	// Cursor is the feed position the device has stored.
	Cursor uint64
	// ScopeHash identifies the villages the device holds (0: none yet).
	ScopeHash uint64
	// FullPull asks for the device's own states too (a re-pull).
	FullPull bool
	// PageLimit bounds the page (0: the server's default).
	PageLimit int
	// SchemaVersion is the device's schema version (schema.Version); 0
	// from devices made before they sent it, which are version 1.
	SchemaVersion int
	Changes       []Change
}

// Change is one pushed change: the record's unacknowledged writes, or the
// problem that kept the wire edge from reading it (the change is then
// rejected on its own, and the others go on).
type Change struct {
	Record  *record.Record
	Problem *record.Problem
}

// Response is the server's answer to a Request.
type Response struct {
	ServerID, Incarnation uint64
	// ServerHLC is the server's clock, so devices with wrong clocks catch up.
	ServerHLC uint64
	// Restored: the server was restored from a backup since the device
	// last synced. Nothing else is set but the ids and the clock.
	Restored bool
	// Repull: the device's cursor is older than the collection horizon; it
	// pulls its scope again. Only Horizon is set besides the ids and clock.
	Repull bool
	// Horizon is the collection horizon: deletes at or before it are
	// forgotten by the server, and the device drops them too.
	Horizon uint64

	// Results has one entry per change of the request, in order.
	Results []Result
	// Records is one page of the feed after the cursor, oldest first,
	// without states a result already handed back.
	Records    []*record.Record
	NextCursor uint64
	HasMore    bool
	// Evicted are records the device holds that moved out of its villages.
	Evicted []RecordRef

	// Rescoped: the device's villages changed, and this page was pulled
	// from the start of the feed. Scope (empty with AllVillages) and
	// ScopeHash are the new scope.
	Rescoped    bool
	Scope       []string
	AllVillages bool
	ScopeHash   uint64

	// SchemaVersion is the server's schema version and OldestApp the
	// oldest device schema version it serves; 0 from servers made before
	// they said, which are version 1. A device holds back changes to
	// columns newer than SchemaVersion (sync/DESIGN.md, Versions).
	SchemaVersion, OldestApp int
}

// Result is the server's answer to one pushed change.
type Result struct {
	Outcome record.Outcome
	// Problem says why a Rejected change was refused.
	Problem *record.Problem
	// Current is the server's state of the record when the device's state
	// after this push is not it (Merged; AlreadyHad with a newer state;
	// Rejected for a record the server has). The device replaces its copy.
	Current *record.Record
	// Conflicts is how many losing values this change sent to the log.
	Conflicts int
	// Seq is the feed position of the state the change produced.
	Seq uint64
}

// RecordRef names a record.
type RecordRef struct{ Table, ID string }
