package replica

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/protocol"
)

// rescope keeps the villages the server says this device serves and
// removes records of other villages, except those with writes not yet
// pushed: they go to the server first (which keeps what it refuses for
// staff) and are removed on a later sync. Refused changes of other
// villages leave too: the server held each when it refused it. It says
// whether it removed anything.
func (r *Replica) rescope(ctx context.Context, tx *sql.Tx, resp *protocol.Response) (bool, error) {
	// A re-pull after a change of villages asks for the device's own
	// records too until its last page is in.
	var prev string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope_hash'`).Scan(&prev); err != nil {
		return false, fmt.Errorf("sync: read scope: %w", err)
	}
	full := "0"
	if resp.HasMore && (resp.Rescoped && prev != "0" || r.inFullPull(ctx, tx)) {
		full = "1"
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('full_pull', ?)`,
		full); err != nil {
		return false, fmt.Errorf("sync: save scope: %w", err)
	}
	if resp.Rescoped {
		// The pull starts again from zero: note the horizon it starts at.
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('pull_horizon', ?)`,
			strconv.FormatUint(resp.Horizon, 10)); err != nil {
			return false, fmt.Errorf("sync: save scope: %w", err)
		}
		scope := "*"
		if !resp.AllVillages {
			b, _ := json.Marshal(resp.Scope)
			scope = string(b)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'scope'`, scope); err != nil {
			return false, fmt.Errorf("sync: save scope: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'scope_hash'`,
			strconv.FormatUint(resp.ScopeHash, 10)); err != nil {
			return false, fmt.Errorf("sync: save scope: %w", err)
		}
	}
	var scope string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope'`).Scan(&scope); err != nil {
		return false, fmt.Errorf("sync: read scope: %w", err)
	}
	if scope == "*" {
		return false, nil
	}
	var villages []string
	if err := json.Unmarshal([]byte(scope), &villages); err != nil {
		return false, fmt.Errorf("sync: corrupt scope %q: %w", scope, err)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(villages)), ", ")
	args := make([]any, len(villages))
	for i, v := range villages {
		args[i] = v
	}
	// outside is the condition that col names a village not served; a
	// NULL village (not known) is outside only if unknownToo.
	outside := func(col string, unknownToo bool) string {
		switch {
		case len(villages) > 0:
			return fmt.Sprintf("%s NOT IN (%s)", col, marks)
		case unknownToo:
			return "1"
		}
		return col + " IS NOT NULL"
	}
	// Refused changes first, while the records that tell their village are
	// still here. resource_exhausted: refused because the server would hold
	// no more of this device's refused changes, so this copy is the only one.
	var dropped int64
	for _, t := range schema.Tables() {
		if t.Scope == "" {
			continue
		}
		village := fmt.Sprintf(`COALESCE(json_extract(change, '$.village'), json_extract(change, '$.fields.%s'),
			(SELECT %s FROM %s WHERE id = rejected.record_id))`, t.Scope, t.Scope, t.Name)
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM rejected
			WHERE tbl = ? AND code <> 'resource_exhausted' AND %s`, outside(village, false)), append([]any{t.Name}, args...)...)
		if err != nil {
			return false, fmt.Errorf("sync: remove refused changes out of scope: %w", err)
		}
		n, _ := res.RowsAffected()
		dropped += n
	}
	if dropped > 0 {
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('rejected_removed',
			COALESCE((SELECT value FROM meta WHERE key = 'rejected_removed'), 0) + ?)`, dropped); err != nil {
			return false, fmt.Errorf("sync: remove refused changes out of scope: %w", err)
		}
	}
	removed := false
	for _, t := range schema.Tables() {
		if t.Scope == "" {
			continue
		}
		res, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM %s WHERE _own <= _acked AND %s`,
			t.Name, outside(t.Scope, true)), args...)
		if err != nil {
			return false, fmt.Errorf("sync: remove records out of scope: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			removed = true
		}
	}
	return removed || dropped > 0, nil
}

func (r *Replica) inFullPull(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) bool {
	var v string
	q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'full_pull'`).Scan(&v)
	return v == "1"
}
