package photo

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"net/http"
	"slices"

	"golang.org/x/image/draw"
	"golang.org/x/image/webp"

	"github.com/futian-xiaomo/villagesync/schema"
)

// ErrNotImage is returned for bytes that are not an image of a type the
// server takes (schema.ImageTypes).
var ErrNotImage = errors.New("not a photo: attach a JPEG, PNG or WebP image")

// Info describes an image.
type Info struct {
	MediaType     string
	Width, Height int
}

// Sniff returns the media type of data if it is one of schema.ImageTypes,
// with the image's size from its header (not decoding the pixels).
func Sniff(data []byte) (Info, error) {
	mt := http.DetectContentType(data)
	if !slices.Contains(schema.ImageTypes, mt) {
		return Info{}, fmt.Errorf("%w (the file looks like %s)", ErrNotImage, mt)
	}
	var cfg image.Config
	var err error
	switch mt {
	case "image/jpeg":
		cfg, err = jpeg.DecodeConfig(bytes.NewReader(data))
	case "image/png":
		cfg, err = png.DecodeConfig(bytes.NewReader(data))
	default:
		cfg, err = webp.DecodeConfig(bytes.NewReader(data))
	}
	if err != nil {
		return Info{}, fmt.Errorf("%w: its %s header is damaged: %v", ErrNotImage, mt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > schema.MaxImagePixels {
		return Info{}, fmt.Errorf("photo: %d×%d pixels is more than the %d a photo may have",
			cfg.Width, cfg.Height, schema.MaxImagePixels)
	}
	return Info{MediaType: mt, Width: cfg.Width, Height: cfg.Height}, nil
}

// Downsize returns data as a JPEG of at most maxSide pixels on its longest
// side, turned upright by its EXIF orientation. An image that is small
// enough and upright already is returned as it is: encoding it again
// would only lose quality.
func Downsize(data []byte, maxSide int) ([]byte, Info, error) {
	info, err := Sniff(data)
	if err != nil {
		return nil, info, err
	}
	orient := 1
	if info.MediaType == "image/jpeg" {
		orient = Orientation(data)
	}
	if max(info.Width, info.Height) <= maxSide && orient == 1 {
		return data, info, nil
	}
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, info, fmt.Errorf("photo: decode %s: %w", info.MediaType, err)
	}
	img := Upright(scale(src, maxSide), orient)
	var out bytes.Buffer
	if err := jpeg.Encode(&out, img, &jpeg.Options{Quality: 85}); err != nil {
		return nil, info, fmt.Errorf("photo: encode JPEG: %w", err)
	}
	b := img.Bounds()
	return out.Bytes(), Info{MediaType: "image/jpeg", Width: b.Dx(), Height: b.Dy()}, nil
}

// scale fits src within maxSide×maxSide, keeping its proportions.
func scale(src image.Image, maxSide int) image.Image {
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	if max(w, h) <= maxSide {
		return src
	}
	if w >= h {
		w, h = maxSide, max(1, h*maxSide/w)
	} else {
		w, h = max(1, w*maxSide/h), maxSide
	}
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// BiLinear: CatmullRom looks no better at a reduction this size and
	// takes several times as long for a 12-megapixel photo on a phone.
	draw.BiLinear.Scale(dst, dst.Bounds(), src, b, draw.Src, nil)
	return dst
}

// Upright returns img turned as EXIF orientation o (1–8) says it should
// be shown; img itself for 1 or an unknown value.
func Upright(img image.Image, o int) image.Image {
	if o < 2 || o > 8 {
		return img
	}
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		for x := 0; x < dw; x++ {
			var sx, sy int
			switch o {
			case 2: // mirrored
				sx, sy = w-1-x, y
			case 3: // upside down
				sx, sy = w-1-x, h-1-y
			case 4: // mirrored upside down
				sx, sy = x, h-1-y
			case 5: // transposed
				sx, sy = y, x
			case 6: // taken turned left: turn right
				sx, sy = y, h-1-x
			case 7: // transversed
				sx, sy = w-1-y, h-1-x
			case 8: // taken turned right: turn left
				sx, sy = w-1-y, x
			}
			dst.Set(x, y, img.At(b.Min.X+sx, b.Min.Y+sy))
		}
	}
	return dst
}

// Orientation returns a JPEG's EXIF orientation (1–8), 1 when it has
// none or its EXIF cannot be read.
func Orientation(data []byte) int {
	if len(data) < 4 || data[0] != 0xFF || data[1] != 0xD8 {
		return 1
	}
	for p := 2; p+4 <= len(data); {
		if data[p] != 0xFF {
			return 1
		}
		marker := data[p+1]
		if marker == 0xDA || marker == 0xD9 { // the pixels start: no EXIF before them
			return 1
		}
		n := int(binary.BigEndian.Uint16(data[p+2:]))
		if n < 2 || p+2+n > len(data) {
			return 1
		}
		seg := data[p+4 : p+2+n]
		if marker == 0xE1 && bytes.HasPrefix(seg, []byte("Exif\x00\x00")) {
			return tiffOrientation(seg[6:])
		}
		p += 2 + n
	}
	return 1
}

// tiffOrientation reads tag 0x0112 of a TIFF block's first directory.
func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	ifd := int(bo.Uint32(t[4:]))
	if ifd < 8 || ifd+2 > len(t) {
		return 1
	}
	n := int(bo.Uint16(t[ifd:]))
	for i := 0; i < n; i++ {
		e := ifd + 2 + 12*i
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 && bo.Uint16(t[e+2:]) == 3 { // SHORT
			if o := int(bo.Uint16(t[e+8:])); o >= 1 && o <= 8 {
				return o
			}
			return 1
		}
	}
	return 1
}
