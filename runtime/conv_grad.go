package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Conv backward, per image and group on the GEMM: dW += dY·colᵀ, dcol = Wᵀ·dY
// scattered back to dX (col2im), dB = ΣdY. Depthwise convolutions take the
// same path with one-row GEMMs.

func init() {
	registerBackward(compileConvGrad, "Conv")
}

func compileConvGrad(n *graph.Node, _ int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
	attrs, err := readConvAttrs(n)
	if err != nil {
		return nil, err
	}
	return &gradOp{keepIn: []int{0, 1}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		x, wt := in[0], in[1]
		g := attrs.group
		nb, ch := x.Shape[0], x.Shape[1]
		m, cg := wt.Shape[0], wt.Shape[1]
		if cg*g != ch || m%g != 0 {
			return fmt.Errorf("X %v, W %v and group %d disagree", x.Shape, wt.Shape, g)
		}
		win, err := newWindow(attrs, x.Shape[2:], wt.Shape[2:], false)
		if err != nil {
			return err
		}
		d := dy[0].F32
		mg := m / g
		outHW, inHW := win.outH*win.outW, win.inH*win.inW
		kk := cg * win.kH * win.kW
		if len(dx) > 2 && dx[2] != nil {
			c.alloc(dx[2], graph.Float32, in[2].Shape...)
			db := dx[2].F32
			for o := 0; o < m; o++ {
				var s float32
				for b := 0; b < nb; b++ {
					for _, v := range d[(b*m+o)*outHW : (b*m+o+1)*outHW] {
						s += v
					}
				}
				db[o] = s
			}
		}
		wantW, wantX := dx[1] != nil, dx[0] != nil
		if !wantW && !wantX {
			return nil
		}
		col := c.tempF32(kk * outHW)
		if wantW {
			c.allocZero(dx[1], graph.Float32, wt.Shape...)
		}
		if wantX {
			c.allocZero(dx[0], graph.Float32, x.Shape...)
		}
		for b := 0; b < nb; b++ {
			for gi := 0; gi < g; gi++ {
				dyg := d[(b*m+gi*mg)*outHW:]
				if wantW {
					im2colRange(c, win, x.F32, ch, gi*cg, cg, b*outHW, outHW, col)
					c.backend.Sgemm(false, true, mg, kk, outHW, 1, dyg, outHW, col, outHW, 1, dx[1].F32[gi*mg*kk:], kk)
				}
				if wantX {
					c.backend.Sgemm(true, false, kk, outHW, mg, 1, wt.F32[gi*mg*kk:], kk, dyg, outHW, 0, col, outHW)
					col2im(win.transposed(), cg, col, dx[0].F32[(b*ch+gi*cg)*inHW:(b*ch+(gi+1)*cg)*inHW])
				}
			}
		}
		return nil
	}}, nil
}

// transposed is the window of the ConvTranspose that maps this
// convolution's output back onto its input, for col2im.
func (w window) transposed() window {
	t := w
	t.inH, t.inW, t.outH, t.outW = w.outH, w.outW, w.inH, w.inW
	return t
}
