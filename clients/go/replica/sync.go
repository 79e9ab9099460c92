package replica

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
)

// Stats counts what one Sync did.
type Stats struct {
	Pushed, Applied, Merged, AlreadyHad, Rejected int
	Pulled                                        int
	Conflicts                                     int
	RoundTrips                                    int
	// ServerRestored: the server was restored from a backup; this sync
	// pushed every own write again and pulled the scope from the start.
	ServerRestored bool
	// Repulled: the device had been away longer than the server keeps
	// deletes; it pulled its scope again and dropped what is gone.
	Repulled bool
	// ScrubPending says why records removed from the device (villages it
	// no longer serves) could not yet be wiped from its file's free space;
	// the next sync tries again.
	ScrubPending string
	// Held counts the changes kept on the device for the server's update:
	// they write columns newer than ServerSchema, the version the server
	// stated (sync/DESIGN.md, Versions). They stay pending.
	Held, ServerSchema int
}

func (s Stats) String() string {
	out := fmt.Sprintf("pushed %d (applied %d, merged %d, already had %d), "+
		"rejected %d, pulled %d, conflicts %d, round trips %d",
		s.Pushed, s.Applied, s.Merged, s.AlreadyHad, s.Rejected, s.Pulled, s.Conflicts, s.RoundTrips)
	if s.Held > 0 {
		out += "; " + WaitingNote(s.Held, s.ServerSchema)
	}
	return out
}

// Transport carries a device's round trips to the server. The replica
// decides what to send and what an answer means; a Transport only moves
// them, in engine types, so the loop is tested without a server (see
// Options.Transport).
type Transport interface {
	// Sync sends req and returns the server's answer. It may send req more
	// than once (again after a failure of the link, after waiting out a
	// rate limit: a request is idempotent), and says how many times it
	// sent it, failed attempts included, for Stats.RoundTrips.
	Sync(ctx context.Context, req *protocol.Request) (resp *protocol.Response, sent int, err error)
}

const (
	defaultPushBatch = protocol.MaxChanges // fewer round trips and commits per backlog
	maxRounds        = 100000
)

// Sync pushes every pending change and pulls until the server has nothing
// more, in as few requests as that takes (one when there is little to do).
// Each response is committed in one transaction with its cursor, so an
// error part-way loses nothing: the next Sync carries on from there.
func (r *Replica) Sync(ctx context.Context) (Stats, error) {
	// One sync at a time: two overlapping ones (a timer and a button)
	// would push the same changes and could commit pages out of order.
	r.syncMu.Lock()
	defer r.syncMu.Unlock()
	st, err := r.sync(ctx)
	// The data synced even if the file could not be scrubbed (VACUUM
	// needs free space as large as the file): the sync succeeds, and the
	// scrub waits in Status and is tried again at the next one.
	if serr := r.scrub(context.WithoutCancel(ctx)); serr != nil {
		st.ScrubPending = serr.Error()
	}
	r.noteOutcome(context.WithoutCancel(ctx), err)
	return st, err
}

// scrub takes the bytes of rows a sync removed (records and refused
// changes of villages the device no longer serves) out of the file, if a
// commit asked for it. secure_delete zeroed their cells, but free space
// left by earlier writes and older frames of the log may still hold
// them: VACUUM rewrites the file from what it holds now (it is as small
// as it can be after), and a TRUNCATE checkpoint empties the log. A
// reassignment is rare, so the whole rewrite is worth it: BenchmarkScrub
// takes 20 ms for a 0.4 MiB file, 95 ms for 3.6 MiB (10,000 records).
// incremental_vacuum would only free whole pages, and would need
// auto_vacuum set when the file was made. Until the scrub succeeds the
// request stays in meta, and the next sync tries again.
func (r *Replica) scrub(ctx context.Context) error {
	var flag string
	r.db.W.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scrub'`).Scan(&flag)
	if flag != "1" {
		return nil
	}
	if _, err := r.db.W.ExecContext(ctx, `VACUUM`); err != nil {
		return fmt.Errorf("sync: scrub removed records from the file: %w", err)
	}
	if err := r.truncateLog(ctx); err != nil {
		return err
	}
	if _, err := r.db.W.ExecContext(ctx, `DELETE FROM meta WHERE key = 'scrub'`); err != nil {
		return fmt.Errorf("sync: scrub removed records from the file: %w", err)
	}
	return r.truncateLog(ctx)
}

// truncateLog checkpoints the whole log into the file and truncates it
// to zero bytes.
func (r *Replica) truncateLog(ctx context.Context) error {
	var busy, frames, done int
	if err := r.db.W.QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &frames, &done); err != nil {
		return fmt.Errorf("sync: empty the log: %w", err)
	}
	if busy != 0 {
		return errors.New("sync: empty the log: a reader kept it busy; the next sync tries again")
	}
	return nil
}

func (r *Replica) sync(ctx context.Context) (Stats, error) {
	var st Stats
	batch := r.opt.PushBatch
	if batch <= 0 {
		batch = defaultPushBatch
	}
	hasMore := true // the first round always asks: the server may have news
	for round := 0; round < maxRounds; round++ {
		// Read again each round: an answer from a server that updated
		// releases held-back changes, and they go in this same sync.
		push, held, err := r.pending(ctx, batch)
		if err != nil {
			return st, err
		}
		st.Held = held
		if len(push) == 0 && !hasMore {
			return st, nil
		}
		req, err := r.request(ctx, push)
		if err != nil {
			return st, err
		}
		resp, sent, err := r.transport.Sync(ctx, req)
		st.RoundTrips += sent
		if err != nil {
			return st, fmt.Errorf("sync with %s: %w", r.serverURL, err)
		}
		st.ServerSchema = max(resp.SchemaVersion, 1)
		if err := r.noteServerSchema(ctx, resp.SchemaVersion); err != nil {
			return st, err
		}
		if resp.Restored {
			if err := r.serverRestored(ctx, resp.Incarnation); err != nil {
				return st, err
			}
			st.ServerRestored = true
			hasMore = true
			continue
		}
		if resp.Repull {
			if err := r.startRepull(ctx, resp.Horizon); err != nil {
				return st, err
			}
			st.Repulled = true
			hasMore = true
			continue
		}
		if err := r.commit(ctx, push, resp, &st); err != nil {
			return st, err
		}
		hasMore = resp.HasMore
		// A full pull does not see deletes collected while it runs: a
		// record it already took may have been deleted since, behind its
		// cursor's back. Only a fresh re-pull can tell.
		if h := resp.Horizon; req.FullPull && req.Cursor != 0 && req.Cursor < h {
			since, err := r.metaUint(ctx, "pull_horizon")
			if err != nil {
				return st, err
			}
			if h > since {
				if err := r.startRepull(ctx, h); err != nil {
					return st, err
				}
				st.Repulled, hasMore = true, true
			}
		}
		if r.opt.Progress != nil {
			r.opt.Progress(st)
		}
	}
	return st, errors.New("sync: did not settle; local writes keep arriving faster than they sync")
}

// request builds the next round trip's request: the device's place in the
// feed and scope, and the changes to push.
func (r *Replica) request(ctx context.Context, push []pending) (*protocol.Request, error) {
	cursor, err := r.cursor(ctx)
	if err != nil {
		return nil, err
	}
	scopeHash, err := r.scopeHash(ctx)
	if err != nil {
		return nil, err
	}
	fullPull := r.inFullPull(ctx, r.db.R)
	incarnation, err := r.metaUint(ctx, "incarnation")
	if err != nil {
		return nil, err
	}
	req := &protocol.Request{Replica: r.id, ServerID: r.serverID, Cursor: cursor, PageLimit: int(r.opt.PageLimit),
		ScopeHash: scopeHash, FullPull: fullPull, Incarnation: incarnation, SchemaVersion: schema.Version}
	for _, p := range push {
		req.Changes = append(req.Changes, protocol.Change{Record: p.change})
	}
	return req, nil
}

func (r *Replica) metaUint(ctx context.Context, key string) (uint64, error) {
	var v sql.NullString
	err := r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("read %s: %w", key, err)
	}
	if !v.Valid || v.String == "" {
		return 0, nil
	}
	return strconv.ParseUint(v.String, 10, 64)
}

func (r *Replica) scopeHash(ctx context.Context) (uint64, error) {
	var h string
	if err := r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope_hash'`).Scan(&h); err != nil {
		return 0, fmt.Errorf("read scope: %w", err)
	}
	return strconv.ParseUint(h, 10, 64)
}

func (r *Replica) cursor(ctx context.Context) (uint64, error) {
	var c int64
	if err := r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'cursor'`).Scan(&c); err != nil {
		return 0, fmt.Errorf("read cursor: %w", err)
	}
	return uint64(c), nil
}
