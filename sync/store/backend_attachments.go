package store

import (
	"context"
	"time"
)

// attachTxn and attachView are the statements of the attachment lane
// (attachments.go). Digests are checked before they reach them.
type attachTxn interface {
	attachReader
	// replaceRefs makes digests (none: it names none) the attachments
	// record id of table names, in village (nil for a table scoped to
	// none; a scoped record without one has ""). An attachment
	// that loses its last reference is marked unreferenced at now, one
	// that gains one is marked referenced again.
	replaceRefs(ctx context.Context, table, id string, village *string, digests []string, now time.Time) error
	// deviceAttachmentBytes is what replica uses of its quota: the sizes
	// of the attachments it stored and of its uploads in progress, but
	// the upload of digest.
	deviceAttachmentBytes(ctx context.Context, replica uint32, except string) (int64, error)
	// startUpload begins (or begins again, dropping what it held)
	// replica's upload of digest, of size bytes.
	startUpload(ctx context.Context, digest string, replica uint32, size uint64, now time.Time) error
	// appendChunk adds data at start to replica's upload of digest and
	// moves its received count past it.
	appendChunk(ctx context.Context, digest string, replica uint32, start uint64, data []byte, now time.Time) error
	// dropUpload forgets replica's upload of digest and its chunks.
	dropUpload(ctx context.Context, digest string, replica uint32) error
	// dropUploads forgets every device's upload of digest and its chunks.
	dropUploads(ctx context.Context, digest string) error
	// insertAttachment stores a, referenced or not as attachment_refs
	// says at now.
	insertAttachment(ctx context.Context, a *storedAttachment, now time.Time) error
	// collectAttachments deletes the attachments unreferenced at or
	// before cutoff that no reference and no open conflict's value names.
	collectAttachments(ctx context.Context, cutoff time.Time) (int64, error)
	// dropStaleUploads forgets the uploads not touched since cutoff.
	dropStaleUploads(ctx context.Context, cutoff time.Time) (int64, error)
}

// attachReader are the reads both a transaction and a snapshot make.
type attachReader interface {
	// storedSize is the size of stored attachment digest; ok false when
	// the server has none.
	storedSize(ctx context.Context, digest string) (size uint64, ok bool, err error)
	// upload reads replica's upload of digest: its size and the bytes
	// received; ok false when there is none.
	upload(ctx context.Context, digest string, replica uint32) (size, received uint64, ok bool, err error)
	// referenced says whether a live record or an open conflict's value
	// (winner or loser: staff may choose either) of a record names
	// digest: a record of villages, or of a table scoped to none; any
	// when all.
	referenced(ctx context.Context, digest string, all bool, villages []string) (bool, error)
}

type attachView interface {
	attachReader
	// uploadBytes reads replica's upload of digest, its chunks in order.
	uploadBytes(ctx context.Context, digest string, replica uint32) ([]byte, error)
	// readAttachment reads stored attachment digest without its bytes,
	// and then from offset at most limit bytes (0: to the end) of its
	// thumbnail or its bytes (none when offset is past its end); ok false
	// when there is none.
	readAttachment(ctx context.Context, digest string, thumb bool, offset uint64, limit uint32) (a Attachment,
		ok bool, err error)
}
