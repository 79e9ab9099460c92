package replica_test

import (
	"image"
	"image/png"
	"io"
	"math/rand/v2"
)

// pngNoise writes a side×side PNG of random opaque pixels, which PNG
// cannot compress: its size is about 4·side² bytes.
func pngNoise(w io.Writer, side int, seed byte) error {
	img := image.NewNRGBA(image.Rect(0, 0, side, side))
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	for i := range img.Pix {
		img.Pix[i] = byte(rng.Uint32())
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	return (&png.Encoder{CompressionLevel: png.NoCompression}).Encode(w, img)
}
