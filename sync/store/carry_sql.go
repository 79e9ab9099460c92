package store

import (
	"context"
	"database/sql"
	"errors"

	"github.com/futian-xiaomo/villagesync/sync/record"
)

func (b *sqlBackend) keepBoxKeys(ctx context.Context, public, private []byte) ([]byte, []byte, error) {
	if _, err := b.w.ExecContext(ctx, `INSERT INTO box_keys (id, public, private) VALUES (1, ?, ?) ON CONFLICT DO NOTHING`,
		public, private); err != nil {
		return nil, nil, err
	}
	var pub, priv []byte
	err := b.w.QueryRowContext(ctx, `SELECT public, private FROM box_keys WHERE id = 1`).Scan(&pub, &priv)
	return pub, priv, err
}

func (b *sqlBackend) deviceBoxKey(ctx context.Context, replica uint32, onWriter bool) ([]byte, bool, error) {
	q := b.r
	if onWriter {
		q = b.w
	}
	var key []byte
	err := q.QueryRowContext(ctx, `SELECT box_public_key FROM replicas WHERE id = ?`, replica).Scan(&key)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return key, true, nil
}

func (b *sqlBackend) setDeviceBoxKey(ctx context.Context, replica uint32, key []byte) error {
	_, err := b.w.ExecContext(ctx, `UPDATE replicas SET box_public_key = ? WHERE id = ? AND box_public_key IS NULL`,
		key, replica)
	return err
}

func (b *sqlBackend) clearDeviceBoxKey(ctx context.Context, replica uint32) error {
	_, err := b.w.ExecContext(ctx, `UPDATE replicas SET box_public_key = NULL WHERE id = ?`, replica)
	return err
}

func (b *sqlBackend) carriedDevice(ctx context.Context, replica uint32) (CarriedDevice, bool, error) {
	var d CarriedDevice
	var revoked, user int64
	err := b.r.QueryRowContext(ctx, `SELECT name, COALESCE(revoked_ms, 0), box_public_key, last_cursor,
		COALESCE(user_id, 0) FROM replicas WHERE id = ?`, replica).Scan(&d.Device, &revoked, &d.BoxKey,
		&d.LastCursor, &user)
	if errors.Is(err, sql.ErrNoRows) {
		return CarriedDevice{}, false, nil
	}
	if err != nil {
		return CarriedDevice{}, false, err
	}
	d.Replica, d.Revoked = replica, revoked != 0
	if user == 0 {
		return d, true, nil
	}
	p, ok, err := principalWhere(ctx, b.r, `r.id = ?`, replica)
	if err != nil {
		return CarriedDevice{}, false, err
	}
	if ok {
		d.Principal, d.Enrolled = p, true
	}
	return d, true, nil
}

func (b *sqlBackend) acks(ctx context.Context, replica uint32) ([]Ack, error) {
	rs, err := b.r.QueryContext(ctx, `SELECT tbl, record_id, counter FROM receipts
		WHERE replica = ? AND outcome != ? ORDER BY tbl, record_id`, replica, int(record.Rejected))
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Ack
	for rs.Next() {
		var a Ack
		if err := rs.Scan(&a.Table, &a.ID, &a.Counter); err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, rs.Err()
}

func (b *sqlBackend) ackedCounter(ctx context.Context, replica uint32, table, id string) (uint64, bool, error) {
	var counter uint64
	err := b.r.QueryRowContext(ctx, `SELECT counter FROM receipts
		WHERE replica = ? AND tbl = ? AND record_id = ? AND outcome != ?`, replica, table, id, int(record.Rejected)).
		Scan(&counter)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return counter, err == nil, err
}
