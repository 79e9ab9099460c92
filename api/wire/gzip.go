package wire

import (
	"compress/gzip"
	"fmt"
	"io"

	"connectrpc.com/connect"
)

// Gzip at its fastest level. A page of records compresses by repeats of
// field names, villages and dates, which the fastest level finds too: the
// bytes grow by a few percent while the time spent compressing, a sixth of
// a pull's, halves.
func newCompressor() connect.Compressor {
	w, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	return w
}

func newDecompressor() connect.Decompressor { return &gzip.Reader{} }

// boundedGzip is a gzip reader that fails once it has inflated more than
// max bytes. Connect stops reading a message at its limit too, but then
// inflates the rest to report its size: an 8 MiB bomb costs the server
// 8 GiB of inflating (seconds of CPU) before the token is even checked.
// An error from Read ends that at once.
type boundedGzip struct {
	gzip.Reader
	max, n int64
}

func (b *boundedGzip) Reset(r io.Reader) error {
	b.n = 0
	return b.Reader.Reset(r)
}

func (b *boundedGzip) Read(p []byte) (int, error) {
	if b.n > b.max {
		return 0, b.tooLarge()
	}
	n, err := b.Reader.Read(p)
	b.n += int64(n)
	if b.n > b.max {
		return n, b.tooLarge()
	}
	return n, err
}

func (b *boundedGzip) tooLarge() error {
	return connect.NewError(connect.CodeResourceExhausted,
		fmt.Errorf("message is larger than configured max %d once inflated; stopped inflating there", b.max))
}

// GzipHandler makes a handler's gzip the fast one, inflating no request
// past maxBytes (give the handler's connect.WithReadMaxBytes).
func GzipHandler(maxBytes int64) connect.HandlerOption {
	return connect.WithCompression("gzip",
		func() connect.Decompressor { return &boundedGzip{max: maxBytes} }, newCompressor)
}

// GzipClient makes a client's gzip the fast one.
func GzipClient() connect.ClientOption {
	return connect.WithAcceptCompression("gzip", newDecompressor, newCompressor)
}
