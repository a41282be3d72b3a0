package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"

	"golang.org/x/image/draw"
)

// SnapshotQuality is the JPEG quality of a scaled snapshot: the cloud
// shows it as a thumbnail and a still, where 85 is indistinguishable from
// the camera's own and about half the size of 95.
const SnapshotQuality = 85

// maxSnapshotPixels refuses pictures no camera takes (a 12K panorama is
// 100 Mpx) before decoding allocates for them.
const maxSnapshotPixels = 120_000_000

// ErrNotJPEG is returned for bytes that are not a baseline or progressive JPEG.
var ErrNotJPEG = errors.New("not a JPEG picture")

// FitJPEG returns src as it is, with its size, when the picture fits in
// maxW×maxH; otherwise it decodes it, scales it down to fit (aspect kept)
// and encodes it again. Only pictures too large are transcoded: a camera's
// JPEG is better than anything made from it.
func FitJPEG(src []byte, maxW, maxH int) (out []byte, width, height int, err error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(src))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %v", ErrNotJPEG, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxSnapshotPixels {
		return nil, 0, 0, fmt.Errorf("%w: %dx%d", ErrNotJPEG, cfg.Width, cfg.Height)
	}
	if cfg.Width <= maxW && cfg.Height <= maxH {
		return src, cfg.Width, cfg.Height, nil
	}
	img, err := jpeg.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, 0, 0, fmt.Errorf("%w: %v", ErrNotJPEG, err)
	}
	w, h := fitSize(cfg.Width, cfg.Height, maxW, maxH)
	dst := image.NewRGBA(image.Rect(0, 0, w, h))
	// ApproxBiLinear costs a sixth of BiLinear on a 4K picture (BenchmarkScaler)
	// and its aliasing does not show at thumbnail sizes.
	draw.ApproxBiLinear.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
	var buf bytes.Buffer
	buf.Grow(w * h / 4)
	if err := jpeg.Encode(&buf, dst, &jpeg.Options{Quality: SnapshotQuality}); err != nil {
		return nil, 0, 0, err
	}
	return buf.Bytes(), w, h, nil
}

// AsJPEG returns a camera's snapshot as JPEG, the only picture format the
// cloud takes: a JPEG as it is, a PNG (some cameras' snapshot URIs serve
// one) decoded and encoded as JPEG. Anything else is ErrNotJPEG.
func AsJPEG(src []byte) ([]byte, error) {
	if bytes.HasPrefix(src, []byte{0xFF, 0xD8, 0xFF}) {
		return src, nil
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(src))
	if err != nil {
		return nil, ErrNotJPEG
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || cfg.Width*cfg.Height > maxSnapshotPixels {
		return nil, fmt.Errorf("%w: PNG %dx%d", ErrNotJPEG, cfg.Width, cfg.Height)
	}
	img, err := png.Decode(bytes.NewReader(src))
	if err != nil {
		return nil, fmt.Errorf("%w: PNG: %v", ErrNotJPEG, err)
	}
	var buf bytes.Buffer
	buf.Grow(cfg.Width * cfg.Height / 4)
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: SnapshotQuality}); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// fitSize scales w×h down to fit maxW×maxH, keeping the aspect ratio and
// even dimensions (chroma subsampling).
func fitSize(w, h, maxW, maxH int) (int, int) {
	if w*maxH > h*maxW { // wider than the box
		h, w = max(2, h*maxW/w), maxW
	} else {
		w, h = max(2, w*maxH/h), maxH
	}
	return w &^ 1, h &^ 1
}
