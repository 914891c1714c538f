package dataset

import (
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func saveImage(t *testing.T, path string, img image.Image) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		err = png.Encode(f, img)
	} else {
		err = jpeg.Encode(f, img, &jpeg.Options{Quality: 95})
	}
	if err != nil {
		t.Fatal(err)
	}
}

const imgH, imgW = 6, 8

// imageFolderFiles are the files of the test folder in the order the loader
// must list them: classes by name, files by path, hidden folders and other
// files skipped.
var imageFolderFiles = []string{"bird/g.png", "bird/g16.png", "bird/p.png", "cat/a.png", "cat/sub/b.png", "dog/j.jpg", "dog/k.JPEG"}

func makeImageFolder(t *testing.T) string {
	root := t.TempDir()
	rect := image.Rect(0, 0, imgW, imgH)
	gray := image.NewGray(rect)
	gray16 := image.NewGray16(rect)
	rgb := image.NewRGBA(rect)
	nrgba := image.NewNRGBA(rect)
	pal := image.NewPaletted(rect, color.Palette{color.RGBA{200, 10, 30, 255}, color.RGBA{5, 250, 120, 255}, color.RGBA{90, 90, 255, 255}})
	smooth := image.NewRGBA(rect)
	for y := 0; y < imgH; y++ {
		for x := 0; x < imgW; x++ {
			i := y*imgW + x
			gray.SetGray(x, y, color.Gray{uint8(i * 5)})
			gray16.SetGray16(x, y, color.Gray16{uint16(i*4) * 257})
			rgb.SetRGBA(x, y, color.RGBA{uint8(i * 3), uint8(255 - i*2), uint8(i * 7 % 256), 255})
			nrgba.SetNRGBA(x, y, color.NRGBA{uint8(i * 11 % 256), uint8(i * 13 % 256), uint8(i * 17 % 256), uint8(i * 5)})
			pal.SetColorIndex(x, y, uint8(i%3))
			// Fixed offsets between R, G and B keep the chroma constant, so
			// decoders' different chroma upsampling cannot matter.
			v := 60 + 8*x + 10*y
			smooth.SetRGBA(x, y, color.RGBA{uint8(v + 40), uint8(v), uint8(v - 30), 255})
		}
	}
	for name, img := range map[string]image.Image{
		"bird/g.png": gray, "bird/g16.png": gray16, "bird/p.png": pal, "cat/a.png": rgb,
		"cat/sub/b.png": nrgba, "dog/j.jpg": smooth, "dog/k.JPEG": gray, "cat/.hidden/x.png": rgb,
	} {
		saveImage(t, filepath.Join(root, name), img)
	}
	writeFile(t, filepath.Join(root, "cat", "notes.txt"), []byte("not an image"))
	writeFile(t, filepath.Join(root, "README"), []byte("top-level files are not classes"))
	return root
}

// TestImageFolderMatchesPIL loads a folder of PNG and JPEG images of every
// colour model the decoders produce, as 1 and 3 channels, and compares with
// what PIL's convert("L") / convert("RGB") give for the same files. PNG is
// lossless, so it must agree exactly; JPEG decoders round their IDCT and
// colour conversion differently, so a JPEG may differ by a couple of levels.
func TestImageFolderMatchesPIL(t *testing.T) {
	root := makeImageFolder(t)
	runPython(t, `
import sys, os, numpy as np
from PIL import Image
root = sys.argv[1]
for mode, c in (('L', 1), ('RGB', 3)):
    out = []
    for name in sys.argv[2].split(','):
        a = np.asarray(Image.open(os.path.join(root, name)).convert(mode)).reshape(6, 8, c)
        out.append(a.transpose(2, 0, 1))
    np.save(os.path.join(root, 'pil_%s.npy' % mode), np.stack(out).astype(np.uint8))
`, root, strings.Join(imageFolderFiles, ","))
	for _, c := range []struct {
		channels int
		mode     string
	}{{0, "L"}, {3, "RGB"}} {
		d, err := Open(root, Options{Channels: c.channels, Scale: 1})
		if err != nil {
			t.Fatal(err)
		}
		want, err := ReadNPY(filepath.Join(root, "pil_"+c.mode+".npy"))
		if err != nil {
			t.Fatal(err)
		}
		ch := int(want.Dims[1])
		if d.Kind != KindImages || d.N != len(imageFolderFiles) || !slices.Equal(d.Shape, []int{ch, imgH, imgW}) {
			t.Fatalf("%s: kind %s N %d shape %v", c.mode, d.Kind, d.N, d.Shape)
		}
		if !slices.Equal(d.Classes, []string{"bird", "cat", "dog"}) || !slices.Equal(d.Labels, []int64{0, 0, 0, 1, 1, 2, 2}) {
			t.Fatalf("classes %v labels %v", d.Classes, d.Labels)
		}
		all := make([]float32, d.N*d.SampleSize())
		if err := d.Batch([]int{0, 1, 2, 3, 4, 5, 6}, all); err != nil {
			t.Fatal(err)
		}
		for i, name := range imageFolderFiles {
			got := all[i*d.SampleSize() : (i+1)*d.SampleSize()]
			ref := want.Raw[i*d.SampleSize() : (i+1)*d.SampleSize()]
			tol := 0.0
			switch {
			case strings.HasSuffix(name, ".jpg"):
				tol = 2
			case name == "bird/g16.png":
				// PIL clips 16-bit gray to 255 instead of keeping the high
				// byte; the pixels were written as v·257, so v is the answer.
				for p, v := range got {
					if want := float32((p % (imgH * imgW)) * 4); v != want {
						t.Fatalf("%s %s: value %d is %v, want %v", c.mode, name, p, v, want)
					}
				}
				continue
			}
			for p, v := range got {
				if math.Abs(float64(v)-float64(ref[p])) > tol {
					t.Fatalf("%s %s: value %d is %v, PIL says %d", c.mode, name, p, v, ref[p])
				}
			}
		}
	}
}

func TestImageFolderResizesToFirstImage(t *testing.T) {
	root := t.TempDir()
	small := image.NewGray(image.Rect(0, 0, 10, 10))
	tall := image.NewGray(image.Rect(0, 0, 10, 20))
	for y := 0; y < 20; y++ {
		for x := 0; x < 10; x++ {
			tall.SetGray(x, y, color.Gray{uint8(y)})
		}
	}
	saveImage(t, filepath.Join(root, "a", "1.png"), small)
	saveImage(t, filepath.Join(root, "b", "2.png"), tall)
	d, err := Open(root, Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.Shape, []int{1, 10, 10}) {
		t.Fatalf("shape %v", d.Shape)
	}
	got := make([]float32, 100)
	if err := d.Batch([]int{1}, got); err != nil {
		t.Fatal(err)
	}
	// The 10×20 image needs no scaling to cover 10×10; the centre crop keeps rows 5–14.
	for p, v := range got {
		if v != float32(5+p/10) {
			t.Fatalf("pixel %d is %v, want row %d", p, v, 5+p/10)
		}
	}
}

func TestImageFolderBadInput(t *testing.T) {
	gray := image.NewGray(image.Rect(0, 0, 4, 4))
	cases := []struct {
		name  string
		setup func(root string) string // returns the path the error must name
		opts  Options
		says  string
	}{
		{"empty class", func(root string) string {
			saveImage(t, filepath.Join(root, "a", "1.png"), gray)
			os.MkdirAll(filepath.Join(root, "b"), 0o755)
			return filepath.Join(root, "b")
		}, Options{}, "no .png/.jpg"},
		{"corrupt png", func(root string) string {
			saveImage(t, filepath.Join(root, "a", "1.png"), gray)
			p := filepath.Join(root, "a", "2.png")
			writeFile(t, p, []byte("\x89PNG\r\n\x1a\nbroken"))
			return p
		}, Options{}, ""},
		{"two channels", func(root string) string {
			saveImage(t, filepath.Join(root, "a", "1.png"), gray)
			return root
		}, Options{Channels: 2}, "1 or 3 channels"},
		{"resize below crop", func(root string) string {
			saveImage(t, filepath.Join(root, "a", "1.png"), gray)
			return filepath.Join(root, "a", "1.png")
		}, Options{Height: 8, Width: 8, Resize: 4}, "crop"},
	}
	for _, c := range cases {
		root := t.TempDir()
		blame := c.setup(root)
		_, err := Open(root, c.opts)
		if err == nil || !strings.Contains(err.Error(), blame) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: error %v should name %s and say %q", c.name, err, blame, c.says)
		}
	}
}

// BenchmarkOpenImageFolder decodes an unlabelled folder of 2000 28×28 PNGs.
func BenchmarkOpenImageFolder(b *testing.B) {
	root := b.TempDir()
	img := image.NewGray(image.Rect(0, 0, 28, 28))
	for i := range 2000 {
		for p := range img.Pix {
			img.Pix[p] = uint8(i + p)
		}
		f, _ := os.Create(filepath.Join(root, fmt.Sprintf("%04d.png", i)))
		png.Encode(f, img)
		f.Close()
	}
	for b.Loop() {
		if _, err := Open(root, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
