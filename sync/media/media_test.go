package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"github.com/futian-xiaomo/villagesync/schema"
)

func jpegOf(t testing.TB, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			// The top-left quarter is white, the rest black: orientation
			// moves the white corner.
			if x < w/2 && y < h/2 {
				img.Set(x, y, color.White)
			} else {
				img.Set(x, y, color.Black)
			}
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// withOrientation puts an EXIF block with orientation o after the JPEG's
// start marker, in byte order bo.
func withOrientation(jpg []byte, o uint16, bo binary.AppendByteOrder) []byte {
	var tiff []byte
	if bo == binary.LittleEndian {
		tiff = []byte("II")
	} else {
		tiff = []byte("MM")
	}
	tiff = bo.AppendUint16(tiff, 42)
	tiff = bo.AppendUint32(tiff, 8)
	tiff = bo.AppendUint16(tiff, 1)      // one entry
	tiff = bo.AppendUint16(tiff, 0x0112) // orientation
	tiff = bo.AppendUint16(tiff, 3)      // SHORT
	tiff = bo.AppendUint32(tiff, 1)
	tiff = bo.AppendUint16(tiff, o)
	tiff = bo.AppendUint16(tiff, 0)
	tiff = bo.AppendUint32(tiff, 0) // no next IFD
	seg := append([]byte("Exif\x00\x00"), tiff...)
	out := append([]byte{}, jpg[:2]...)
	out = append(out, 0xFF, 0xE1)
	out = binary.BigEndian.AppendUint16(out, uint16(len(seg)+2))
	out = append(out, seg...)
	return append(out, jpg[2:]...)
}

func TestSniff(t *testing.T) {
	var p bytes.Buffer
	png.Encode(&p, image.NewGray(image.Rect(0, 0, 2, 2)))
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"jpeg", jpegOf(t, 4, 4), "image/jpeg"},
		{"png", p.Bytes(), "image/png"},
		{"webp", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), "image/webp"},
		{"riff, not webp", []byte("RIFF\x10\x00\x00\x00WAVEfmt "), ""},
		{"gif", []byte("GIF89a\x01\x00\x01\x00"), ""},
		{"text", []byte("hello, world"), ""},
		{"empty", nil, ""},
		{"two bytes of jpeg", []byte{0xFF, 0xD8}, ""},
	} {
		if got := Sniff(tc.b); got != tc.want {
			t.Errorf("%s: Sniff = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestOrientation(t *testing.T) {
	jpg := jpegOf(t, 40, 20)
	if got := Orientation(jpg); got != 1 {
		t.Errorf("no EXIF: %d, want 1", got)
	}
	for _, bo := range []binary.AppendByteOrder{binary.LittleEndian, binary.BigEndian} {
		for o := uint16(1); o <= 8; o++ {
			if got := Orientation(withOrientation(jpg, o, bo)); got != int(o) {
				t.Errorf("%v %d: got %d", bo, o, got)
			}
		}
	}
	if got := Orientation(withOrientation(jpg, 9, binary.BigEndian)); got != 1 {
		t.Errorf("orientation 9 reads as %d, want 1", got)
	}
}

// A photo turned by its EXIF orientation is shown, and thumbnailed,
// upright: width and height swap for a quarter turn and the corner moves.
func TestThumbnailHonoursOrientation(t *testing.T) {
	jpg := jpegOf(t, 800, 400)
	for _, tc := range []struct {
		o          uint16
		w, h       int
		whiteAt    image.Point // a point of the thumbnail inside the white quarter
		blackAtTop image.Point
	}{
		{1, 320, 160, image.Pt(40, 40), image.Pt(280, 40)},
		{3, 320, 160, image.Pt(280, 120), image.Pt(40, 40)},
		{6, 160, 320, image.Pt(120, 40), image.Pt(40, 40)},
		{8, 160, 320, image.Pt(40, 280), image.Pt(40, 40)},
	} {
		th, in, err := Thumbnail(withOrientation(jpg, tc.o, binary.LittleEndian), schema.ThumbMaxSide)
		if err != nil {
			t.Fatal(err)
		}
		img, err := jpeg.Decode(bytes.NewReader(th))
		if err != nil {
			t.Fatal(err)
		}
		b := img.Bounds()
		if b.Dx() != tc.w || b.Dy() != tc.h || in.Width*tc.h != in.Height*tc.w {
			t.Errorf("orientation %d: thumbnail %v, shown %dx%d, want %dx%d", tc.o, b, in.Width, in.Height, tc.w, tc.h)
			continue
		}
		if y := gray(img.At(tc.whiteAt.X, tc.whiteAt.Y)); y < 200 {
			t.Errorf("orientation %d: %v is %d, want white", tc.o, tc.whiteAt, y)
		}
		if y := gray(img.At(tc.blackAtTop.X, tc.blackAtTop.Y)); y > 50 {
			t.Errorf("orientation %d: %v is %d, want black", tc.o, tc.blackAtTop, y)
		}
	}
}

func gray(c color.Color) uint8 {
	return color.GrayModel.Convert(c).(color.Gray).Y
}

func TestCheckRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want error
	}{
		{"text", []byte("not an image at all"), ErrNotImage},
		{"jpeg start, then nothing", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 0}, ErrNotImage},
		{"webp start, then nothing", []byte("RIFF\x10\x00\x00\x00WEBPVP8 "), ErrNotImage},
	} {
		if _, err := Check(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	// A small thumbnail is never enlarged.
	th, in, err := Thumbnail(jpegOf(t, 30, 10), schema.ThumbMaxSide)
	if err != nil || in.Width != 30 {
		t.Fatal(in, err)
	}
	if cfg, _ := jpeg.DecodeConfig(bytes.NewReader(th)); cfg.Width != 30 || cfg.Height != 10 {
		t.Errorf("thumbnail of 30x10 is %dx%d", cfg.Width, cfg.Height)
	}
}

// FuzzThumbnail: whatever the bytes, Check and Thumbnail return an image
// or an error, never panic, and never decode more than the pixel bound.
func FuzzThumbnail(f *testing.F) {
	jpg := jpegOf(f, 32, 16)
	f.Add(jpg)
	f.Add(withOrientation(jpg, 6, binary.BigEndian))
	f.Add(withOrientation(jpg, 3, binary.LittleEndian))
	var p bytes.Buffer
	png.Encode(&p, image.NewGray(image.Rect(0, 0, 3, 5)))
	f.Add(p.Bytes())
	f.Add([]byte("RIFF\x10\x00\x00\x00WEBPVP8 "))
	f.Fuzz(func(t *testing.T, b []byte) {
		Orientation(b)
		in, err := Check(b)
		if err != nil {
			return
		}
		if in.Width*in.Height > schema.MaxImagePixels {
			t.Fatalf("Check passed %dx%d", in.Width, in.Height)
		}
		if in.Width*in.Height > 4_000_000 {
			return // valid but slow to decode under the fuzzer
		}
		th, tin, err := Thumbnail(b, schema.ThumbMaxSide)
		if err != nil {
			return
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(th))
		if err != nil || max(cfg.Width, cfg.Height) > schema.ThumbMaxSide || tin != in {
			t.Fatalf("thumbnail %+v %v of %+v", cfg, err, in)
		}
	})
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

// Downsize keeps a small upright photo as given, and otherwise makes a
// JPEG of it that fits and is upright: the white corner lands where the
// orientation says.
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
		{"turned right (6)", withOrientation(plain, 6, binary.BigEndian), 1600, 200, 400, false, [2]int{1, 0}},
		{"turned left (8)", withOrientation(plain, 8, binary.BigEndian), 1600, 200, 400, false, [2]int{0, 1}},
		{"upside down (3)", withOrientation(plain, 3, binary.BigEndian), 1600, 400, 200, false, [2]int{1, 1}},
		{"mirrored (2)", withOrientation(plain, 2, binary.BigEndian), 1600, 400, 200, false, [2]int{1, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, info, err := Downsize(tc.in, tc.max)
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

// Downsize refuses what Check refuses, as ErrNotImage, before decoding.
func TestDownsizeRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   []byte
	}{
		{"text", []byte("hello, this is not a photo")},
		{"pdf", []byte("%PDF-1.4\n...")},
		{"truncated jpeg", []byte{0xFF, 0xD8, 0xFF, 0xE0, 0, 16, 'J', 'F', 'I', 'F', 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := Downsize(tc.in, 1600); !errors.Is(err, ErrNotImage) {
				t.Fatalf("err %v, want ErrNotImage", err)
			}
		})
	}
}
