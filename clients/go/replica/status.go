package replica

import (
	"context"
	"fmt"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
)

// Status is what a volunteer or staff member needs to see to trust that a
// device is syncing: what is waiting, what was refused, when it last
// reached the server.
type Status struct {
	Replica  uint32         `json:"replica"`
	Name     string         `json:"name"`
	Server   string         `json:"server"`
	Cursor   uint64         `json:"cursor"`
	Pending  map[string]int `json:"pending"` // per table: records with writes not yet acknowledged
	Rejected int            `json:"rejected"`
	// RejectedRemoved counts refused changes of villages the device no
	// longer serves, removed from it (the server holds them for staff).
	RejectedRemoved int        `json:"rejected_removed,omitempty"`
	LastSync        *time.Time `json:"last_sync,omitempty"`
	LastError       string     `json:"last_error,omitempty"`
	// ScrubPending: removed records still wait to be wiped from the file.
	ScrubPending bool `json:"scrub_pending,omitempty"`
	// ServerSchema is the schema version the server last stated (1 until
	// one does); Held the pending changes kept for its update, because
	// they write newer columns, and Waiting says so in a sentence.
	ServerSchema int    `json:"server_schema"`
	Held         int    `json:"held,omitempty"`
	Waiting      string `json:"waiting,omitempty"`
}

// Status reports the device's sync state.
func (r *Replica) Status(ctx context.Context) (Status, error) {
	s := Status{Replica: r.id, Name: r.name, Server: r.serverURL, Pending: map[string]int{}}
	var err error
	if s.Cursor, err = r.cursor(ctx); err != nil {
		return s, err
	}
	for _, t := range schema.Tables() {
		var n int
		if err := r.db.R.QueryRowContext(ctx, pendingCount(t)).
			Scan(&n); err != nil {
			return s, fmt.Errorf("status: %w", err)
		}
		if n > 0 {
			s.Pending[t.Name] = n
		}
	}
	if err := r.db.R.QueryRowContext(ctx, `SELECT count(*) FROM rejected`).Scan(&s.Rejected); err != nil {
		return s, fmt.Errorf("status: %w", err)
	}
	if s.RejectedRemoved, err = r.RejectedRemoved(ctx); err != nil {
		return s, fmt.Errorf("status: %w", err)
	}
	var ms int64
	var lastErr string
	err = r.db.R.QueryRowContext(ctx, `SELECT
		COALESCE((SELECT value FROM meta WHERE key = 'last_sync_ms'), 0),
		COALESCE((SELECT value FROM meta WHERE key = 'last_error'), '')`).Scan(&ms, &lastErr)
	if err != nil {
		return s, fmt.Errorf("status: %w", err)
	}
	if ms > 0 {
		t := time.UnixMilli(ms).UTC()
		s.LastSync = &t
	}
	s.LastError = lastErr
	var scrub string
	r.db.R.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scrub'`).Scan(&scrub)
	s.ScrubPending = scrub == "1"
	if s.ServerSchema, err = r.serverSchema(ctx); err != nil {
		return s, fmt.Errorf("status: %w", err)
	}
	if s.Held, err = r.heldBack(ctx, s.ServerSchema); err != nil {
		return s, fmt.Errorf("status: %w", err)
	}
	if s.Held > 0 {
		s.Waiting = WaitingNote(s.Held, s.ServerSchema)
	}
	return s, nil
}

// noteOutcome records when the last sync finished and how, for Status.
func (r *Replica) noteOutcome(ctx context.Context, syncErr error) {
	msg := ""
	if syncErr != nil {
		msg = syncErr.Error()
	}
	// Best effort: a failure to note the outcome must not hide the outcome.
	_, _ = r.db.W.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('last_error', ?)`, msg)
	if syncErr == nil {
		_, _ = r.db.W.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('last_sync_ms', ?)`,
			time.Now().UnixMilli())
	}
}
