package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/futian-xiaomo/villagesync/schema"
)

// The attachment lane on SQLite. A transaction and a snapshot read the
// same way: through querier.

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sqlRow
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	dialected
}

func storedSize(ctx context.Context, q querier, digest string) (uint64, bool, error) {
	var n int64
	err := q.QueryRowContext(ctx, `SELECT size FROM attachments WHERE digest = ?`, digest).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	return uint64(n), err == nil, err
}

func readUpload(ctx context.Context, q querier, digest string, replica uint32) (uint64, uint64, bool, error) {
	var size, got int64
	err := q.QueryRowContext(ctx, `SELECT size, received FROM attachment_uploads WHERE digest = ? AND replica = ?`,
		digest, replica).Scan(&size, &got)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, false, nil
	}
	return uint64(size), uint64(got), err == nil, err
}

func referenced(ctx context.Context, q querier, digest string, all bool, villages []string) (bool, error) {
	query := `SELECT EXISTS (SELECT 1 FROM attachment_refs WHERE digest = ?`
	args := []any{digest}
	if !all {
		query += ` AND (village IS NULL OR village IN (` + placeholders(len(villages)) + `))`
		for _, v := range villages {
			args = append(args, v)
		}
	}
	var ok bool
	if err := q.QueryRowContext(ctx, query+`)`, args...).Scan(&ok); err != nil || ok {
		return ok, err
	}
	// A photo only an open conflict's value names (the losing value of a
	// concurrent edit, never uploaded before it lost) must still reach
	// the server and staff, who may choose it.
	query = `SELECT EXISTS (SELECT 1 FROM conflicts c WHERE c.resolution IS NULL
		AND (` + q.contains("c.winner_value", "?1") + ` OR ` + q.contains("c.loser_value", "?1") + `)`
	if !all {
		query += ` AND ` + conflictInVillages(len(villages))
	}
	err := q.QueryRowContext(ctx, query+`)`, args...).Scan(&ok)
	return ok, err
}

// conflictInVillages is the condition that conflict c's record is of a
// table scoped to none, or of one of n villages (parameters ?2 on).
func conflictInVillages(n int) string {
	var scoped, cases []string
	for _, t := range schema.Tables() {
		if t.Scope != "" {
			scoped = append(scoped, "'"+t.Name+"'")
			cases = append(cases, fmt.Sprintf(`WHEN '%s' THEN (SELECT %s FROM %s x WHERE x.id = c.record_id)`,
				t.Name, t.Scope, t.Name))
		}
	}
	if len(scoped) == 0 {
		return "1"
	}
	in := "NULL"
	if n > 0 {
		var ps []string
		for i := range n {
			ps = append(ps, fmt.Sprintf("?%d", i+2))
		}
		in = strings.Join(ps, ",")
	}
	return `(c.tbl NOT IN (` + strings.Join(scoped, ",") + `) OR CASE c.tbl ` + strings.Join(cases, " ") +
		` END IN (` + in + `))`
}

// placeholders is n comma-separated question marks; NULL for none, so
// "IN (NULL)" matches nothing.
func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func (t *sqlTxn) storedSize(ctx context.Context, digest string) (uint64, bool, error) {
	return storedSize(ctx, t.tx, digest)
}

func (t *sqlTxn) upload(ctx context.Context, digest string, replica uint32) (uint64, uint64, bool, error) {
	return readUpload(ctx, t.tx, digest, replica)
}

func (t *sqlTxn) referenced(ctx context.Context, digest string, all bool, villages []string) (bool, error) {
	return referenced(ctx, t.tx, digest, all, villages)
}

func (v *sqlView) storedSize(ctx context.Context, digest string) (uint64, bool, error) {
	return storedSize(ctx, v.tx, digest)
}

func (v *sqlView) upload(ctx context.Context, digest string, replica uint32) (uint64, uint64, bool, error) {
	return readUpload(ctx, v.tx, digest, replica)
}

func (v *sqlView) referenced(ctx context.Context, digest string, all bool, villages []string) (bool, error) {
	return referenced(ctx, v.tx, digest, all, villages)
}

func (t *sqlTxn) replaceRefs(ctx context.Context, table, id string, village *string, digests []string,
	now time.Time) error {
	rows, err := t.tx.QueryContext(ctx, `SELECT digest, village FROM attachment_refs
		WHERE tbl = ? AND record_id = ?`, table, id)
	if err != nil {
		return err
	}
	var old []string
	same := true
	for rows.Next() {
		var d string
		var v sql.NullString
		if err := rows.Scan(&d, &v); err != nil {
			rows.Close()
			return err
		}
		old = append(old, d)
		same = same && v.Valid == (village != nil) && (village == nil || v.String == *village)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	if len(old) == 0 && len(digests) == 0 {
		return nil // the common case: a record naming no photo
	}
	if same && len(old) == len(digests) && !slices.ContainsFunc(digests, func(d string) bool {
		return !slices.Contains(old, d)
	}) {
		return nil
	}
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM attachment_refs WHERE tbl = ? AND record_id = ?`,
		table, id); err != nil {
		return err
	}
	var vil any
	if village != nil {
		vil = *village
	}
	for _, d := range digests {
		if _, err := t.tx.ExecContext(ctx, `INSERT INTO attachment_refs (digest, tbl, record_id, village)
			VALUES (?, ?, ?, ?)`, d, table, id, vil); err != nil {
			return err
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE attachments SET unreferenced_ms = NULL
			WHERE digest = ? AND unreferenced_ms IS NOT NULL`, d); err != nil {
			return err
		}
	}
	for _, d := range old {
		if slices.Contains(digests, d) {
			continue
		}
		if _, err := t.tx.ExecContext(ctx, `UPDATE attachments SET unreferenced_ms = ?2
			WHERE digest = ?1 AND unreferenced_ms IS NULL
			  AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.digest = ?1)`,
			d, now.UnixMilli()); err != nil {
			return err
		}
	}
	return nil
}

func (t *sqlTxn) deviceAttachmentBytes(ctx context.Context, replica uint32, except string) (int64, error) {
	var n int64
	err := t.tx.QueryRowContext(ctx, `SELECT
		  (SELECT COALESCE(sum(size), 0) FROM attachments WHERE uploader = ?1)
		+ (SELECT COALESCE(sum(size), 0) FROM attachment_uploads WHERE replica = ?1 AND digest != ?2)`,
		replica, except).Scan(&n)
	return n, err
}

func (t *sqlTxn) startUpload(ctx context.Context, digest string, replica uint32, size uint64,
	now time.Time) error {
	if err := t.dropUpload(ctx, digest, replica); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `INSERT INTO attachment_uploads (digest, replica, size, received, touched_ms)
		VALUES (?, ?, ?, 0, ?)`, digest, replica, int64(size), now.UnixMilli())
	return err
}

func (t *sqlTxn) appendChunk(ctx context.Context, digest string, replica uint32, start uint64, data []byte,
	now time.Time) error {
	if _, err := t.tx.ExecContext(ctx, `INSERT INTO attachment_chunks (digest, replica, start, data)
		VALUES (?, ?, ?, ?)`, digest, replica, int64(start), data); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `UPDATE attachment_uploads SET received = ?, touched_ms = ?
		WHERE digest = ? AND replica = ?`, int64(start)+int64(len(data)), now.UnixMilli(), digest, replica)
	return err
}

func (t *sqlTxn) dropUpload(ctx context.Context, digest string, replica uint32) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM attachment_chunks WHERE digest = ? AND replica = ?`,
		digest, replica); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM attachment_uploads WHERE digest = ? AND replica = ?`,
		digest, replica)
	return err
}

func (t *sqlTxn) dropUploads(ctx context.Context, digest string) error {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM attachment_chunks WHERE digest = ?`, digest); err != nil {
		return err
	}
	_, err := t.tx.ExecContext(ctx, `DELETE FROM attachment_uploads WHERE digest = ?`, digest)
	return err
}

func (t *sqlTxn) insertAttachment(ctx context.Context, a *storedAttachment, now time.Time) error {
	_, err := t.tx.ExecContext(ctx, `INSERT INTO attachments (digest, size, media_type, width, height, uploader,
		stored_ms, unreferenced_ms, thumb, data)
		VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7,
		  CASE WHEN EXISTS (SELECT 1 FROM attachment_refs WHERE digest = ?1) THEN NULL ELSE CAST(?7 AS BIGINT) END, ?8, ?9)`,
		a.Digest, len(a.Data), a.MediaType, a.Width, a.Height, a.Uploader, now.UnixMilli(), a.Thumb, a.Data)
	return err
}

func (t *sqlTxn) collectAttachments(ctx context.Context, cutoff time.Time) (int64, error) {
	// An open conflict's value may name a photo no live record names
	// (the losing value of a concurrent edit): staff may yet restore it.
	res, err := t.tx.ExecContext(ctx, `DELETE FROM attachments
		WHERE unreferenced_ms IS NOT NULL AND unreferenced_ms <= ?
		  AND NOT EXISTS (SELECT 1 FROM attachment_refs r WHERE r.digest = attachments.digest)
		  AND NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.resolution IS NULL
		    AND (`+t.tx.contains("c.loser_value", "attachments.digest")+` OR `+
		t.tx.contains("c.winner_value", "attachments.digest")+`))`,
		cutoff.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (t *sqlTxn) dropStaleUploads(ctx context.Context, cutoff time.Time) (int64, error) {
	if _, err := t.tx.ExecContext(ctx, `DELETE FROM attachment_chunks WHERE EXISTS (SELECT 1 FROM attachment_uploads u
		WHERE u.digest = attachment_chunks.digest AND u.replica = attachment_chunks.replica AND u.touched_ms <= ?)`,
		cutoff.UnixMilli()); err != nil {
		return 0, err
	}
	res, err := t.tx.ExecContext(ctx, `DELETE FROM attachment_uploads WHERE touched_ms <= ?`, cutoff.UnixMilli())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

func (v *sqlView) uploadBytes(ctx context.Context, digest string, replica uint32) ([]byte, error) {
	rows, err := v.tx.QueryContext(ctx, `SELECT data FROM attachment_chunks WHERE digest = ? AND replica = ?
		ORDER BY start`, digest, replica)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			return nil, err
		}
		out = append(out, b...)
	}
	return out, rows.Err()
}

func (v *sqlView) readAttachment(ctx context.Context, digest string, thumb bool, offset uint64,
	limit uint32) (Attachment, bool, error) {
	col, mt := "data", "media_type"
	if thumb {
		col, mt = "thumb", "'image/jpeg'"
	}
	n := int64(limit)
	if n == 0 {
		n = -1 // substr to the end
	}
	a := Attachment{Digest: digest}
	var size int64
	// length() of a blob reads its size from the record header, and
	// substr() of a blob only the pages of the part asked for; an offset
	// past the end reads none (FetchAttachment refuses it).
	err := v.tx.QueryRowContext(ctx, `SELECT `+mt+`, length(`+col+`), width, height,
		CASE WHEN ?3 > length(`+col+`) THEN NULL
		  WHEN ?2 < 0 THEN substr(`+col+`, ?3 + 1) ELSE substr(`+col+`, ?3 + 1, ?2) END
		FROM attachments WHERE digest = ?1`, digest, n, int64(offset)).
		Scan(&a.MediaType, &size, &a.Width, &a.Height, &a.Data)
	if errors.Is(err, sql.ErrNoRows) {
		return Attachment{}, false, nil
	}
	if err != nil {
		return Attachment{}, false, err
	}
	a.Size = uint64(size)
	if a.Data == nil {
		a.Data = []byte{}
	}
	return a, true, nil
}
