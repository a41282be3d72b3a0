package onvifsim

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
)

// makeJPEG draws a small gradient test picture; generated at run time so no
// binary lives in the repository.
func makeJPEG() []byte {
	var b bytes.Buffer
	_ = jpeg.Encode(&b, picture(), &jpeg.Options{Quality: 80}) // encoding to memory cannot fail
	return b.Bytes()
}

// makePNG is the same picture as a PNG.
func makePNG() []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, picture())
	return b.Bytes()
}

func picture() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 320, 180))
	for y := 0; y < 180; y++ {
		for x := 0; x < 320; x++ {
			img.Set(x, y, color.RGBA{R: uint8(x * 255 / 320), G: uint8(y * 255 / 180), B: 128, A: 255})
		}
	}
	return img
}
