package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/record"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
	"github.com/futian-xiaomo/villagesync/sync/vv"
)

// selectConflicts reads the log outside any transaction: one statement
// needs no snapshot.
func (s *Store) selectConflicts(ctx context.Context, f ConflictFilter) ([]LoggedConflict, error) {
	return selectConflicts(ctx, s.r, f)
}

func (t *sqlTxn) selectConflicts(ctx context.Context, f ConflictFilter) ([]LoggedConflict, error) {
	return selectConflicts(ctx, t.tx, f)
}

func selectConflicts(ctx context.Context, q interface {
	sqlite.Querier
	dialected
}, f ConflictFilter) ([]LoggedConflict, error) {
	rs, err := q.QueryContext(ctx, `SELECT c.id, tbl, record_id, field, kind,
		winner_type, winner_value, winner_replica, winner_counter, winner_hlc, COALESCE(w.name, ''),
		COALESCE(wu.name, ''),
		loser_type, loser_value, loser_replica, loser_counter, loser_hlc, COALESCE(l.name, ''),
		COALESCE(lu.name, ''),
		server_vv, incoming_vv, detected_ms,
		COALESCE(other_id, ''), COALESCE(resolution, ''), COALESCE(resolved_ms, 0), COALESCE(resolved_by, ''),
		COALESCE((SELECT `+q.joined("record_id", q.pick("','", "',' ORDER BY record_id"))+` FROM
		  (SELECT record_id FROM conflict_members WHERE conflict_id = c.id ORDER BY record_id) m), ''),
		COALESCE(winner_carried_by, ''), COALESCE(loser_carried_by, '')
		FROM conflicts c
		LEFT JOIN replicas w ON w.id = c.winner_replica
		LEFT JOIN replicas l ON l.id = c.loser_replica
		LEFT JOIN users wu ON wu.id = w.user_id
		LEFT JOIN users lu ON lu.id = l.user_id
		WHERE c.id > ? AND (? = '' OR tbl = ?) AND (? = 0 OR resolution IS NULL)
		  AND (? = 0 OR resolution IS NOT NULL) AND (? = 0 OR c.id = ?)
		ORDER BY c.id LIMIT ?`, int64(f.AfterID), f.Table, f.Table, f.OpenOnly, f.ResolvedOnly,
		int64(f.ID), int64(f.ID), f.Limit)
	if err != nil {
		return nil, fmt.Errorf("list conflicts: %w", err)
	}
	defer rs.Close()
	var out []LoggedConflict
	for rs.Next() {
		var c LoggedConflict
		var wt, lt int
		var wv, lv any
		var svv, ivv []byte
		var detected, resolved int64
		var members string
		err := rs.Scan(&c.LogID, &c.Table, &c.ID, &c.Field, &c.Kind,
			&wt, &wv, &c.Winner.Dot.Replica, &c.Winner.Dot.Counter, &c.Winner.Dot.HLC, &c.WinnerDevice, &c.WinnerUser,
			&lt, &lv, &c.Loser.Dot.Replica, &c.Loser.Dot.Counter, &c.Loser.Dot.HLC, &c.LoserDevice, &c.LoserUser,
			&svv, &ivv, &detected, &c.OtherID, &c.Resolution, &resolved, &c.ResolvedBy,
			&members, &c.WinnerCarriedBy, &c.LoserCarriedBy)
		if err != nil {
			return nil, fmt.Errorf("list conflicts: %w", err)
		}
		if c.Winner.Value, err = schema.FromSQL(schema.Type(wt), wv); err != nil {
			return nil, fmt.Errorf("conflict %d winner: %w", c.LogID, err)
		}
		if c.Loser.Value, err = schema.FromSQL(schema.Type(lt), lv); err != nil {
			return nil, fmt.Errorf("conflict %d loser: %w", c.LogID, err)
		}
		if c.ServerVersion, err = vv.Decode(svv); err != nil {
			return nil, fmt.Errorf("conflict %d: %w", c.LogID, err)
		}
		if c.IncomingVersion, err = vv.Decode(ivv); err != nil {
			return nil, fmt.Errorf("conflict %d: %w", c.LogID, err)
		}
		if members != "" {
			c.Members = strings.Split(members, ",") // ids are UUIDs: no commas
		}
		c.DetectedAt = time.UnixMilli(detected).UTC()
		if resolved != 0 {
			c.ResolvedAt = time.UnixMilli(resolved).UTC()
		}
		out = append(out, c)
	}
	return out, rs.Err()
}

func (v *sqlView) readRecord(ctx context.Context, t *schema.Table, id string) (*record.Record, bool, error) {
	var seq int64
	r, err := sqlite.Scan(t, v.tx.QueryRowContext(ctx,
		fmt.Sprintf(`SELECT %s, _seq FROM %s WHERE id = ?`, sqlite.Columns(t), t.Name), id), &seq)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s %s: %w", t.Name, id, err)
	}
	r.Seq = uint64(seq)
	return r, true, nil
}

func (v *sqlView) replicaName(ctx context.Context, replica uint32) (replicaName, error) {
	var n replicaName
	err := v.tx.QueryRowContext(ctx, `SELECT r.name, COALESCE(u.name, '') FROM replicas r
		LEFT JOIN users u ON u.id = r.user_id WHERE r.id = ?`, replica).Scan(&n.device, &n.user)
	if errors.Is(err, sql.ErrNoRows) {
		return replicaName{}, nil
	}
	if err != nil {
		return replicaName{}, fmt.Errorf("replica %d: %w", replica, err)
	}
	return n, nil
}
