package photo_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/futian-xiaomo/villagesync/clients/go/photo"
)

// withOrientation inserts an EXIF block with orientation o after a JPEG's
// start marker, as a camera writes it.
func withOrientation(jpg []byte, o uint16) []byte {
	var tiff bytes.Buffer
	tiff.WriteString("MM")
	binary.Write(&tiff, binary.BigEndian, uint16(42))
	binary.Write(&tiff, binary.BigEndian, uint32(8))
	binary.Write(&tiff, binary.BigEndian, uint16(1))                       // one entry
	binary.Write(&tiff, binary.BigEndian, []uint16{0x0112, 3, 0, 1, o, 0}) // tag, SHORT, count 1, value
	binary.Write(&tiff, binary.BigEndian, uint32(0))
	seg := append([]byte("Exif\x00\x00"), tiff.Bytes()...)
	out := []byte{0xFF, 0xD8, 0xFF, 0xE1}
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

// marked is a w×h image, black but for a white top-left corner, so a
// test can tell where the corner went.
func marked(w, h int) image.Image {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			c := color.RGBA{0, 0, 0, 255}
			if x < w/4 && y < h/4 {
				c = color.RGBA{255, 255, 255, 255}
			}
			img.Set(x, y, c)
		}
	}
	return img
}

func encJPEG(t *testing.T, img image.Image) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 95}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDownsize(t *testing.T) {
	plain := encJPEG(t, marked(400, 200))
	var pngBuf bytes.Buffer
	png.Encode(&pngBuf, marked(3000, 1000))
	bright := func(img image.Image, x, y int) bool {
		r, _, _, _ := img.At(x, y).RGBA()
		return r > 0x8000
	}
	for _, tc := range []struct {
		name   string
		in     []byte
		max    int
		w, h   int
		same   bool   // returned as given
		corner [2]int // where the white corner should be, in the output
	}{
		{"small upright kept", plain, 1600, 400, 200, true, [2]int{0, 0}},
		{"large scaled", plain, 100, 100, 50, false, [2]int{0, 0}},
		{"png to jpeg", pngBuf.Bytes(), 1500, 1500, 500, false, [2]int{0, 0}},
		{"turned right (6)", withOrientation(plain, 6), 1600, 200, 400, false, [2]int{1, 0}},
		{"turned left (8)", withOrientation(plain, 8), 1600, 200, 400, false, [2]int{0, 1}},
		{"upside down (3)", withOrientation(plain, 3), 1600, 400, 200, false, [2]int{1, 1}},
		{"mirrored (2)", withOrientation(plain, 2), 1600, 400, 200, false, [2]int{1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, info, err := photo.Downsize(tc.in, tc.max)
			if err != nil {
				t.Fatal(err)
			}
			if info.Width != tc.w || info.Height != tc.h {
				t.Fatalf("size %d×%d, want %d×%d", info.Width, info.Height, tc.w, tc.h)
			}
			if tc.same != bytes.Equal(out, tc.in) {
				t.Fatalf("returned as given: %v, want %v", !tc.same, tc.same)
			}
			img, err := jpeg.Decode(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			x := 2 + tc.corner[0]*(tc.w-5)
			y := 2 + tc.corner[1]*(tc.h-5)
			if !bright(img, x, y) {
				t.Errorf("corner not at (%d,%d)", x, y)
			}
		})
	}
}

func TestSniffRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"text", []byte("hello, this is not a photo")},
		{"pdf", []byte("%PDF-1.4\n...")},
		{"truncated jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := photo.Sniff(tc.in); !errors.Is(err, photo.ErrNotImage) {
				t.Fatalf("err %v, want ErrNotImage", err)
			}
		})
	}
}
