package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/futian-xiaomo/villagesync/schema"
	"github.com/futian-xiaomo/villagesync/sync/media"
	"github.com/futian-xiaomo/villagesync/sync/record"
)

// The attachment lane (sync/DESIGN.md, Attachments): photos that records
// name by digest, uploaded in chunks after the records, checked whole and
// stored in one transaction. Nothing of an upload is visible before it is.

// MaxHolds is the most digests one Holds call asks about.
const MaxHolds = 100

// Held is what the server has of one attachment for one device.
type Held struct {
	Digest string
	// Stored: the whole attachment, checked (by any device's upload).
	Stored bool
	// Received is how many bytes of this device's upload the server
	// holds, when not stored; the next chunk starts there.
	Received uint64
}

// Chunk is one Upload call: data at offset of the attachment digest of
// size bytes.
type Chunk struct {
	Digest string
	Size   uint64
	Offset uint64
	Data   []byte
}

// UploadResult is what an upload holds after a chunk.
type UploadResult struct {
	Received uint64
	Stored   bool
}

// Attachment is a stored attachment as Fetch returns it: Data is the part
// asked for, Size the whole's (of the thumbnail when that was asked for).
type Attachment struct {
	Digest        string
	MediaType     string
	Size          uint64
	Width, Height int
	Data          []byte
}

// storedAttachment is a checked attachment ready to store.
type storedAttachment struct {
	Digest        string
	MediaType     string
	Width, Height int
	Uploader      uint32
	Data, Thumb   []byte
}

func checkDigest(field, d string) error {
	if !schema.ValidDigest(d) {
		return record.Problemf(record.CodeInvalidArgument, field,
			"%s is not an attachment's SHA-256 digest (64 lowercase hex digits)", quoteShort(d))
	}
	return nil
}

// quoteMax is how many bytes of a bogus digest a refusal quotes (the
// quoted form: escapes count): a digest has 64, and a megabyte sent as one
// must not come back, nor fill the request log, whole.
const quoteMax = 72

// quoteShort quotes as much of s as fits quoteMax (cut at a rune), saying
// how long s is when it is cut.
func quoteShort(s string) string {
	if q := strconv.Quote(s); len(q) <= quoteMax {
		return q
	}
	cut := min(len(s), quoteMax)
	for ; cut > 0; cut-- {
		if (cut == len(s) || utf8.RuneStart(s[cut])) && len(strconv.Quote(s[:cut])) <= quoteMax {
			break
		}
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// Holds says what the server has of each of digests for p's device, in
// their order.
func (s *Store) Holds(ctx context.Context, p Principal, digests []string) ([]Held, error) {
	if len(digests) > MaxHolds {
		return nil, record.Problemf(record.CodeInvalidArgument, "digests", "%d digests are more than %d a call",
			len(digests), MaxHolds)
	}
	for _, d := range digests {
		if err := checkDigest("digests", d); err != nil {
			return nil, err
		}
	}
	v, err := s.beginView(ctx)
	if err != nil {
		return nil, fmt.Errorf("holds: %w", err)
	}
	defer v.close()
	out := make([]Held, len(digests))
	for i, d := range digests {
		out[i].Digest = d
		_, stored, err := v.storedSize(ctx, d)
		if err != nil {
			return nil, fmt.Errorf("holds %s: %w", d, err)
		}
		if stored {
			// Stored counts only where Fetch would return it: otherwise a
			// volunteer could learn which photos another village has.
			if stored, err = v.referenced(ctx, d, p.AllVillages(), p.Villages); err != nil {
				return nil, fmt.Errorf("holds %s: %w", d, err)
			}
		}
		if stored {
			out[i].Stored = true
			continue
		}
		size, got, _, err := v.upload(ctx, d, p.Replica)
		if err != nil {
			return nil, fmt.Errorf("holds %s: %w", d, err)
		}
		if got == size && size > 0 {
			// Whole but not checked (the check was cut short): the device
			// sends its last chunk again, which checks and stores it.
			got = (size - 1) / schema.AttachmentChunk * schema.AttachmentChunk
		}
		out[i].Received = got
	}
	return out, nil
}

// checkChunk checks what a chunk says of itself, before the database.
func checkChunk(c Chunk) error {
	n := uint64(len(c.Data))
	switch {
	case checkDigest("digest", c.Digest) != nil:
		return checkDigest("digest", c.Digest)
	case c.Size == 0:
		return record.Problemf(record.CodeInvalidArgument, "size", "an attachment has at least one byte")
	case c.Size > schema.MaxAttachmentBytes:
		return record.Problemf(record.CodeInvalidArgument, "size",
			"%d bytes is more than the %d an attachment may have; downsize the photo", c.Size,
			uint64(schema.MaxAttachmentBytes))
	case n > schema.AttachmentChunk:
		return record.Problemf(record.CodeInvalidArgument, "data", "%d bytes is more than the %d of one chunk",
			n, uint64(schema.AttachmentChunk))
	case c.Offset > c.Size || n > c.Size-c.Offset:
		return record.Problemf(record.CodeInvalidArgument, "data",
			"%d bytes at offset %d run past the attachment's size %d", n, c.Offset, c.Size)
	case n == 0 && c.Offset < c.Size:
		return record.Problemf(record.CodeInvalidArgument, "data", "is empty")
	case n < schema.AttachmentChunk && c.Offset+n < c.Size:
		return record.Problemf(record.CodeInvalidArgument, "data",
			"%d bytes: only the last chunk may be shorter than %d", n, uint64(schema.AttachmentChunk))
	}
	return nil
}

// AppendChunk adds one chunk to p's device's upload of c.Digest, and
// stores the attachment when the chunk completes it (see the rules in
// sync/DESIGN.md, Attachments). A chunk the server holds already is
// answered with what it holds and writes nothing.
func (s *Store) AppendChunk(ctx context.Context, p Principal, c Chunk) (UploadResult, error) {
	if err := checkChunk(c); err != nil {
		return UploadResult{}, err
	}
	res, complete, err := s.appendChunk(ctx, p, c)
	if err != nil || !complete {
		return res, err
	}
	return s.completeUpload(ctx, p, c.Digest, c.Size)
}

func (s *Store) appendChunk(ctx context.Context, p Principal, c Chunk) (UploadResult, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginTxn(ctx)
	if err != nil {
		return UploadResult{}, false, fmt.Errorf("upload %s: %w", c.Digest, err)
	}
	defer tx.rollback()
	wrap := func(err error) (UploadResult, bool, error) {
		return UploadResult{}, false, fmt.Errorf("upload %s: %w", c.Digest, err)
	}
	// Referenced first: "stored" to a device whose villages name no such
	// photo would tell it what another village holds.
	ok, err := tx.referenced(ctx, c.Digest, p.AllVillages(), p.Villages)
	if err != nil {
		return wrap(err)
	}
	if !ok {
		return UploadResult{}, false, record.Problemf(record.CodeFailedPrecondition, "digest",
			"no record of your villages names %s; sync the record first", c.Digest)
	}
	if size, ok, err := tx.storedSize(ctx, c.Digest); err != nil {
		return wrap(err)
	} else if ok {
		// Stored by anyone: this device's upload, if any, is not needed.
		if err := tx.dropUpload(ctx, c.Digest, p.Replica); err != nil {
			return wrap(err)
		}
		return UploadResult{Received: size, Stored: true}, false, tx.commit()
	}
	size, held, open, err := tx.upload(ctx, c.Digest, p.Replica)
	if err != nil {
		return wrap(err)
	}
	if open && size != c.Size {
		if c.Offset != 0 {
			return UploadResult{}, false, record.Problemf(record.CodeInvalidArgument, "size",
				"%d differs from the %d this upload began with; start again from offset 0", c.Size, size)
		}
		open, held = false, 0 // begun again with another size: what was held is dropped below
	}
	switch {
	case c.Offset > held:
		return UploadResult{}, false, record.Problemf(record.CodeFailedPrecondition, "offset",
			"%d is past the %d bytes the server holds of this upload; send from %d", c.Offset, held, held)
	case c.Offset < held || open && held == size:
		// A retry after a lost answer: nothing to write. A whole upload
		// not stored yet (its check was cut short) is checked again.
		return UploadResult{Received: held}, held == size, nil
	}
	now := time.Now()
	if !open {
		if mt := media.Sniff(c.Data); mt == "" {
			return UploadResult{}, false, record.Problemf(record.CodeInvalidArgument, "data",
				"does not begin as an image of a type the server takes (%s)", typeList())
		}
		used, err := tx.deviceAttachmentBytes(ctx, p.Replica, c.Digest)
		if err != nil {
			return wrap(err)
		}
		if q := s.attachQuota(); used+int64(c.Size) > q {
			return UploadResult{}, false, record.Problemf(record.CodeResourceExhausted, "size",
				"this device's photos on the server (%d bytes) and this one (%d) would pass its quota of %d bytes; "+
					"ask staff to raise it", used, c.Size, q)
		}
		if err := tx.startUpload(ctx, c.Digest, p.Replica, c.Size, now); err != nil {
			return wrap(err)
		}
	}
	if err := tx.appendChunk(ctx, c.Digest, p.Replica, c.Offset, c.Data, now); err != nil {
		return wrap(err)
	}
	if err := tx.commit(); err != nil {
		return wrap(err)
	}
	got := c.Offset + uint64(len(c.Data))
	return UploadResult{Received: got}, got == c.Size, nil
}

func typeList() string {
	return fmt.Sprint(schema.ImageTypes)
}

// completeUpload checks a whole upload and stores it. The checks (hash,
// header, decoding, thumbnail) run outside the writer's lock: a large
// photo must not hold back other devices' syncs.
func (s *Store) completeUpload(ctx context.Context, p Principal, digest string, size uint64) (UploadResult, error) {
	release, err := s.checkSlot(ctx, p.Replica)
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: waiting to check it: %w", digest, err)
	}
	defer release()
	v, err := s.beginView(ctx)
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
	}
	data, err := v.uploadBytes(ctx, digest, p.Replica)
	v.close()
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
	}
	a, refusal := checkWhole(digest, size, data)
	a.Uploader = p.Replica
	if s.afterCheck != nil {
		s.afterCheck()
	}
	if refusal == nil {
		// A check passed is not thrown away because the device stopped
		// waiting for the answer: it would only send the chunk again and
		// have the photo decoded a second time.
		ctx = context.WithoutCancel(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginTxn(ctx)
	if err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
	}
	defer tx.rollback()
	// What happened since the check counts first: a retry of the last
	// chunk, or another device's upload, may have stored the photo; then
	// the bytes checked here are not needed, whatever the check said.
	if _, ok, err := tx.storedSize(ctx, digest); err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
	} else if ok {
		if err := tx.dropUpload(ctx, digest, p.Replica); err != nil {
			return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
		}
		if err := tx.commit(); err != nil {
			return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
		}
		return UploadResult{Received: size, Stored: true}, nil
	}
	if _, got, open, err := tx.upload(ctx, digest, p.Replica); err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
	} else if !open || got != size {
		return UploadResult{Received: got}, nil // dropped or begun again meanwhile
	}
	if refusal != nil {
		// Discarded whole: the device starts again from 0.
		if err := tx.dropUpload(ctx, digest, p.Replica); err != nil {
			return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
		}
		if err := tx.commit(); err != nil {
			return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
		}
		return UploadResult{}, refusal
	}
	if err := tx.insertAttachment(ctx, &a, time.Now()); err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: store: %w", digest, err)
	}
	// Every device's upload of it is done with: other devices' partial
	// uploads would otherwise hold chunks and count against their quota
	// for the keep window.
	if err := tx.dropUploads(ctx, digest); err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
	}
	if err := tx.commit(); err != nil {
		return UploadResult{}, fmt.Errorf("upload %s: %w", digest, err)
	}
	s.log.Info("attachment stored", "digest", digest, "bytes", size, "type", a.MediaType, "replica", p.Replica)
	return UploadResult{Received: size, Stored: true}, nil
}

// checkSlot waits for one of the server's check slots, and for the
// device's own: one device checks one photo at a time, so it cannot take
// both slots (each may decode up to media.DecodeBudget) from every other.
func (s *Store) checkSlot(ctx context.Context, replica uint32) (release func(), err error) {
	s.checkingMu.Lock()
	mine := s.checking[replica]
	if mine == nil {
		mine = make(chan struct{}, 1)
		s.checking[replica] = mine
	}
	s.checkingMu.Unlock()
	select {
	case mine <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	select {
	case s.checks <- struct{}{}:
	case <-ctx.Done():
		<-mine
		return nil, ctx.Err()
	}
	return func() { <-s.checks; <-mine }, nil
}

// checkWhole checks an upload's bytes: size, digest, image; the refusal
// is a problem for the device, which starts again from 0.
func checkWhole(digest string, size uint64, data []byte) (storedAttachment, error) {
	if uint64(len(data)) != size {
		return storedAttachment{}, record.Problemf(record.CodeInvalidArgument, "size",
			"the server holds %d bytes of this upload, not %d; the upload is discarded: send it again from 0",
			len(data), size)
	}
	sum := sha256.Sum256(data)
	if got := hex.EncodeToString(sum[:]); got != digest {
		return storedAttachment{}, record.Problemf(record.CodeInvalidArgument, "digest",
			"the bytes uploaded have the SHA-256 %s, not this digest; the upload is discarded: send it again from 0",
			got)
	}
	thumb, in, err := media.Thumbnail(data, schema.ThumbMaxSide)
	switch {
	case errors.Is(err, media.ErrTooManyPixels):
		return storedAttachment{}, record.Problemf(record.CodeInvalidArgument, "data",
			"the image has more than %d pixels (%v); downsize the photo", schema.MaxImagePixels, err)
	case errors.Is(err, media.ErrTooCostly):
		return storedAttachment{}, record.Problemf(record.CodeInvalidArgument, "data",
			"the image would take too much memory to decode (%v); downsize the photo or save it as a baseline JPEG", err)
	case err != nil:
		return storedAttachment{}, record.Problemf(record.CodeInvalidArgument, "data",
			"is not a whole image of a type the server takes (%s): %v", typeList(), err)
	}
	return storedAttachment{Digest: digest, MediaType: in.MediaType, Width: in.Width, Height: in.Height,
		Data: data, Thumb: thumb}, nil
}

// MaxFetch is the most bytes one Fetch returns: a limit of 0 or more gives
// this much, and the answer's size lets the device ask for the rest. It
// bounds the memory one call takes, whatever the device asks.
const MaxFetch = 512 << 10

// FetchAttachment returns part of stored attachment digest (from offset,
// at most limit bytes, 0 or more than MaxFetch: MaxFetch), or of its
// thumbnail, if a live record p
// may read names it. Otherwise it is not found, however it is unknown:
// an id outside p's villages is not told apart from one nobody has.
func (s *Store) FetchAttachment(ctx context.Context, p Principal, digest string, thumb bool, offset uint64,
	limit uint32) (Attachment, error) {
	if err := checkDigest("digest", digest); err != nil {
		return Attachment{}, err
	}
	v, err := s.beginView(ctx)
	if err != nil {
		return Attachment{}, fmt.Errorf("fetch %s: %w", digest, err)
	}
	defer v.close()
	notFound := record.Problemf(record.CodeNotFound, "digest", "no photo %s among the records of your villages", digest)
	ok, err := v.referenced(ctx, digest, p.AllVillages(), p.Villages)
	if err != nil {
		return Attachment{}, fmt.Errorf("fetch %s: %w", digest, err)
	}
	if !ok {
		return Attachment{}, notFound
	}
	if limit == 0 || limit > MaxFetch {
		limit = MaxFetch
	}
	a, ok, err := v.readAttachment(ctx, digest, thumb, offset, limit)
	if err != nil {
		return Attachment{}, fmt.Errorf("fetch %s: %w", digest, err)
	}
	if !ok {
		return Attachment{}, notFound
	}
	if offset > a.Size {
		return Attachment{}, record.Problemf(record.CodeInvalidArgument, "offset",
			"%d is past the end of the %d bytes", offset, a.Size)
	}
	return a, nil
}

// noteAttachments keeps the references of r, just written at now, in the
// same transaction: the digests its Attachments columns name while it
// is live, none once it is deleted.
func noteAttachments(ctx context.Context, tx attachTxn, t *schema.Table, r *record.Record, now time.Time) error {
	cols := t.AttachmentColumns()
	if len(cols) == 0 {
		return nil
	}
	var digests []string
	if !r.Deleted() {
		for _, c := range cols {
			for _, d := range schema.SplitAttachments(r.Fields[c.Name].Value.Text) {
				if schema.ValidDigest(d) && !slices.Contains(digests, d) {
					digests = append(digests, d)
				}
			}
		}
	}
	// A scoped record with no village keeps "" (which no caller serves):
	// NULL means "scoped to none", readable by every village.
	var village *string
	if t.Scope != "" {
		v := r.Fields[t.Scope].Value.Text
		village = &v
	}
	if err := tx.replaceRefs(ctx, t.Name, r.ID, village, digests, now); err != nil {
		return fmt.Errorf("attachment references of %s %s: %w", t.Name, r.ID, err)
	}
	return nil
}

// attachQuota is the bytes one device may have stored and in flight.
func (s *Store) attachQuota() int64 {
	if s.quota > 0 {
		return s.quota
	}
	return schema.DeviceAttachmentQuota
}

// CollectAttachments deletes the attachments no live record and no open
// conflict has named for longer than keep, and the uploads no device has
// added to for as long. It returns how many of each it removed.
func (s *Store) CollectAttachments(ctx context.Context, keep time.Duration) (attachments, uploads int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tx, err := s.beginTxn(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("collect attachments: %w", err)
	}
	defer tx.rollback()
	cutoff := time.Now().Add(-keep)
	if attachments, err = tx.collectAttachments(ctx, cutoff); err != nil {
		return 0, 0, fmt.Errorf("collect attachments: %w", err)
	}
	if uploads, err = tx.dropStaleUploads(ctx, cutoff); err != nil {
		return 0, 0, fmt.Errorf("collect attachments: stale uploads: %w", err)
	}
	if err := tx.commit(); err != nil {
		return 0, 0, fmt.Errorf("collect attachments: %w", err)
	}
	if attachments+uploads > 0 {
		s.log.Info("attachments collected", "attachments", attachments, "uploads", uploads)
	}
	return attachments, uploads, nil
}
