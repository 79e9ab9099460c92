package schema

import "strings"

// Version is this build's schema version. It goes up by one with each
// change of the schema (the schema only ever adds tables and columns); a
// column's Since says which version added it. Devices send theirs with
// every sync and servers answer with theirs (sync/DESIGN.md, Versions).
//
//	1  the first schema
//	2  attachments: sheet_photos, photos_before, photos_after, cover
const Version = 2

// OldestApp is the oldest device schema version this server serves: a
// device older than it is told to update the app, and nothing it sends
// is applied. Raise it only when no device in the field is that old.
const OldestApp = 1

// Attachments: photos referenced from records by their SHA-256 digest and
// carried by the attachment lane, apart from records (sync/DESIGN.md,
// Attachments).
const (
	// DigestLen is the length of a digest as records name it: SHA-256 in
	// lowercase hex.
	DigestLen = 64
	// MaxAttachmentBytes is the largest attachment the server takes.
	MaxAttachmentBytes = 8 << 20
	// AttachmentChunk is the most bytes of one Upload call. Small enough
	// that a link cut mid-chunk costs little to send again (the budget: a
	// 3 MB photo over a link cut every 500 KB re-sends at most 10%), large
	// enough that a call's headers are a small part of it.
	AttachmentChunk = 32 << 10
	// MaxImagePixels bounds an image's width × height, checked from its
	// header before it is decoded (a small file can claim a huge image).
	// 24 MP covers the originals of phones (12 to 24 MP); devices downsize
	// to PhotoMaxSide before they upload, so more only costs decoding.
	MaxImagePixels = 24_000_000
	// PhotoMaxSide is the longest side devices downsize photos to before
	// they upload them; ThumbMaxSide the longest side of the server's
	// thumbnails for lists and the console.
	PhotoMaxSide = 1600
	ThumbMaxSide = 320
	// DeviceAttachmentQuota is the default of the bytes of attachments
	// one device may have stored and in flight on the server.
	DeviceAttachmentQuota = 512 << 20
)

// ImageTypes are the media types an attachment may have, sniffed from its
// bytes (never taken from what the device says).
var ImageTypes = []string{"image/jpeg", "image/png", "image/webp"}

// SplitAttachments returns the digests an Attachments value names, in its
// order; none for the empty text. It does not check them (Check does).
func SplitAttachments(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// ValidDigest says whether s is a digest as records name it.
func ValidDigest(s string) bool {
	if len(s) != DigestLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// AttachmentColumns lists t's Attachments columns, in definition order.
func (t *Table) AttachmentColumns() []*Column {
	var out []*Column
	for i := range t.Columns {
		if t.Columns[i].Format == Attachments {
			out = append(out, &t.Columns[i])
		}
	}
	return out
}
