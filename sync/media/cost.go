package media

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// DecodeBudget bounds the memory decoding one image may take, estimated
// from its header before it is decoded. The pixel bound alone does not:
// a 24-megapixel 16-bit PNG decodes to 8 bytes a pixel, a progressive
// JPEG keeps 4 bytes of coefficients for each sample of each component,
// and the server checks two photos at once.
const DecodeBudget = 256 << 20

// ErrTooCostly is the error of an image whose header says decoding it
// would take more than DecodeBudget.
var ErrTooCostly = errors.New("too costly to decode")

// decodeCost estimates the bytes the standard decoders allocate for an
// image of mt, w×h, from what its header says of its layout. Unknown
// layouts are given the dearest of their type, so a header cannot make
// its image look cheap.
func decodeCost(mt string, data []byte, w, h int) (int64, string) {
	px := int64(w) * int64(h)
	switch mt {
	case "image/jpeg":
		return jpegCost(data, px)
	case "image/png":
		return pngCost(data, px)
	case "image/webp":
		// Lossy VP8 decodes to 4:2:0 YCbCr; lossless VP8L (and VP8X, which
		// may hold either and an alpha plane) to NRGBA beside its own
		// 4-byte-a-pixel ARGB buffer.
		if len(data) >= 16 && string(data[12:16]) == "VP8 " {
			return px * 3 / 2, "lossy WebP"
		}
		return px * 8, "lossless or extended WebP"
	}
	return px * 8, mt
}

// pngCost: the decoded image (by colour type and depth), twice over when
// interlaced (each pass is decoded to its own image, then merged).
func pngCost(data []byte, px int64) (int64, string) {
	if len(data) < 29 {
		return px * 8, "PNG"
	}
	depth, ct, interlace := data[24], data[25], data[28]
	var bpp int64
	switch ct {
	case 0, 3: // gray, paletted
		bpp = 1
	case 2, 4, 6: // RGB (to RGBA), gray+alpha and RGBA (to NRGBA)
		bpp = 4
	default:
		bpp = 8
	}
	if depth == 16 {
		bpp *= 2
	}
	kind := fmt.Sprintf("%d-bit PNG", depth)
	if interlace != 0 {
		bpp *= 2
		kind = "interlaced " + kind
	}
	return px * bpp, kind
}

// jpegCost: the decoded planes (by their sampling factors); a
// progressive JPEG keeps an int32 coefficient for every sample besides;
// four components (CMYK) are converted into a 4-byte-a-pixel image.
func jpegCost(data []byte, px int64) (int64, string) {
	sof, comps, ok := jpegFrame(data)
	if !ok {
		return px * 16, "JPEG"
	}
	hmax, vmax := 1, 1
	for _, c := range comps {
		hmax, vmax = max(hmax, int(c>>4)), max(vmax, int(c&15))
	}
	var samples int64
	for _, c := range comps {
		samples += px * int64(max(1, int(c>>4))*max(1, int(c&15))) / int64(hmax*vmax)
	}
	cost, kind := samples, "baseline JPEG"
	if sof == 0xC2 {
		cost, kind = samples*5, "progressive JPEG"
	}
	if len(comps) == 4 {
		cost += px * 4
	}
	return cost, kind
}

// jpegFrame finds data's SOF segment: its marker and each component's
// sampling factors (H<<4 | V).
func jpegFrame(data []byte) (byte, []byte, bool) {
	i := 2
	for i+4 <= len(data) {
		if data[i] != 0xFF {
			return 0, nil, false
		}
		m := data[i+1]
		if m == 0xFF { // fill byte
			i++
			continue
		}
		if m == 0xD8 || m == 0x01 || m >= 0xD0 && m <= 0xD7 {
			i += 2
			continue
		}
		n := int(binary.BigEndian.Uint16(data[i+2:]))
		if m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC {
			seg := data[i+4 : min(len(data), i+2+n)]
			if len(seg) < 6 {
				return 0, nil, false
			}
			nc := int(seg[5])
			if nc == 0 || len(seg) < 6+3*nc {
				return 0, nil, false
			}
			comps := make([]byte, nc)
			for k := range nc {
				comps[k] = seg[6+3*k+1]
			}
			return m, comps, true
		}
		if m == 0xDA || n < 2 {
			return 0, nil, false
		}
		i += 2 + n
	}
	return 0, nil, false
}
