package photolane_test

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/replica"
	"github.com/futian-xiaomo/villagesync/clients/go/replica/replicatest"
)

// noisePNG is a valid PNG of about n bytes that does not compress (random
// opaque pixels, which the encoder stores as RGB without deflate), as a
// photo's bytes do not.
func noisePNG(tb testing.TB, n int, seed uint64) []byte {
	tb.Helper()
	side := 16
	for side*side*3 < n {
		side += 16
	}
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	rng := rand.New(rand.NewPCG(seed, 7))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	var b bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(&b, img); err != nil {
		tb.Fatal(err)
	}
	return b.Bytes()
}

// wire counts what a device's Sync calls put on the wire, both ways,
// headers and bodies, and how many it made.
type wire struct {
	next          http.RoundTripper
	calls, up, dn atomic.Int64
}

func (w *wire) Do(req *http.Request) (*http.Response, error) {
	if !strings.HasSuffix(req.URL.Path, "/villagesync.v1.SyncService/Sync") {
		return w.next.RoundTrip(req)
	}
	w.calls.Add(1)
	w.up.Add(headerBytes(req.Header) + int64(len(req.URL.RequestURI())) + max(req.ContentLength, 0))
	resp, err := w.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	w.dn.Add(headerBytes(resp.Header))

	resp.Body = &countBody{ReadCloser: resp.Body, n: &w.dn}
	return resp, nil
}

func headerBytes(h http.Header) int64 {
	var n int64
	for k, vs := range h {
		for _, v := range vs {
			n += int64(len(k) + len(v) + 4) // "k: v\r\n"
		}
	}
	return n
}

type countBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// withPhotos makes n photos of size bytes on r, each named by a session
// the server has acknowledged, so all n wait for the lane.
func withPhotos(tb testing.TB, r *replica.Replica, n, size int) []string {
	tb.Helper()
	var ds []string
	for i := range n {
		d, err := r.Attach(context.Background(), noisePNG(tb, size, uint64(100+i)), false)
		if err != nil {
			tb.Fatal(err)
		}
		replicatest.Put(tb, r, "tutoring_sessions", "", "sheet_photos", d)
		ds = append(ds, d)
	}
	replicatest.SyncOK(tb, r)
	return ds
}
