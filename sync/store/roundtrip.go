package store

import (
	"context"
	"hash/fnv"

	"github.com/futian-xiaomo/villagesync/sync/protocol"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// Sync is one round trip of device p: it pushes the request's changes,
// then pulls one page of the feed after the request's cursor.
//
// A request refused as a whole (the token belongs to another replica, too
// many changes, a device that synced with another server) returns a
// *record.Problem whose Code says why, and a cursor past the feed's end a
// *CursorAheadError; nothing is written then. A change the edge could not
// read (its Problem set) is rejected on its own and the others go on.
func (s *Store) Sync(ctx context.Context, p Principal, req *protocol.Request) (*protocol.Response, error) {
	if req.Replica != p.Replica {
		return nil, record.Problemf(record.CodePermissionDenied, "replica",
			"the token belongs to replica %d, not %d", p.Replica, req.Replica)
	}
	if n := len(req.Changes); n > protocol.MaxChanges {
		return nil, record.Problemf(record.CodeInvalidArgument, "changes",
			"%d in one request, the limit is %d; push them over several requests", n, protocol.MaxChanges)
	}
	if sid := req.ServerID; sid != 0 && sid != s.ServerID() {
		return nil, record.Problemf(record.CodeFailedPrecondition, "server_id",
			"this device synced with server %016x, but this is server %016x; "+
				"point it back at its server or initialise a new device file", sid, s.ServerID())
	}
	// A server restored from a backup may lack writes it acknowledged: the
	// device must push all its own writes again and pull from the start.
	// Nothing else happens in this request, so nothing is built on a
	// cursor from the lost future.
	if inc := req.Incarnation; inc != 0 && inc != s.Incarnation() {
		return &protocol.Response{ServerID: s.ServerID(), Incarnation: s.Incarnation(), Restored: true,
			ServerHLC: s.Clock().Now()}, nil
	}
	// A device that was away while the server forgot deletes it has not
	// seen re-pulls everything and drops what the server no longer sends.
	horizon, err := s.Horizon(ctx)
	if err != nil {
		return nil, err
	}
	if c := req.Cursor; c != 0 && c < horizon && !req.FullPull {
		return &protocol.Response{ServerID: s.ServerID(), Incarnation: s.Incarnation(), Repull: true,
			Horizon: horizon, ServerHLC: s.Clock().Now()}, nil
	}
	// A device whose villages changed gets its new scope and pulls from
	// the start; it drops records of villages it no longer serves.
	scopeHash := ScopeHash(p)
	cursor, rescoped := req.Cursor, req.ScopeHash != scopeHash
	if rescoped {
		cursor = 0
	}
	if err := s.CheckCursor(cursor); err != nil {
		return nil, err
	}
	changes := make([]*record.Record, len(req.Changes))
	results := make([]protocol.Result, len(changes))
	for i, c := range req.Changes {
		if c.Problem != nil {
			results[i] = protocol.Result{Outcome: record.Rejected, Problem: c.Problem}
			continue
		}
		changes[i] = c.Record
	}
	var pushN uint64
	if len(changes) > 0 {
		pushed, n, err := s.push1(ctx, p, changes)
		pushN = n
		if err != nil {
			return nil, err
		}
		for i, r := range pushed {
			if changes[i] != nil {
				results[i] = r
			}
		}
	}
	// After a change of villages (not on a device's first sync) the device
	// may have dropped records it wrote itself: send those too, on every
	// page of the re-pull.
	fullPull := (rescoped && req.ScopeHash != 0) || req.FullPull
	// A push is answered at once when page reads are busy: its results
	// alone, and more to pull, so the device stores its acknowledgements
	// (and a new scope) and comes back for the page in turn (gate.go).
	// Not the first page of a new scope for a device that holds records:
	// it carries the evictions since the device's old cursor, which the
	// page after, read from the start of the feed, cannot know.
	// (Evictions count from the cursor the device sent: it holds what it
	// pulled up to there, whatever scope the feed is now read from.)
	page := Page{Next: cursor, HasMore: true}
	if len(changes) > 0 && !(rescoped && req.Cursor != 0) {
		if s.gate.enterAfterPush(ctx, pushN) {
			page, err = s.gatedPull(ctx, p, cursor, req.Cursor, req.PageLimit, fullPull)
		}
	} else if err = s.gate.enter(ctx); err == nil {
		page, err = s.gatedPull(ctx, p, cursor, req.Cursor, req.PageLimit, fullPull)
	}
	if err != nil {
		return nil, err
	}
	// The horizon may pass only what the device has stored: the cursor it
	// sent. page.Next is merely offered; the response can still be lost.
	s.Seen(req.Replica, cursor)

	resp := &protocol.Response{ServerID: s.ServerID(), NextCursor: page.Next, HasMore: page.HasMore,
		ServerHLC: s.Clock().Now(), Incarnation: s.Incarnation(), Horizon: horizon, Evicted: page.Evicted,
		Results: results}
	if rescoped {
		resp.Rescoped, resp.Scope, resp.AllVillages, resp.ScopeHash = true, p.Villages, p.AllVillages(), scopeHash
	}
	// A state handed back in a result need not come again in the page.
	given := map[protocol.RecordRef]vv.VV{}
	for _, r := range results {
		if r.Current != nil {
			given[protocol.RecordRef{Table: r.Current.Table, ID: r.Current.ID}] = r.Current.Version
		}
	}
	for _, rec := range page.Records {
		if v, ok := given[protocol.RecordRef{Table: rec.Table, ID: rec.ID}]; ok && v.Compare(rec.Version) == vv.Equal {
			continue
		}
		resp.Records = append(resp.Records, rec)
	}
	return resp, nil
}

// ScopeHash identifies the villages p syncs; all-village roles share one.
func ScopeHash(p Principal) uint64 {
	h := fnv.New64a()
	if p.AllVillages() {
		h.Write([]byte("*"))
	} else {
		for _, v := range p.Villages {
			h.Write([]byte(v))
			h.Write([]byte{0})
		}
	}
	return h.Sum64() | 1 // never 0: 0 means "no scope yet"
}
