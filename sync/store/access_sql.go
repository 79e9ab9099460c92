package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/sqlite"
)

var (
	_ accessTxn     = (*sqlTxn)(nil)
	_ accessView    = (*sqlView)(nil)
	_ accessBackend = (*sqlBackend)(nil)
)

// villageSep separates the villages joined into one column (unitSep).
const villageSep = "\x1f"

func splitVillages(vs string) []string {
	if vs == "" {
		return nil
	}
	return strings.Split(vs, villageSep)
}

func (t *sqlTxn) insertUser(ctx context.Context, name string, role Role, created time.Time) (int64, bool, error) {
	var id int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO users (name, role, created_ms) VALUES (?, ?, ?)
		ON CONFLICT (name) DO NOTHING RETURNING id`, name, string(role), created.UnixMilli()).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

func (t *sqlTxn) userByName(ctx context.Context, name string) (int64, Role, bool, error) {
	var id int64
	var role Role
	err := t.tx.QueryRowContext(ctx, `SELECT id, role FROM users WHERE name = ?`, name).Scan(&id, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, err
	}
	return id, role, true, nil
}

func (t *sqlTxn) knownVillages(ctx context.Context) (*schema.Villages, error) {
	return sqlite.Villages(ctx, t.tx)
}

func (t *sqlTxn) deleteUserVillages(ctx context.Context, userID int64, keep []string) error {
	args := []any{userID}
	for _, v := range keep {
		args = append(args, v)
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM user_villages WHERE user_id = ? AND village NOT IN (`+
		strings.TrimSuffix(strings.Repeat("?, ", len(keep)), ", ")+`)`, args...)
	return err
}

func (t *sqlTxn) insertUserVillage(ctx context.Context, userID int64, village string, since uint64) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO user_villages (user_id, village, since_seq)
		VALUES (?, ?, ?) ON CONFLICT DO NOTHING`, userID, village, int64(since))
	return err
}

func (t *sqlTxn) enrollmentCode(ctx context.Context, codeHash []byte) (enrollmentCode, bool, error) {
	var userID, expires int64
	var used sql.NullInt64
	err := t.tx.QueryRowContext(ctx, `SELECT user_id, expires_ms, used_ms FROM enrollment_codes WHERE code_hash = ?`,
		codeHash).Scan(&userID, &expires, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return enrollmentCode{}, false, nil
	}
	if err != nil {
		return enrollmentCode{}, false, err
	}
	return enrollmentCode{userID: userID, expires: time.UnixMilli(expires), used: used.Valid}, true, nil
}

func (t *sqlTxn) insertDevice(ctx context.Context, name string, userID int64, tokenHash, boxKey []byte,
	created time.Time) (uint32, error) {
	var replica int64
	err := t.tx.QueryRowContext(ctx, `INSERT INTO replicas (name, created_ms, user_id, token_hash, box_public_key)
		VALUES (?, ?, ?, ?, ?) RETURNING id`, name, created.UnixMilli(), userID, tokenHash, boxKey).Scan(&replica)
	if err != nil {
		return 0, err
	}
	return uint32(replica), nil
}

func (t *sqlTxn) markEnrollmentCodeUsed(ctx context.Context, codeHash []byte, replica uint32,
	at time.Time) error {
	_, err := t.tx.ExecContext(ctx, `UPDATE enrollment_codes SET used_ms = ?, used_by = ? WHERE code_hash = ?`,
		at.UnixMilli(), replica, codeHash)
	return err
}

func (t *sqlTxn) principalByReplica(ctx context.Context, replica uint32) (Principal, bool, error) {
	return principalWhere(ctx, t.tx, `r.id = ?`, replica)
}

func (b *sqlBackend) principalByToken(ctx context.Context, tokenHash []byte) (Principal, bool, error) {
	return principalWhere(ctx, b.r, `r.token_hash = ? AND r.revoked_ms IS NULL`, tokenHash)
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sqlRow
	dialected
}

func principalWhere(ctx context.Context, q rowQuerier, where string, arg any) (Principal, bool, error) {
	var p Principal
	var vs string
	err := q.QueryRowContext(ctx, `SELECT r.id, r.name, u.id, u.name, u.role,
		COALESCE((SELECT `+q.joined("village", q.unitSep())+` FROM user_villages WHERE user_id = u.id), '')
		FROM replicas r JOIN users u ON u.id = r.user_id WHERE `+where,
		arg).Scan(&p.Replica, &p.Device, &p.UserID, &p.User, &p.Role, &vs)
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, false, nil
	}
	if err != nil {
		return Principal{}, false, err
	}
	p.Villages = splitVillages(vs)
	return p, true, nil
}

func (b *sqlBackend) listUsers(ctx context.Context) ([]User, error) {
	rs, err := b.r.QueryContext(ctx, `SELECT u.name, u.role, u.created_ms,
		COALESCE(`+b.r.joined("v.village", b.r.unitSep())+`, '')
		FROM users u LEFT JOIN user_villages v ON v.user_id = u.id GROUP BY u.id ORDER BY u.name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rs.Close()
	var out []User
	for rs.Next() {
		var u User
		var ms int64
		var vs string
		if err := rs.Scan(&u.Name, &u.Role, &ms, &vs); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.Created = time.UnixMilli(ms).UTC()
		u.Villages = splitVillages(vs)
		out = append(out, u)
	}
	return out, rs.Err()
}

func (b *sqlBackend) userIDOnWriter(ctx context.Context, name string) (int64, bool, error) {
	var id int64
	err := b.w.QueryRowContext(ctx, `SELECT id FROM users WHERE name = ?`, name).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	return id, true, nil
}

func (b *sqlBackend) insertEnrollmentCode(ctx context.Context, codeHash []byte, userID int64,
	created, expires time.Time) error {
	_, err := b.w.ExecContext(ctx, `INSERT INTO enrollment_codes (code_hash, user_id, created_ms, expires_ms)
		VALUES (?, ?, ?, ?)`,
		codeHash, userID, created.UnixMilli(), expires.UnixMilli())
	return err
}

func (b *sqlBackend) userRole(ctx context.Context, name string) (Role, bool, error) {
	var r Role
	err := b.r.QueryRowContext(ctx, `SELECT role FROM users WHERE name = ?`, name).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return r, err == nil, err
}

func (b *sqlBackend) deviceRole(ctx context.Context, replica uint32) (Role, bool, error) {
	var r Role
	err := b.r.QueryRowContext(ctx, `SELECT u.role FROM replicas d JOIN users u ON u.id = d.user_id WHERE d.id = ?`,
		replica).Scan(&r)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	return r, err == nil, err
}

func (v *sqlView) listDevices(ctx context.Context, tables []*schema.Table, scoped Role) ([]Device, error) {
	// One pass over the feed, however many devices: the records after the
	// lowest cursor are counted in buckets, one per stretch between two
	// devices' cursors, by village and origin (the last writer); a device
	// sums the buckets after its cursor that its pull would send it. A
	// count per device would read the feed after its cursor once for each
	// device: 3 s for 30 devices that never synced and 100,000 records.
	// A device that has never synced (no last_seen_ms: every sync notes
	// it, with its cursor) is behind 0 and bounds nothing: the console's
	// browsers never sync, and at cursor 0 each would make every list
	// read the whole feed for a lag that means nothing.
	var buckets []string
	for _, t := range tables {
		village, inScope := "NULL", "0"
		if t.Scope != "" {
			village, inScope = "f."+t.Scope, "1"
		}
		buckets = append(buckets, fmt.Sprintf(`SELECT b.c, %s, %s AS village, f._origin AS origin, count(*) AS n
			FROM bounds b JOIN %s f ON f._seq > b.c AND (b.next IS NULL OR f._seq <= b.next)
			GROUP BY b.c, village, origin`, inScope, village, t.Name))
	}
	behind := "0"
	if len(buckets) > 0 {
		behind = `(SELECT COALESCE(sum(k.n), 0) FROM buckets k
			WHERE k.c >= r.last_cursor AND k.origin != r.id
			  AND (k.scoped = 0 OR COALESCE(u.role, '') != ?2
			       OR k.village IN (SELECT village FROM user_villages WHERE user_id = u.id)))`
	}
	with := `WITH cursors AS MATERIALIZED (SELECT DISTINCT last_cursor AS c FROM replicas
			WHERE id != ?1 AND revoked_ms IS NULL AND last_seen_ms IS NOT NULL),
		bounds AS MATERIALIZED (SELECT c, lead(c) OVER (ORDER BY c) AS next FROM cursors)`
	if len(buckets) > 0 {
		with += `,
		buckets (c, scoped, village, origin, n) AS MATERIALIZED (` + strings.Join(buckets, " UNION ALL ") + `)`
	}
	rs, err := v.tx.QueryContext(ctx, with+`
		SELECT r.id, r.name, COALESCE(u.name, ''), COALESCE(u.role, ''), r.created_ms,
		COALESCE(r.last_seen_ms, 0), COALESCE(r.revoked_ms, 0), r.last_cursor,
		CASE WHEN r.revoked_ms IS NULL AND r.last_seen_ms IS NOT NULL THEN `+behind+` ELSE 0 END
		FROM replicas r LEFT JOIN users u ON u.id = r.user_id WHERE r.id != ?1 ORDER BY r.id`,
		ServerReplica, string(scoped))
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", err)
	}
	defer rs.Close()
	var out []Device
	for rs.Next() {
		var d Device
		var enrolled, seen, revoked, cursor, behind int64
		if err := rs.Scan(&d.Replica, &d.Name, &d.User, &d.Role, &enrolled, &seen, &revoked, &cursor,
			&behind); err != nil {
			return nil, fmt.Errorf("list devices: %w", err)
		}
		d.PulledSeq, d.Behind = uint64(cursor), uint64(behind)
		d.Enrolled = time.UnixMilli(enrolled).UTC()
		if seen != 0 {
			d.LastSeen = time.UnixMilli(seen).UTC()
		}
		if revoked != 0 {
			d.Revoked = time.UnixMilli(revoked).UTC()
		}
		out = append(out, d)
	}
	return out, rs.Err()
}

func (b *sqlBackend) listVillages(ctx context.Context) ([]Village, error) {
	rs, err := b.r.QueryContext(ctx, `SELECT id, COALESCE(name, ''), COALESCE(pinyin, ''), COALESCE(aliases, '')
		FROM `+schema.VillageTable+` WHERE _deleted = 0 AND name IS NOT NULL ORDER BY name`)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []Village
	for rs.Next() {
		var v Village
		var aliases string
		if err := rs.Scan(&v.ID, &v.Name, &v.Pinyin, &aliases); err != nil {
			return nil, err
		}
		for a := range strings.SplitSeq(aliases, ",") { // as the villages table holds them
			if a = strings.TrimSpace(a); a != "" {
				v.Aliases = append(v.Aliases, a)
			}
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

func (b *sqlBackend) revokeReplica(ctx context.Context, replica uint32, at time.Time) (bool, error) {
	res, err := b.w.ExecContext(ctx, `UPDATE replicas SET revoked_ms = COALESCE(revoked_ms, ?)
		WHERE id = ? AND id != ?`, at.UnixMilli(), replica, ServerReplica)
	if err != nil {
		return false, err
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

func (b *sqlBackend) listRecordChanges(ctx context.Context, table, id string) ([]Change, error) {
	rs, err := b.r.QueryContext(ctx, `SELECT a.id, a.at_ms, a.replica, COALESCE(r.name, ''), COALESCE(u.name, ''),
		COALESCE(u.role, ''), a.outcome, a.detail
		FROM audit a LEFT JOIN replicas r ON r.id = a.replica LEFT JOIN users u ON u.id = a.user_id
		WHERE a.tbl = ? AND a.record_id = ? ORDER BY a.id`, table, id)
	if err != nil {
		return nil, fmt.Errorf("list changes: %w", err)
	}
	defer rs.Close()
	var out []Change
	for rs.Next() {
		var c Change
		var ms int64
		if err := rs.Scan(&c.Seq, &ms, &c.Replica, &c.Device, &c.User, &c.Role, &c.Outcome, &c.Detail); err != nil {
			return nil, fmt.Errorf("list changes: %w", err)
		}
		c.At = time.UnixMilli(ms).UTC()
		out = append(out, c)
	}
	return out, rs.Err()
}
