package store

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// StatsActiveWithin is how recently a device must have synced for its lag
// to count in Stats: one away longer (a phone in a drawer, a volunteer
// gone for the season) would hold the slowest lag at its cursor for ever,
// and past the default collection window (serve's --keep-deletes) it
// re-pulls anyway.
const StatsActiveWithin = 30 * 24 * time.Hour

// Stats is the state of the shared database an operator watches: what
// staff have to review and how far behind the devices are. It names no
// device, user, village or record: every field is a count or a position.
type Stats struct {
	// Head is the feed position: the seq of the newest write.
	Head uint64
	// OpenConflicts is how many conflict log entries await review.
	OpenConflicts int64
	// HeldChanges is how many refused changes the server keeps for staff.
	HeldChanges int64
	// Lags are the active devices' lags, lowest first: Head minus the
	// cursor each last pulled to, in feed positions. A device is active
	// when it is not revoked and synced within StatsActiveWithin; one
	// that never synced (a console's browser) has no lag.
	Lags []uint64
}

// MaxLag is the slowest active device's lag; 0 with none.
func (s Stats) MaxLag() uint64 {
	if len(s.Lags) == 0 {
		return 0
	}
	return s.Lags[len(s.Lags)-1]
}

// statsView reads what Stats reports.
type statsView interface {
	// countOpenConflicts counts the conflict log entries not resolved.
	countOpenConflicts(ctx context.Context) (int64, error)
	// countHeldChanges counts the refused changes held for staff.
	countHeldChanges(ctx context.Context) (int64, error)
	// activeCursors returns the cursors of the devices (the server aside)
	// not revoked and seen at or after since, in any order.
	activeCursors(ctx context.Context, since time.Time) ([]uint64, error)
}

// Stats reads the database's counts and the devices' lags in one
// snapshot, so the lags are measured against the head they were read
// with. It costs a few reads: two counts over small indexed tables and
// one row a device. It first writes the syncs this process noted in
// memory (FlushSeen; nothing when none): otherwise a device that only
// pulled since the last push would show the lag it had before.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	if err := s.FlushSeen(ctx); err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	v, err := s.beginView(ctx)
	if err != nil {
		return Stats{}, fmt.Errorf("stats: %w", err)
	}
	defer v.close()
	var st Stats
	if st.Head, err = v.feedHead(ctx); err != nil {
		return Stats{}, fmt.Errorf("stats: feed position: %w", err)
	}
	if st.OpenConflicts, err = v.countOpenConflicts(ctx); err != nil {
		return Stats{}, fmt.Errorf("stats: open conflicts: %w", err)
	}
	if st.HeldChanges, err = v.countHeldChanges(ctx); err != nil {
		return Stats{}, fmt.Errorf("stats: held changes: %w", err)
	}
	cursors, err := v.activeCursors(ctx, time.Now().Add(-StatsActiveWithin))
	if err != nil {
		return Stats{}, fmt.Errorf("stats: device cursors: %w", err)
	}
	st.Lags = make([]uint64, len(cursors))
	for i, c := range cursors {
		// A cursor is never past the head it was pulled from; one written
		// by a restored database's devices could be, and is not behind.
		if c < st.Head {
			st.Lags[i] = st.Head - c
		}
	}
	slices.Sort(st.Lags)
	return st, nil
}
