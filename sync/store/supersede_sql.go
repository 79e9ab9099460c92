package store

import (
	"context"

	"github.com/futian-xiaomo/villagesync/sync/record"
)

func (t *sqlTxn) openEntries(ctx context.Context, table, id string) ([]openEntry, error) {
	rs, err := t.tx.QueryContext(ctx, `SELECT id, kind, field, winner_replica, winner_counter, winner_hlc, loser_replica, loser_counter, loser_hlc
		FROM conflicts WHERE tbl = ? AND record_id = ? AND resolution IS NULL AND kind IN (?, ?)
		ORDER BY id`, table, id, record.KindField, record.KindDeleteVsEdit)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []openEntry
	for rs.Next() {
		var e openEntry
		if err := rs.Scan(&e.id, &e.kind, &e.field, &e.winner.Replica, &e.winner.Counter, &e.winner.HLC,
			&e.loser.Replica, &e.loser.Counter, &e.loser.HLC); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, rs.Err()
}
