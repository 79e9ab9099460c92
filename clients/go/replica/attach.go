package replica

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"

	"connectrpc.com/connect"

	v1 "github.com/futian-xiaomo/villagesync/api/gen/villagesync/v1"
	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/media"
)

// ErrNotImage is returned by Attach for bytes that are not an image of a
// type the server takes (schema.ImageTypes); it wraps media.ErrNotImage.
var ErrNotImage = errors.New("not a photo: attach a JPEG, PNG or WebP image")

// Attach keeps a photo on the device for a record to name, and returns
// its digest (what the record's Attachments column holds). With downsize
// a camera's photo becomes a JPEG of schema.PhotoMaxSide on its longest
// side, upright; without it the bytes are kept as given. Bytes that are
// not an image of schema.ImageTypes are refused (ErrNotImage), as is
// anything the server would refuse (media.Check: too many pixels, too
// costly to decode, too large), before it is kept. Attaching the same photo
// twice keeps it once. It goes to the server with UploadAttachments once
// a record naming it has synced.
func (r *Replica) Attach(ctx context.Context, data []byte, downsize bool) (string, error) {
	var info media.Info
	var err error
	if downsize {
		data, info, err = media.Downsize(data, schema.PhotoMaxSide)
	} else {
		info, err = media.Check(data)
	}
	if errors.Is(err, media.ErrNotImage) {
		return "", fmt.Errorf("attach: %w (%w)", ErrNotImage, err)
	}
	if err != nil {
		return "", fmt.Errorf("attach: %w", err)
	}
	if len(data) > schema.MaxAttachmentBytes {
		hint := ""
		if !downsize {
			hint = " (attach it downsized)"
		}
		return "", fmt.Errorf("attach: the photo is %d bytes, more than the %d the server takes%s",
			len(data), schema.MaxAttachmentBytes, hint)
	}
	sum := sha256.Sum256(data)
	digest := hex.EncodeToString(sum[:])
	// A photo attached before, or fetched before (the same bytes), becomes
	// this device's own again, to be uploaded: the server may have
	// collected it since no record named it, and one Holds call marks it
	// uploaded again if the server still has it.
	_, err = r.db.W.ExecContext(ctx, `INSERT INTO _attachments
		(digest, media_type, size, width, height, bytes, here) VALUES (?, ?, ?, ?, ?, ?, 1)
		ON CONFLICT (digest) DO UPDATE SET bytes = excluded.bytes, media_type = excluded.media_type,
			size = excluded.size, width = excluded.width, height = excluded.height, here = 1, uploaded = 0`,
		digest, info.MediaType, len(data), info.Width, info.Height, data)
	if err != nil {
		return "", fmt.Errorf("attach: %w", err)
	}
	return digest, nil
}

// Blob is an attachment's bytes, or its thumbnail's. Width and Height
// are the photo's pixels, for a thumbnail too (as the server says them).
type Blob struct {
	MediaType     string
	Data          []byte
	Width, Height int
}

// ErrNotNamed is returned by Attachment for a digest that no record on
// this device names: the device fetches only its own villages' photos.
var ErrNotNamed = errors.New("no record on this device names this photo")

// fetchRange is how much of an attachment one Fetch asks for: a cut link
// costs at most this much again, and a 3 MB photo takes a dozen calls.
const fetchRange = 256 << 10

// Attachment returns a photo a record of this device names, or its
// thumbnail (a JPEG of schema.ThumbMaxSide at most, for lists), from the
// device's file if it is there, else from the server, which it then keeps
// in the file. A download cut part-way resumes at the next call where it
// stopped.
func (r *Replica) Attachment(ctx context.Context, digest string, thumbnail bool) (Blob, error) {
	if !schema.ValidDigest(digest) {
		return Blob{}, fmt.Errorf("attachment %q: not a digest (64 lowercase hex digits)", digest)
	}
	var b Blob
	var bytes, thumb []byte
	var here bool
	err := r.db.R.QueryRowContext(ctx, `SELECT media_type, width, height, bytes, thumb, here
		FROM _attachments WHERE digest = ?`, digest).Scan(&b.MediaType, &b.Width, &b.Height, &bytes, &thumb, &here)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return Blob{}, fmt.Errorf("attachment %s: %w", digest, err)
	}
	switch {
	case thumbnail && thumb != nil:
		return Blob{MediaType: "image/jpeg", Data: thumb, Width: b.Width, Height: b.Height}, nil
	case thumbnail && bytes != nil:
		// Made here rather than fetched: the device has the photo, and may
		// be offline.
		t, _, err := media.Thumbnail(bytes, schema.ThumbMaxSide)
		if err != nil {
			return Blob{}, fmt.Errorf("attachment %s: thumbnail: %w", digest, err)
		}
		if _, err := r.db.W.ExecContext(ctx, `UPDATE _attachments SET thumb = ? WHERE digest = ?`, t, digest); err != nil {
			return Blob{}, fmt.Errorf("attachment %s: %w", digest, err)
		}
		return Blob{MediaType: "image/jpeg", Data: t, Width: b.Width, Height: b.Height}, nil
	case !thumbnail && bytes != nil:
		b.Data = bytes
		return b, nil
	}
	if !here {
		ok, err := named(ctx, r.db.R, digest)
		if err != nil {
			return Blob{}, err
		}
		if !ok {
			return Blob{}, fmt.Errorf("attachment %s: %w", digest, ErrNotNamed)
		}
	}
	if thumbnail {
		return r.fetchThumb(ctx, digest)
	}
	return r.fetch(ctx, digest)
}

func (r *Replica) fetchThumb(ctx context.Context, digest string) (Blob, error) {
	resp, err := r.lane().Fetch(ctx, &v1.FetchRequest{Digest: digest, Thumbnail: true})
	if err != nil {
		return Blob{}, fmt.Errorf("attachment %s: fetch thumbnail: %w", digest, fetchErr(ctx, err))
	}
	m := resp
	if _, err := r.db.W.ExecContext(ctx, `INSERT INTO _attachments (digest, thumb, width, height, here)
		VALUES (?, ?, ?, ?, 0) ON CONFLICT (digest) DO UPDATE SET thumb = excluded.thumb`,
		digest, m.GetData(), m.GetWidth(), m.GetHeight()); err != nil {
		return Blob{}, fmt.Errorf("attachment %s: %w", digest, err)
	}
	return Blob{MediaType: m.GetMediaType(), Data: m.GetData(), Width: int(m.GetWidth()), Height: int(m.GetHeight())}, nil
}

// fetch downloads an attachment range by range, each kept as it comes,
// then checks the whole against its digest and keeps it.
func (r *Replica) fetch(ctx context.Context, digest string) (Blob, error) {
	var have int64
	if err := r.db.R.QueryRowContext(ctx, `SELECT COALESCE(sum(length(data)), 0) FROM _attachment_parts
		WHERE digest = ?`, digest).Scan(&have); err != nil {
		return Blob{}, fmt.Errorf("attachment %s: %w", digest, err)
	}
	var b Blob
	size := int64(-1)
	for size < 0 || have < size {
		resp, err := r.lane().Fetch(ctx, &v1.FetchRequest{
			Digest: digest, Offset: uint64(have), Limit: fetchRange})
		if err != nil {
			return Blob{}, fetchErr(ctx, fmt.Errorf("attachment %s: fetch at byte %d: %w", digest, have, err))
		}
		m := resp
		b.MediaType, b.Width, b.Height = m.GetMediaType(), int(m.GetWidth()), int(m.GetHeight())
		size = int64(m.GetSize())
		if size > schema.MaxAttachmentBytes {
			return Blob{}, fmt.Errorf("attachment %s: the server says it is %d bytes, more than %d",
				digest, size, schema.MaxAttachmentBytes)
		}
		if len(m.GetData()) == 0 && have < size {
			return Blob{}, fmt.Errorf("attachment %s: the server sent nothing at byte %d of %d", digest, have, size)
		}
		if len(m.GetData()) > 0 {
			if _, err := r.db.W.ExecContext(ctx, `INSERT OR REPLACE INTO _attachment_parts (digest, off, data)
				VALUES (?, ?, ?)`, digest, have, m.GetData()); err != nil {
				return Blob{}, fmt.Errorf("attachment %s: %w", digest, err)
			}
		}
		have += int64(len(m.GetData()))
	}
	data, err := r.assemble(ctx, digest, b)
	if err != nil {
		return Blob{}, err
	}
	b.Data = data
	return b, nil
}

// fetchErr says what a failed Fetch means to the volunteer: NotFound
// for a photo a record here names is one its device has not uploaded yet.
func fetchErr(ctx context.Context, err error) error {
	if connect.CodeOf(err) == connect.CodeNotFound {
		return fmt.Errorf("the server does not have this photo yet (the device that took it has not "+
			"uploaded it; try again after it syncs): %w", err)
	}
	return explain(ctx, err)
}

// assemble joins the fetched ranges, checks them against the digest and
// keeps the attachment in one transaction.
func (r *Replica) assemble(ctx context.Context, digest string, b Blob) ([]byte, error) {
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("attachment %s: %w", digest, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT data FROM _attachment_parts WHERE digest = ? ORDER BY off`, digest)
	if err != nil {
		return nil, fmt.Errorf("attachment %s: %w", digest, err)
	}
	var data []byte
	for rows.Next() {
		var part []byte
		if err := rows.Scan(&part); err != nil {
			rows.Close()
			return nil, fmt.Errorf("attachment %s: %w", digest, err)
		}
		data = append(data, part...)
	}
	rows.Close()
	if _, err := tx.ExecContext(ctx, `DELETE FROM _attachment_parts WHERE digest = ?`, digest); err != nil {
		return nil, fmt.Errorf("attachment %s: %w", digest, err)
	}
	sum := sha256.Sum256(data)
	if hex.EncodeToString(sum[:]) != digest {
		// Dropped, so the next call fetches it again from the start.
		tx.Commit()
		return nil, fmt.Errorf("attachment %s: the bytes fetched do not match the digest; try again", digest)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO _attachments
		(digest, media_type, size, width, height, bytes, here, uploaded) VALUES (?, ?, ?, ?, ?, ?, 0, 1)
		ON CONFLICT (digest) DO UPDATE SET bytes = excluded.bytes, media_type = excluded.media_type,
			size = excluded.size, width = excluded.width, height = excluded.height`,
		digest, b.MediaType, len(data), b.Width, b.Height, data); err != nil {
		return nil, fmt.Errorf("attachment %s: %w", digest, err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("attachment %s: %w", digest, err)
	}
	return data, nil
}

// named reports whether a live record on the device names digest.
func named(ctx context.Context, q querier, digest string) (bool, error) {
	for _, t := range schema.Tables() {
		for _, c := range t.AttachmentColumns() {
			var one int
			err := q.QueryRowContext(ctx, fmt.Sprintf(`SELECT 1 FROM %s WHERE _deleted = 0 AND instr(%s, ?) > 0 LIMIT 1`,
				t.Name, c.Name), digest).Scan(&one)
			if err == nil {
				return true, nil
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return false, fmt.Errorf("attachment %s: %w", digest, err)
			}
		}
	}
	return false, nil
}

// namedDigests returns every digest a record on the device names, deleted
// records included (a delete may yet lose to a concurrent edit).
func namedDigests(ctx context.Context, tx *sql.Tx) (map[string]bool, error) {
	out := map[string]bool{}
	for _, t := range schema.Tables() {
		for _, c := range t.AttachmentColumns() {
			rows, err := tx.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE %s IS NOT NULL AND %s <> ''`,
				c.Name, t.Name, c.Name, c.Name))
			if err != nil {
				return nil, fmt.Errorf("attachments named by %s: %w", t.Name, err)
			}
			for rows.Next() {
				var s string
				if err := rows.Scan(&s); err != nil {
					rows.Close()
					return nil, fmt.Errorf("attachments named by %s: %w", t.Name, err)
				}
				for _, d := range schema.SplitAttachments(s) {
					out[d] = true
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("attachments named by %s: %w", t.Name, err)
			}
		}
	}
	return out, nil
}

// dropUnnamedAttachments removes, in the commit that removed records (of
// villages the device no longer serves), the photos no record left on the
// device names: fetched copies, and the device's own once the server has
// them. An own photo not uploaded yet stays: it is the only copy, and one
// attached but not yet put in a record is not named by any. The commit's
// scrub then wipes their bytes from the file with the records'.
func dropUnnamedAttachments(ctx context.Context, tx *sql.Tx) error {
	names, err := namedDigests(ctx, tx)
	if err != nil {
		return err
	}
	rows, err := tx.QueryContext(ctx, `SELECT digest FROM _attachments WHERE here = 0 OR uploaded = 1
		UNION SELECT DISTINCT digest FROM _attachment_parts`)
	if err != nil {
		return fmt.Errorf("drop attachments: %w", err)
	}
	var drop []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			rows.Close()
			return fmt.Errorf("drop attachments: %w", err)
		}
		if !names[d] {
			drop = append(drop, d)
		}
	}
	rows.Close()
	for _, d := range drop {
		for _, q := range []string{`DELETE FROM _attachments WHERE digest = ? AND (here = 0 OR uploaded = 1)`,
			`DELETE FROM _attachment_parts WHERE digest = ?`} {
			if _, err := tx.ExecContext(ctx, q, d); err != nil {
				return fmt.Errorf("drop attachment %s: %w", d, err)
			}
		}
	}
	return nil
}

// Unattach removes a photo attached on this device that no record on it
// names, deleted records included (a delete may yet lose to a concurrent
// edit), and says whether it did. It undoes an Attach whose record was
// never written: the CLI's put attaches its @FILE photos before the Put,
// and a refused Put would leave them in the file for good, as nothing
// else drops an own photo the server does not have.
func (r *Replica) Unattach(ctx context.Context, digest string) (bool, error) {
	tx, err := r.db.W.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("unattach %s: %w", digest, err)
	}
	defer tx.Rollback()
	names, err := namedDigests(ctx, tx)
	if err != nil {
		return false, fmt.Errorf("unattach %s: %w", digest, err)
	}
	if names[digest] {
		return false, nil
	}
	res, err := tx.ExecContext(ctx, `DELETE FROM _attachments WHERE digest = ? AND here = 1`, digest)
	if err != nil {
		return false, fmt.Errorf("unattach %s: %w", digest, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("unattach %s: %w", digest, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("unattach %s: %w", digest, err)
	}
	return n > 0, nil
}

// AttachmentInfo is what the device holds of one attachment.
type AttachmentInfo struct {
	Digest    string `json:"digest"`
	MediaType string `json:"media_type,omitempty"`
	Size      int    `json:"size"`
	Here      bool   `json:"here"`     // written on this device (else fetched)
	Whole     bool   `json:"whole"`    // the photo itself, not only its thumbnail
	Uploaded  bool   `json:"uploaded"` // the server has it
	Refused   string `json:"refused,omitempty"`
}

// Attachments lists the attachments on the device, by digest.
func (r *Replica) Attachments(ctx context.Context) ([]AttachmentInfo, error) {
	rows, err := r.db.R.QueryContext(ctx, `SELECT digest, media_type, size, here, bytes IS NOT NULL, uploaded, refused
		FROM _attachments ORDER BY digest`)
	if err != nil {
		return nil, fmt.Errorf("attachments: %w", err)
	}
	defer rows.Close()
	var out []AttachmentInfo
	for rows.Next() {
		var a AttachmentInfo
		if err := rows.Scan(&a.Digest, &a.MediaType, &a.Size, &a.Here, &a.Whole, &a.Uploaded, &a.Refused); err != nil {
			return nil, fmt.Errorf("attachments: %w", err)
		}
		out = append(out, a)
	}
	return out, rows.Err()
}
