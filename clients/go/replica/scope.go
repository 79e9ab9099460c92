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
// staff) and are removed on a later sync.
func (r *Replica) rescope(ctx context.Context, tx *sql.Tx, resp *protocol.Response) error {
	// A re-pull after a change of villages asks for the device's own
	// records too until its last page is in.
	var prev string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope_hash'`).Scan(&prev); err != nil {
		return fmt.Errorf("sync: read scope: %w", err)
	}
	full := "0"
	if resp.HasMore && (resp.Rescoped && prev != "0" || r.inFullPull(ctx, tx)) {
		full = "1"
	}
	if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('full_pull', ?)`,
		full); err != nil {
		return fmt.Errorf("sync: save scope: %w", err)
	}
	if resp.Rescoped {
		// The pull starts again from zero: note the horizon it starts at.
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO meta (key, value) VALUES ('pull_horizon', ?)`,
			strconv.FormatUint(resp.Horizon, 10)); err != nil {
			return fmt.Errorf("sync: save scope: %w", err)
		}
		scope := "*"
		if !resp.AllVillages {
			b, _ := json.Marshal(resp.Scope)
			scope = string(b)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'scope'`, scope); err != nil {
			return fmt.Errorf("sync: save scope: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE meta SET value = ? WHERE key = 'scope_hash'`,
			strconv.FormatUint(resp.ScopeHash, 10)); err != nil {
			return fmt.Errorf("sync: save scope: %w", err)
		}
	}
	var scope string
	if err := tx.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'scope'`).Scan(&scope); err != nil {
		return fmt.Errorf("sync: read scope: %w", err)
	}
	if scope == "*" {
		return nil
	}
	var villages []string
	if err := json.Unmarshal([]byte(scope), &villages); err != nil {
		return fmt.Errorf("sync: corrupt scope %q: %w", scope, err)
	}
	marks := strings.TrimSuffix(strings.Repeat("?, ", len(villages)), ", ")
	args := make([]any, len(villages))
	for i, v := range villages {
		args[i] = v
	}
	for _, t := range schema.Tables() {
		if t.Scope == "" {
			continue
		}
		q := fmt.Sprintf(`DELETE FROM %s WHERE _own <= _acked AND %s NOT IN (%s)`, t.Name, t.Scope, marks)
		if len(villages) == 0 {
			q = fmt.Sprintf(`DELETE FROM %s WHERE _own <= _acked`, t.Name)
		}
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("sync: remove records out of scope: %w", err)
		}
	}
	return nil
}

func (r *Replica) inFullPull(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) *sql.Row
}) bool {
	var v string
	q.QueryRowContext(ctx, `SELECT value FROM meta WHERE key = 'full_pull'`).Scan(&v)
	return v == "1"
}
