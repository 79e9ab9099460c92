package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
)

// SafeHorizon is the feed position every active device has pulled past: the
// lowest cursor of the devices seen within activeWithin (not revoked).
// Devices not seen for longer re-pull when they come back.
func (s *Store) SafeHorizon(ctx context.Context, activeWithin time.Duration) (uint64, error) {
	if err := s.FlushSeen(ctx); err != nil {
		return 0, err
	}
	h, ok, err := s.minActiveCursor(ctx, time.Now().Add(-activeWithin))
	if err != nil {
		return 0, fmt.Errorf("horizon: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !ok {
		return s.seq, nil
	}
	return min(h, s.seq), nil
}

// CollectTombstones deletes deleted records written at or before horizon
// (with their receipts) so storage does not grow with deletes forever, and
// remembers the horizon: a device whose cursor is older is told to re-pull
// (see Horizon). It returns how many records it removed.
func (s *Store) CollectTombstones(ctx context.Context, horizon uint64) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	horizon = min(horizon, s.seq)
	tx, err := s.beginTxn(ctx)
	if err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	defer tx.rollback()
	var n int64
	for _, t := range schema.Tables() {
		if !t.Program {
			// Reference data (villages) is seeded on every database: a
			// seeded record whose delete was collected would come back
			// at the next start. Its deletes are rare and small; keep them.
			continue
		}
		// Moves too: a pull across a collected record's move would
		// otherwise look for a row that is gone (and they would pile up).
		if err := tx.dropCollectedTrails(ctx, t.Name, horizon); err != nil {
			return 0, fmt.Errorf("collect tombstones: %w", err)
		}
		s.anyCollected = true // before the commit: true too early only costs a lookup
		k, err := tx.collectDeleted(ctx, t.Name, horizon)
		if err != nil {
			return 0, fmt.Errorf("collect tombstones: %w", err)
		}
		n += k
	}
	// The last trace of a delete goes once no enrolled device is behind
	// it, however long ago it was seen.
	if err := s.saveSeen(ctx, tx); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	if err := tx.dropTracesBehindAll(ctx); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	// The horizon never goes back: what an earlier call collected stays
	// gone whatever horizon a later call is given.
	if err := tx.raiseCollectHorizon(ctx, horizon); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	if err := tx.commit(); err != nil {
		return 0, fmt.Errorf("collect tombstones: %w", err)
	}
	if n > 0 {
		s.log.Info("tombstones collected", "records", n, "horizon", horizon)
	}
	return n, nil
}

// CollectEvery collects tombstones every interval until ctx is done,
// keeping deletes that a device seen within keep has not pulled yet, and
// attachments unreferenced for longer than keep (CollectAttachments).
func CollectEvery(ctx context.Context, st *Store, interval, keep time.Duration, log *slog.Logger) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		h, err := st.SafeHorizon(ctx, keep)
		if err == nil {
			_, err = st.CollectTombstones(ctx, h)
		}
		// Photos no record has named for the same window go too, and
		// uploads abandoned as long.
		if _, _, aerr := st.CollectAttachments(ctx, keep); aerr != nil && err == nil {
			err = aerr
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("collecting tombstones", "err", err)
		}
	}
}
