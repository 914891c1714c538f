package dataset

import (
	"fmt"
	"image"
	"image/color"
	"math"
)

// planar is an 8-bit image stored channel by channel (C×H×W), the layout
// models take.
type planar struct {
	c, h, w int
	pix     []uint8
}

// toPlanar converts img to channels 1 (luma) or 3 (RGB), dropping alpha as
// PIL's convert("RGB") does. Luma uses ITU-R 601-2 weights in PIL's 16-bit
// fixed point, so convert("L") gives the same bytes.
func toPlanar(img image.Image, channels int) planar {
	b := img.Bounds()
	w, h := b.Dx(), b.Dy()
	p := planar{c: channels, h: h, w: w, pix: make([]uint8, channels*h*w)}
	plane := h * w
	put := func(i int, r, g, bl uint8) {
		if channels == 1 {
			p.pix[i] = luma(r, g, bl)
			return
		}
		p.pix[i], p.pix[plane+i], p.pix[2*plane+i] = r, g, bl
	}
	switch src := img.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			row := src.Pix[y*src.Stride : y*src.Stride+w]
			for x, v := range row {
				put(y*w+x, v, v, v)
			}
		}
	case *image.YCbCr:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				yi := src.YOffset(b.Min.X+x, b.Min.Y+y)
				if channels == 1 {
					// JPEG's Y is already the 601 luma.
					p.pix[y*w+x] = src.Y[yi]
					continue
				}
				ci := src.COffset(b.Min.X+x, b.Min.Y+y)
				r, g, bl := color.YCbCrToRGB(src.Y[yi], src.Cb[ci], src.Cr[ci])
				put(y*w+x, r, g, bl)
			}
		}
	case *image.NRGBA:
		planarFromRGBX(src.Pix, src.Stride, w, h, put)
	case *image.RGBA: // the PNG decoder returns RGBA only for opaque images
		planarFromRGBX(src.Pix, src.Stride, w, h, put)
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBAModel.Convert(img.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA)
				put(y*w+x, c.R, c.G, c.B)
			}
		}
	}
	return p
}

func planarFromRGBX(pix []uint8, stride, w, h int, put func(int, uint8, uint8, uint8)) {
	for y := 0; y < h; y++ {
		row := pix[y*stride : y*stride+4*w]
		for x := 0; x < w; x++ {
			put(y*w+x, row[4*x], row[4*x+1], row[4*x+2])
		}
	}
}

func luma(r, g, b uint8) uint8 {
	return uint8((19595*uint32(r) + 38470*uint32(g) + 7471*uint32(b) + 0x8000) >> 16)
}

// resizedSize is the size an h×w image takes before a center crop to
// cropH×cropW: its shorter side scaled to shorter when that is set (as
// torchvision's Resize(int) does), or else the smallest scaling that covers
// the crop.
func resizedSize(h, w, cropH, cropW, shorter int) (int, int, error) {
	var nh, nw int
	if shorter > 0 {
		if h <= w {
			nh, nw = shorter, int(int64(shorter)*int64(w)/int64(h))
		} else {
			nh, nw = int(int64(shorter)*int64(h)/int64(w)), shorter
		}
	} else {
		s := math.Max(float64(cropH)/float64(h), float64(cropW)/float64(w))
		nh = max(cropH, int(math.Round(float64(h)*s)))
		nw = max(cropW, int(math.Round(float64(w)*s)))
	}
	if nh < cropH || nw < cropW {
		return 0, 0, fmt.Errorf("resizing %d×%d to %d×%d leaves less than the %d×%d crop", h, w, nh, nw, cropH, cropW)
	}
	return nh, nw, nil
}

// resizeCrop resizes src bilinearly to nh×nw (pixel centres aligned, no
// antialiasing) and returns the centred cropH×cropW window, sampling only the
// pixels the crop keeps.
func resizeCrop(src planar, nh, nw, cropH, cropW int, dst []uint8) {
	// Half-way offsets round to even, as torchvision's CenterCrop does.
	top := int(math.RoundToEven(float64(nh-cropH) / 2))
	left := int(math.RoundToEven(float64(nw-cropW) / 2))
	ys := bilinearTaps(src.h, nh, top, cropH)
	xs := bilinearTaps(src.w, nw, left, cropW)
	for c := 0; c < src.c; c++ {
		in := src.pix[c*src.h*src.w : (c+1)*src.h*src.w]
		out := dst[c*cropH*cropW : (c+1)*cropH*cropW]
		for y, ty := range ys {
			r0, r1 := in[ty.i0*src.w:], in[ty.i1*src.w:]
			for x, tx := range xs {
				a := float64(r0[tx.i0])*(1-tx.f) + float64(r0[tx.i1])*tx.f
				b := float64(r1[tx.i0])*(1-tx.f) + float64(r1[tx.i1])*tx.f
				out[y*cropW+x] = uint8(a*(1-ty.f) + b*ty.f + 0.5)
			}
		}
	}
}

// tap says which two source pixels an output pixel blends and how much of the second.
type tap struct {
	i0, i1 int
	f      float64
}

func bilinearTaps(srcLen, dstLen, offset, count int) []tap {
	taps := make([]tap, count)
	ratio := float64(srcLen) / float64(dstLen)
	for i := range taps {
		s := (float64(i+offset)+0.5)*ratio - 0.5
		s = math.Max(0, math.Min(s, float64(srcLen-1)))
		i0 := int(s)
		i1 := min(i0+1, srcLen-1)
		taps[i] = tap{i0, i1, s - float64(i0)}
	}
	return taps
}
