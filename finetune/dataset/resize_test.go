package dataset

import (
	"fmt"
	"image"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestResizeIdentityAndCrop(t *testing.T) {
	src := planar{c: 1, h: 3, w: 4, pix: []uint8{
		0, 1, 2, 3,
		4, 5, 6, 7,
		8, 9, 10, 11,
	}}
	dst := make([]uint8, 12)
	resizeCrop(src, 3, 4, 3, 4, dst)
	for i, v := range dst {
		if v != src.pix[i] {
			t.Fatalf("same-size resize changed pixel %d: %d", i, v)
		}
	}
	// Cropping 3×4 to 2×2 keeps rows 0–1 (offset 0.5 rounds to even) and columns 1–2.
	dst = make([]uint8, 4)
	resizeCrop(src, 3, 4, 2, 2, dst)
	if want := []uint8{1, 2, 5, 6}; fmt.Sprint(dst) != fmt.Sprint(want) {
		t.Errorf("crop: got %v, want %v", dst, want)
	}
}

func TestResizeBilinearByHand(t *testing.T) {
	// Doubling [0 100] to 4 pixels samples source positions -0.25, 0.25, 0.75,
	// 1.25, clamped to [0, 1]: 0, 25, 75, 100.
	src := planar{c: 1, h: 1, w: 2, pix: []uint8{0, 100}}
	dst := make([]uint8, 4)
	resizeCrop(src, 1, 4, 1, 4, dst)
	if want := []uint8{0, 25, 75, 100}; fmt.Sprint(dst) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", dst, want)
	}
}

func TestResizedSize(t *testing.T) {
	for _, c := range []struct{ h, w, ch, cw, shorter, nh, nw int }{
		{28, 28, 28, 28, 0, 28, 28},
		{100, 50, 20, 20, 0, 40, 20},
		{30, 60, 24, 24, 32, 32, 64},
		{60, 30, 24, 24, 32, 64, 32},
		{13, 17, 9, 9, 11, 11, 14}, // torchvision: int(11 * 17 / 13) = 14
	} {
		nh, nw, err := resizedSize(c.h, c.w, c.ch, c.cw, c.shorter)
		if err != nil || nh != c.nh || nw != c.nw {
			t.Errorf("%+v: got %d×%d %v", c, nh, nw, err)
		}
	}
	if _, _, err := resizedSize(30, 30, 32, 32, 28); err == nil {
		t.Error("resize below the crop accepted")
	}
}

// TestResizeMatchesTorch compares resize-then-centre-crop with PyTorch's
// bilinear interpolate (align_corners=False, no antialiasing) followed by the
// crop torchvision's CenterCrop takes. Our output is rounded to 8 bits, so it
// may differ from PyTorch's float result by at most half a level.
func TestResizeMatchesTorch(t *testing.T) {
	dir := t.TempDir()
	const h, w = 13, 17
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for i := range img.Pix {
		img.Pix[i] = uint8(i * 97 % 251)
		if i%4 == 3 {
			img.Pix[i] = 255
		}
	}
	path := filepath.Join(dir, "a.png")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := png.Encode(f, img); err != nil {
		t.Fatal(err)
	}
	f.Close()
	cases := []struct{ shorter, crop int }{{11, 9}, {40, 32}, {13, 12}}
	var specs []string
	for _, c := range cases {
		specs = append(specs, fmt.Sprintf("%d:%d", c.shorter, c.crop))
	}
	runPython(t, `
import sys, os, numpy as np, torch
from PIL import Image
torch.set_num_threads(1)
x = torch.from_numpy(np.asarray(Image.open(sys.argv[1]).convert('RGB'))).permute(2, 0, 1).float()[None]
h, w = x.shape[2:]
for spec in sys.argv[3].split(','):
    s, crop = map(int, spec.split(':'))
    nh, nw = (s, int(s * w / h)) if h <= w else (int(s * h / w), s)
    y = torch.nn.functional.interpolate(x, size=(nh, nw), mode='bilinear', align_corners=False)
    top, left = int(round((nh - crop) / 2.0)), int(round((nw - crop) / 2.0))
    np.save(os.path.join(sys.argv[2], 'ref_%d_%d.npy' % (s, crop)), y[0, :, top:top + crop, left:left + crop].numpy().astype(np.float32))
`, path, dir, strings.Join(specs, ","))
	for _, c := range cases {
		ref := filepath.Join(dir, fmt.Sprintf("ref_%d_%d.npy", c.shorter, c.crop))
		want, err := ReadNPY(ref)
		if err != nil {
			t.Fatal(err)
		}
		wantVals, _ := want.Float32s()
		d, err := Open(dir, Options{Channels: 3, Height: c.crop, Width: c.crop, Resize: c.shorter, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]float32, d.SampleSize())
		if err := d.Batch([]int{0}, got); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(wantVals) {
			t.Fatalf("%+v: %d values, torch has %d", c, len(got), len(wantVals))
		}
		for i := range got {
			if math.Abs(float64(got[i]-wantVals[i])) > 0.5+1e-3 {
				t.Fatalf("%+v: value %d is %v, torch says %v", c, i, got[i], wantVals[i])
			}
		}
	}
}
