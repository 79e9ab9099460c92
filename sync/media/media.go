package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	_ "image/png" // registered for image.Decode: PNG is one of schema.ImageTypes
	"slices"

	"golang.org/x/image/draw"
	_ "golang.org/x/image/webp" // registered for image.Decode: WebP is one of schema.ImageTypes

	"github.com/futian-xiaomo/villagesync/schema"
)

// SniffLen is how many bytes Sniff needs to tell every type apart.
const SniffLen = 12

// Sniff returns the media type of schema.ImageTypes that b (the first
// bytes of a file) begins as, or "" for anything else. It reads only the
// signatures: a file that begins well can still fail to decode.
func Sniff(b []byte) string {
	switch {
	case len(b) >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF:
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image/webp"
	}
	return ""
}

// ErrNotImage is the error of bytes that are not an image of a type
// schema.ImageTypes lists, or do not decode as the type they begin as.
var ErrNotImage = errors.New("not an image")

// ErrTooManyPixels is the error of an image whose header claims more than
// schema.MaxImagePixels.
var ErrTooManyPixels = errors.New("too many pixels")

// Info is what Check found of an image.
type Info struct {
	MediaType string
	// Width and Height are as the image is shown: swapped from the
	// stored pixels when its EXIF orientation turns it a quarter.
	Width, Height int
	// Orientation is the EXIF orientation (1 to 8; 1 when there is none).
	Orientation int
}

// Check reads data's type and header: an image of schema.ImageTypes of at
// most schema.MaxImagePixels, whose decoding would take at most
// DecodeBudget. It decodes nothing but the header.
func Check(data []byte) (Info, error) {
	mt := Sniff(data)
	if mt == "" || !slices.Contains(schema.ImageTypes, mt) {
		return Info{}, ErrNotImage
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil || "image/"+format != mt {
		return Info{}, fmt.Errorf("%w: %s header: %v", ErrNotImage, mt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return Info{}, fmt.Errorf("%w: %s of %d×%d pixels", ErrNotImage, mt, cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > schema.MaxImagePixels {
		return Info{}, fmt.Errorf("%w: %d×%d", ErrTooManyPixels, cfg.Width, cfg.Height)
	}
	if cost, kind := decodeCost(mt, data, cfg.Width, cfg.Height); cost > DecodeBudget {
		return Info{}, fmt.Errorf("%w: a %d×%d %s would take about %d MB to decode, more than %d MB",
			ErrTooCostly, cfg.Width, cfg.Height, kind, cost>>20, DecodeBudget>>20)
	}
	in := Info{MediaType: mt, Width: cfg.Width, Height: cfg.Height, Orientation: 1}
	if mt == "image/jpeg" {
		in.Orientation = Orientation(data)
	}
	if in.Orientation >= 5 {
		in.Width, in.Height = in.Height, in.Width
	}
	return in, nil
}

// Thumbnail decodes data (Check it first) and returns a JPEG of it turned
// upright by its EXIF orientation, at most side pixels on its longest
// side (never enlarged), with the shown width and height.
func Thumbnail(data []byte, side int) ([]byte, Info, error) {
	in, err := Check(data)
	if err != nil {
		return nil, Info{}, err
	}
	// ApproxBiLinear: a list thumbnail needs no better, and CatmullRom
	// costs several times as much on a 24-megapixel original.
	out, _, err := shrink(data, in, side, draw.ApproxBiLinear, 80)
	if err != nil {
		return nil, Info{}, fmt.Errorf("thumbnail: %w", err)
	}
	return out, in, nil
}

// Downsize returns data as a JPEG of at most side pixels on its longest
// side, turned upright by its EXIF orientation, with what it is now. It
// refuses what Check refuses, before decoding anything. An image that is
// small enough and upright already is returned as it is: encoding it
// again would only lose quality.
func Downsize(data []byte, side int) ([]byte, Info, error) {
	in, err := Check(data)
	if err != nil {
		return nil, Info{}, err
	}
	if max(in.Width, in.Height) <= side && in.Orientation == 1 {
		return data, in, nil
	}
	// BiLinear, not ApproxBiLinear: this is the photo itself, and it
	// widens its kernel when it reduces, where the approximation aliases;
	// CatmullRom looks no better at a reduction this size and takes
	// several times as long for a 12-megapixel photo on a phone.
	out, img, err := shrink(data, in, side, draw.BiLinear, 85)
	if err != nil {
		return nil, Info{}, fmt.Errorf("downsize: %w", err)
	}
	b := img.Bounds()
	return out, Info{MediaType: "image/jpeg", Width: b.Dx(), Height: b.Dy(), Orientation: 1}, nil
}

// shrink decodes data (of in, as Check found it), scales it to fit
// side×side and turns it upright, and encodes it as a JPEG of quality q.
func shrink(data []byte, in Info, side int, interp draw.Interpolator, q int) ([]byte, image.Image, error) {
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %v", ErrNotImage, in.MediaType, err)
	}
	// Scaled first and turned after: turning the small copy costs nothing,
	// turning a 24-megapixel original would cost a second copy of it.
	img := Upright(Scale(src, side, interp), in.Orientation)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: q}); err != nil {
		return nil, nil, fmt.Errorf("encode JPEG: %w", err)
	}
	return out.Bytes(), img, nil
}

// Scale returns src fitted within side×side (never enlarged), keeping its
// proportions, drawn over white with interp.
func Scale(src image.Image, side int, interp draw.Interpolator) image.Image {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if m := max(w, h); m > side {
		w, h = max(1, w*side/m), max(1, h*side/m)
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// White under a transparent PNG or WebP: JPEG has no alpha, and black
	// would hide dark writing on a photographed sheet.
	draw.Draw(dst, dst.Bounds(), image.White, image.Point{}, draw.Src)
	interp.Scale(dst, dst.Bounds(), src, b, draw.Over, nil)
	return dst
}

// Upright returns img turned as EXIF orientation o (1 to 8) says it is
// to be shown; img itself for 1 or an unknown value.
func Upright(img image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			var dx, dy int
			switch o {
			case 2: // mirrored
				dx, dy = w-1-x, y
			case 3: // upside down
				dx, dy = w-1-x, h-1-y
			case 4: // mirrored upside down
				dx, dy = x, h-1-y
			case 5: // mirrored, turned a quarter
				dx, dy = y, x
			case 6: // turned a quarter clockwise to be shown
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8: // turned a quarter anticlockwise to be shown
				dx, dy = y, w-1-x
			}
			dst.Set(dx, dy, img.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}
