package replica

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// RejectedChange is a change the server refused, kept on the device.
type RejectedChange struct {
	Table, ID  string
	Code       string
	Message    string
	Change     json.RawMessage
	RejectedAt time.Time
}

// Rejected lists the changes the server refused, oldest first.
func (r *Replica) Rejected(ctx context.Context) ([]RejectedChange, error) {
	rs, err := r.db.R.QueryContext(ctx, `SELECT tbl, record_id, code, message, change, rejected_ms
		FROM rejected ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("list rejected: %w", err)
	}
	defer rs.Close()
	var out []RejectedChange
	for rs.Next() {
		var c RejectedChange
		var body string
		var ms int64
		if err := rs.Scan(&c.Table, &c.ID, &c.Code, &c.Message, &body, &ms); err != nil {
			return nil, fmt.Errorf("list rejected: %w", err)
		}
		c.Change, c.RejectedAt = json.RawMessage(body), time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	return out, rs.Err()
}

// RejectedRemoved is how many refused changes left the device because it
// no longer serves their village: the server holds each (staff see them
// among held changes), so the device need not, and must not, keep them.
func (r *Replica) RejectedRemoved(ctx context.Context) (int, error) {
	var n int
	if err := r.db.R.QueryRowContext(ctx, `SELECT COALESCE((SELECT value FROM meta
		WHERE key = 'rejected_removed'), 0)`).Scan(&n); err != nil {
		return 0, fmt.Errorf("list rejected: %w", err)
	}
	return n, nil
}
