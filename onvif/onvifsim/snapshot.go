package onvifsim

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
)

// makeJPEG draws a small gradient test picture; generated at run time so no
// binary lives in the repository.
func makeJPEG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 320, 180))
	for y := 0; y < 180; y++ {
		for x := 0; x < 320; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / 320), G: uint8(y * 255 / 180), B: 128, A: 255})
		}
	}
	var b bytes.Buffer
	_ = jpeg.Encode(&b, img, &jpeg.Options{Quality: 80}) // encoding to memory cannot fail
	return b.Bytes()
}
