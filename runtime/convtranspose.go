package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// ConvTranspose as GEMM + col2im: each input pixel's channel vector times the
// transposed weights gives its contribution to every kernel tap, which is
// scattered (added) into the output.

func init() {
	registerForward(compileConvTranspose, "ConvTranspose")
}

func compileConvTranspose(n *graph.Node, _ int64) (kernelFunc, error) {
	attrs, err := readConvAttrs(n)
	if err != nil {
		return nil, err
	}
	outPad := n.AttrInts("output_padding", nil)
	outShapeAttr := n.AttrInts("output_shape", nil)
	return func(c *execContext, in, out []*Tensor) error {
		x, wt := in[0], in[1]
		var bias *Tensor
		if len(in) > 2 {
			bias = in[2]
		}
		if x.DType != graph.Float32 || wt.DType != graph.Float32 {
			return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
		}
		r := len(x.Shape) - 2
		if r < 1 || r > 2 || len(wt.Shape) != r+2 {
			return fmt.Errorf("X %v, W %v: only 1-D and 2-D ConvTranspose is %w", x.Shape, wt.Shape, ErrUnsupported)
		}
		g := attrs.group
		nb, ch := x.Shape[0], x.Shape[1]
		if wt.Shape[0] != ch || ch%g != 0 {
			return fmt.Errorf("X %v, W %v and group %d disagree", x.Shape, wt.Shape, g)
		}
		mg := wt.Shape[1]
		m := mg * g
		if bias != nil && bias.Len() != m {
			return fmt.Errorf("B %v must hold %d values", bias.Shape, m)
		}
		w, err := transposedWindow(attrs, x.Shape[2:], wt.Shape[2:], outPad, outShapeAttr)
		if err != nil {
			return err
		}
		c.allocZero(out[0], graph.Float32, w.outShape(nb, m)...)
		cg := ch / g
		kk := mg * w.kH * w.kW
		inHW, outHW := w.inH*w.inW, w.outH*w.outW
		col := c.tempF32(kk * inHW)
		y := out[0].F32
		for b := 0; b < nb; b++ {
			for gi := 0; gi < g; gi++ {
				xg := x.F32[(b*ch+gi*cg)*inHW:]
				wg := wt.F32[gi*cg*kk:]
				c.backend.Sgemm(true, false, kk, inHW, cg, 1, wg, kk, xg, inHW, 0, col, inHW)
				col2im(w, mg, col, y[(b*m+gi*mg)*outHW:(b*m+(gi+1)*mg)*outHW])
			}
			if bias != nil {
				for o := 0; o < m; o++ {
					row := y[(b*m+o)*outHW : (b*m+o+1)*outHW]
					for i := range row {
						row[i] += bias.F32[o]
					}
				}
			}
		}
		return nil
	}, nil
}

// transposedWindow resolves ConvTranspose geometry. In the window, in* is
// the ConvTranspose input (the small side) and out* its output.
func transposedWindow(a convAttrs, in, k []int, outPad, outShape []int64) (window, error) {
	r := len(in)
	w := window{spatialRank: r}
	in2, k2 := [2]int{1, in[0]}, [2]int{1, k[0]}
	if r == 2 {
		in2, k2 = [2]int{in[0], in[1]}, [2]int{k[0], k[1]}
	}
	s, err := spatial2(a.strides, r, 1, "strides")
	if err != nil {
		return w, err
	}
	d, err := spatial2(a.dilations, r, 1, "dilations")
	if err != nil {
		return w, err
	}
	op, err := spatial2(outPad, r, 0, "output_padding")
	if err != nil {
		return w, err
	}
	var pb, pe [2]int
	if a.pads != nil {
		if len(a.pads) != 2*r {
			return w, fmt.Errorf("pads has %d values for %d spatial axes", len(a.pads), r)
		}
		pb, _ = spatial2(a.pads[:r], r, 0, "pads")
		pe, _ = spatial2(a.pads[r:], r, 0, "pads")
	}
	var target [2]int
	haveTarget := outShape != nil
	if haveTarget {
		if len(outShape) < r {
			return w, fmt.Errorf("output_shape %v for %d spatial axes", outShape, r)
		}
		t := outShape[len(outShape)-r:]
		target, _ = spatial2(t, r, 1, "output_shape")
	}
	var out [2]int
	for i := 0; i < 2; i++ {
		ext := (k2[i]-1)*d[i] + 1
		full := s[i]*(in2[i]-1) + op[i] + ext
		switch {
		case haveTarget || a.autoPad == "SAME_UPPER" || a.autoPad == "SAME_LOWER":
			if !haveTarget {
				target[i] = in2[i] * s[i]
			}
			total := full - target[i]
			if total < 0 {
				total = 0
			}
			if a.autoPad == "SAME_UPPER" {
				pb[i], pe[i] = total/2, total-total/2
			} else {
				pb[i], pe[i] = total-total/2, total/2
			}
			out[i] = target[i]
		case a.autoPad == "VALID":
			pb[i], pe[i] = 0, 0
			out[i] = full
		default:
			out[i] = full - pb[i] - pe[i]
		}
		if out[i] < 0 {
			return w, fmt.Errorf("negative output size")
		}
	}
	w.inH, w.inW, w.kH, w.kW = in2[0], in2[1], k2[0], k2[1]
	w.sH, w.sW, w.dH, w.dW = s[0], s[1], d[0], d[1]
	w.padT, w.padL, w.padB, w.padR = pb[0], pb[1], pe[0], pe[1]
	w.outH, w.outW = out[0], out[1]
	return w, nil
}

// col2im adds each tap's contribution col[(m,ki,kj), (ih,iw)] to y.
func col2im(w window, mg int, col, y []float32) {
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	taps := w.kH * w.kW
	for r := 0; r < mg*taps; r++ {
		mo, tap := r/taps, r%taps
		ki, kj := tap/w.kW, tap%w.kW
		src := col[r*inHW : (r+1)*inHW]
		dst := y[mo*outHW : (mo+1)*outHW]
		for ih := 0; ih < w.inH; ih++ {
			oh := ih*w.sH - w.padT + ki*w.dH
			if oh < 0 || oh >= w.outH {
				continue
			}
			for iw := 0; iw < w.inW; iw++ {
				ow := iw*w.sW - w.padL + kj*w.dW
				if ow >= 0 && ow < w.outW {
					dst[oh*w.outW+ow] += src[ih*w.inW+iw]
				}
			}
		}
	}
}
