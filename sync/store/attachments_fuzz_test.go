package store

import (
	"strings"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
)

// FuzzCheckChunk: a chunk the first check lets through lies inside its
// attachment, is at most one chunk long, is the last one if short, and
// belongs to an attachment of an allowed size and a valid digest.
func FuzzCheckChunk(f *testing.F) {
	d := strings.Repeat("ab", 32)
	f.Add(d, uint64(100), uint64(0), 100)
	f.Add(d, uint64(schema.AttachmentChunk*3), uint64(schema.AttachmentChunk), schema.AttachmentChunk)
	f.Add(d, uint64(schema.MaxAttachmentBytes+1), uint64(0), 10)
	f.Add("AB", uint64(1), uint64(1), 0)
	f.Fuzz(func(t *testing.T, digest string, size, offset uint64, n int) {
		if n < 0 || n > 2*schema.AttachmentChunk {
			return
		}
		c := Chunk{Digest: digest, Size: size, Offset: offset, Data: make([]byte, n)}
		if checkChunk(c) != nil {
			return
		}
		end := offset + uint64(n)
		switch {
		case !schema.ValidDigest(digest):
			t.Fatalf("digest %q let through", digest)
		case size == 0 || size > schema.MaxAttachmentBytes:
			t.Fatalf("size %d let through", size)
		case n > schema.AttachmentChunk:
			t.Fatalf("a chunk of %d let through", n)
		case end < offset || end > size:
			t.Fatalf("%d bytes at %d of %d let through", n, offset, size)
		case n < schema.AttachmentChunk && end != size:
			t.Fatalf("a short chunk (%d at %d of %d) that is not the last let through", n, offset, size)
		}
	})
}
