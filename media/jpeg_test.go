package media

import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"testing"

	"golang.org/x/image/draw"
)

// testJPEG makes a w×h camera-like picture: gradients and edges, so the
// encoder and scaler do real work.
func testJPEG(tb testing.TB, w, h int) []byte {
	tb.Helper()
	img := image.NewYCbCr(image.Rect(0, 0, w, h), image.YCbCrSubsampleRatio420)
	for y := range h {
		for x := range w {
			img.Y[y*img.YStride+x] = uint8((x*7 + y*3 + (x/40+y/40)%2*90) & 0xff)
		}
	}
	for i := range img.Cb {
		img.Cb[i], img.Cr[i] = uint8(i%251), uint8(i%241)
	}
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func TestFitJPEG(t *testing.T) {
	small := testJPEG(t, 640, 360)
	out, w, h, err := FitJPEG(small, 1280, 720)
	if err != nil || w != 640 || h != 360 || !bytes.Equal(out, small) {
		t.Errorf("a picture that fits must be sent as taken: %dx%d, same bytes %v, %v", w, h, bytes.Equal(out, small), err)
	}
	for _, tc := range []struct{ w, h, maxW, maxH, wantW, wantH int }{
		{1920, 1080, 1280, 720, 1280, 720},
		{3840, 2160, 1280, 720, 1280, 720},
		{2592, 1944, 1280, 720, 960, 720}, // 4:3 into a 16:9 box
		{1080, 1920, 1280, 720, 404, 720}, // portrait corridor view
	} {
		src := testJPEG(t, tc.w, tc.h)
		out, w, h, err := FitJPEG(src, tc.maxW, tc.maxH)
		if err != nil {
			t.Fatalf("%dx%d: %v", tc.w, tc.h, err)
		}
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
		if err != nil || cfg.Width != w || cfg.Height != h || w != tc.wantW || h != tc.wantH {
			t.Errorf("%dx%d into %dx%d: got %dx%d (says %dx%d), want %dx%d, %v", tc.w, tc.h, tc.maxW, tc.maxH,
				cfg.Width, cfg.Height, w, h, tc.wantW, tc.wantH, err)
		}
		img, _ := jpeg.Decode(bytes.NewReader(out))
		if c := color.GrayModel.Convert(img.At(w/2, h/2)).(color.Gray); c.Y == 0 {
			t.Errorf("%dx%d: scaled picture is black in the middle", tc.w, tc.h)
		}
	}
	for _, bad := range [][]byte{nil, []byte("<html>login</html>"), small[:100]} {
		if _, _, _, err := FitJPEG(bad, 1280, 720); !errors.Is(err, ErrNotJPEG) {
			t.Errorf("FitJPEG(%d bytes) = %v, want ErrNotJPEG", len(bad), err)
		}
	}
}

// BenchmarkFitJPEG is the CPU an event snapshot costs when the camera's
// picture is larger than snapshot_max: decode, scale, encode.
func BenchmarkFitJPEG(b *testing.B) {
	for _, size := range []struct {
		name string
		w, h int
	}{{"1080p", 1920, 1080}, {"4K", 3840, 2160}} {
		src := testJPEG(b, size.w, size.h)
		b.Run(size.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := FitJPEG(src, 1280, 720); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkScaler compares the scalers FitJPEG could use on a 4K picture.
func BenchmarkScaler(b *testing.B) {
	img, err := jpeg.Decode(bytes.NewReader(testJPEG(b, 3840, 2160)))
	if err != nil {
		b.Fatal(err)
	}
	dst := image.NewRGBA(image.Rect(0, 0, 1280, 720))
	for name, s := range map[string]draw.Scaler{"ApproxBiLinear": draw.ApproxBiLinear, "BiLinear": draw.BiLinear, "CatmullRom": draw.CatmullRom} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				s.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
			}
		})
	}
}

// TestAsJPEG: the cloud takes JPEG only; a camera's PNG snapshot is
// converted, a JPEG passes untouched, anything else is refused.
func TestAsJPEG(t *testing.T) {
	src := testJPEG(t, 64, 48)
	if out, err := AsJPEG(src); err != nil || !bytes.Equal(out, src) {
		t.Errorf("a JPEG came back changed (%v)", err)
	}
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	img.Set(3, 3, color.RGBA{R: 255, A: 255})
	var pngBuf bytes.Buffer
	if err := png.Encode(&pngBuf, img); err != nil {
		t.Fatal(err)
	}
	out, err := AsJPEG(pngBuf.Bytes())
	if err != nil {
		t.Fatalf("PNG: %v", err)
	}
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(out))
	if err != nil || cfg.Width != 64 || cfg.Height != 48 {
		t.Errorf("PNG converted to %dx%d (%v), want a 64x48 JPEG", cfg.Width, cfg.Height, err)
	}
	for name, bad := range map[string][]byte{"empty": nil, "html": []byte("<html>busy</html>"), "truncated png": pngBuf.Bytes()[:40]} {
		if _, err := AsJPEG(bad); !errors.Is(err, ErrNotJPEG) {
			t.Errorf("%s: %v, want ErrNotJPEG", name, err)
		}
	}
}
