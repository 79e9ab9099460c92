package media

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"runtime"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
)

// pngOf is a PNG of w×h pixels of colour type ct and depth, all zero;
// with rows false only its header (no pixels follow: Check reads no more).
func pngOf(t testing.TB, w, h uint32, depth, ct, interlace byte, rows bool) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		b.Write(binary.BigEndian.AppendUint32(nil, uint32(len(data))))
		b.WriteString(typ)
		b.Write(data)
		b.Write(binary.BigEndian.AppendUint32(nil, crc32.ChecksumIEEE(append([]byte(typ), data...))))
	}
	ihdr := binary.BigEndian.AppendUint32(nil, w)
	ihdr = binary.BigEndian.AppendUint32(ihdr, h)
	chunk("IHDR", append(ihdr, depth, ct, 0, 0, interlace))
	if rows {
		channels := map[byte]int{0: 1, 2: 3, 4: 2, 6: 4}[ct]
		row := make([]byte, 1+int(w)*channels*int(depth)/8)
		var z bytes.Buffer
		zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
		for range h {
			zw.Write(row)
		}
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
		chunk("IDAT", z.Bytes())
	}
	chunk("IEND", nil)
	return b.Bytes()
}

// jpegHeader is the start of a JPEG of w×h, SOF marker sof, whose
// components have the sampling factors hv (H<<4 | V): enough for Check.
func jpegHeader(sof byte, w, h uint16, hv ...byte) []byte {
	// JFIF first: without it the standard decoder reads past the frame
	// for an Adobe marker to learn the colour model.
	b := append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16}, "JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"...)
	b = append(b, 0xFF, sof)
	b = binary.BigEndian.AppendUint16(b, uint16(8+3*len(hv)))
	b = append(b, 8)
	b = binary.BigEndian.AppendUint16(b, h)
	b = binary.BigEndian.AppendUint16(b, w)
	b = append(b, byte(len(hv)))
	for i, f := range hv {
		b = append(b, byte(i+1), f, 0)
	}
	return b
}

// The header decides, before any decoding: the pixel bound, then the
// estimated decoding cost by format, against DecodeBudget.
func TestCheckRefusesCostlyHeaders(t *testing.T) {
	const w, h = 6000, 4000 // schema.MaxImagePixels
	if w*h != schema.MaxImagePixels {
		t.Fatalf("the cases assume %d pixels", schema.MaxImagePixels)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		// The review's file: 317 KB, 305 MB and 4 s of CPU to decode.
		{"16-bit PNG of 6400×6250", pngOf(t, 6400, 6250, 16, 2, 0, false), ErrTooManyPixels},
		{"8-bit PNG one pixel over", pngOf(t, w+1, h, 8, 2, 0, false), ErrTooManyPixels},
		{"8-bit RGB PNG", pngOf(t, w, h, 8, 2, 0, false), nil},
		{"16-bit RGBA PNG", pngOf(t, w, h, 16, 6, 0, false), nil},
		{"16-bit RGBA PNG, interlaced", pngOf(t, w, h, 16, 6, 1, false), ErrTooCostly},
		{"16-bit RGB PNG, interlaced, 20 MP", pngOf(t, 5000, 4000, 16, 2, 1, false), ErrTooCostly},
		{"baseline JPEG 4:4:4", jpegHeader(0xC0, w, h, 0x11, 0x11, 0x11), nil},
		{"progressive JPEG 4:2:0", jpegHeader(0xC2, w, h, 0x22, 0x11, 0x11), nil},
		{"progressive JPEG 4:4:4", jpegHeader(0xC2, w, h, 0x11, 0x11, 0x11), ErrTooCostly},
		{"progressive JPEG 4:4:4, 20 MP", jpegHeader(0xC2, 5000, 4000, 0x11, 0x11, 0x11), ErrTooCostly},
		{"progressive JPEG 4:4:4, 16 MP", jpegHeader(0xC2, 4000, 4000, 0x11, 0x11, 0x11), nil},
		{"progressive gray JPEG", jpegHeader(0xC2, w, h, 0x11), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Check(tc.b)
			if !errors.Is(err, tc.want) && !(tc.want == nil && err == nil) {
				t.Fatalf("Check = %v, want %v", err, tc.want)
			}
			if tc.want == nil {
				return
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, _, err = Thumbnail(tc.b, schema.ThumbMaxSide)
			runtime.ReadMemStats(&after)
			if !errors.Is(err, tc.want) {
				t.Errorf("Thumbnail = %v, want %v", err, tc.want)
			}
			if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
				t.Errorf("refused after allocating %d bytes: it was decoded", n)
			}
		})
	}
}

// The estimate bounds what decoding really takes: the dearest image the
// header check accepts (a 16-bit RGB PNG of schema.MaxImagePixels,
// estimated at 192 MB) is thumbnailed within DecodeBudget, and smaller
// ones of each kind within their estimate and some slack.
func TestThumbnailStaysWithinItsEstimate(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
	}{
		{"8-bit RGB PNG", pngOf(t, 1600, 1200, 8, 2, 0, true)},
		{"16-bit RGBA PNG", pngOf(t, 1600, 1200, 16, 6, 0, true)},
		{"gray PNG", pngOf(t, 1600, 1200, 8, 0, 0, true)},
		{"baseline JPEG", jpegOf(t, 1600, 1200)},
	}
	if !testing.Short() {
		cases = append(cases, struct {
			name string
			b    []byte
		}{"16-bit RGB PNG of MaxImagePixels", pngOf(t, 6000, 4000, 16, 2, 0, true)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			in, err := Check(tc.b)
			if err != nil {
				t.Fatal(err)
			}
			est, kind := decodeCost(in.MediaType, tc.b, in.Width, in.Height)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			if _, _, err := Thumbnail(tc.b, schema.ThumbMaxSide); err != nil {
				t.Fatal(err)
			}
			runtime.ReadMemStats(&after)
			n := int64(after.TotalAlloc - before.TotalAlloc)
			t.Logf("%s (%s): %d MB allocated, estimated %d MB", tc.name, kind, n>>20, est>>20)
			if bound := est + est/4 + 8<<20; n > bound || n > DecodeBudget {
				t.Errorf("%d bytes allocated, more than %d (estimate %d) or the budget", n, bound, est)
			}
		})
	}
}
