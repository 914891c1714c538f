package runtime

import (
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Pooling backward: MaxPool routes each output's gradient to the first
// maximum of its window (PyTorch's choice on ties), AveragePool spreads it
// evenly over the taps the forward divided by, GlobalAveragePool over the
// whole plane.

func init() {
	registerBackward(compilePoolGrad(false), "MaxPool")
	registerBackward(compilePoolGrad(true), "AveragePool")
	registerBackward(func(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
		return &gradOp{grad: globalAveragePoolGrad}, nil
	}, "GlobalAveragePool")
}

func compilePoolGrad(average bool) gradCompileFunc {
	return func(n *graph.Node, _ int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
		attrs, err := readConvAttrs(n)
		if err != nil {
			return nil, err
		}
		ceil := n.AttrInt("ceil_mode", 0) != 0
		includePad := n.AttrInt("count_include_pad", 0) != 0
		kernel := make([]int, len(attrs.kernel))
		for i, k := range attrs.kernel {
			kernel[i] = int(k)
		}
		op := &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			x := in[0]
			w, err := newWindow(attrs, x.Shape[2:], kernel, ceil)
			if err != nil {
				return err
			}
			c.allocZero(dx[0], graph.Float32, x.Shape...)
			poolGrad(c, w, x.Shape[0]*x.Shape[1], x.F32, dy[0].F32, dx[0].F32, average, includePad)
			return nil
		}}
		if !average {
			op.keepIn = []int{0}
		}
		return op, nil
	}
}

func poolGrad(c *execContext, w window, planes int, x, dy, dx []float32, average, includePad bool) {
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	if !average && w.kH == 2 && w.kW == 2 && w.sH == 2 && w.sW == 2 && w.dH == 1 && w.dW == 1 &&
		w.padT == 0 && w.padL == 0 && 2*w.outH <= w.inH && 2*w.outW <= w.inW {
		// LeNet's and VGG's pooling: every window lies inside the input.
		c.parallel(planes, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				src, g, d := x[p*inHW:(p+1)*inHW], dx[p*inHW:(p+1)*inHW], dy[p*outHW:(p+1)*outHW]
				for oh := 0; oh < w.outH; oh++ {
					top := 2 * oh * w.inW
					for ow, v := range d[oh*w.outW : (oh+1)*w.outW] {
						i := top + 2*ow
						best := i
						if src[i+1] > src[best] {
							best = i + 1
						}
						if src[i+w.inW] > src[best] {
							best = i + w.inW
						}
						if src[i+w.inW+1] > src[best] {
							best = i + w.inW + 1
						}
						g[best] += v
					}
				}
			}
		})
		return
	}
	rowLo, rowHi, rowPad := tapRanges(w.outH, w.sH, w.padT, w.padB, w.kH, w.dH, w.inH)
	colLo, colHi, colPad := tapRanges(w.outW, w.sW, w.padL, w.padR, w.kW, w.dW, w.inW)
	c.parallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			g := dx[p*inHW : (p+1)*inHW]
			d := dy[p*outHW : (p+1)*outHW]
			for oh := 0; oh < w.outH; oh++ {
				h0 := oh*w.sH - w.padT
				kiLo, kiHi := rowLo[oh], rowHi[oh]
				for ow := 0; ow < w.outW; ow++ {
					w0 := ow*w.sW - w.padL
					kjLo, kjHi := colLo[ow], colHi[ow]
					v := d[oh*w.outW+ow]
					if !average {
						src := x[p*inHW : (p+1)*inHW]
						best, arg := float32(math.Inf(-1)), -1
						for ki := kiLo; ki < kiHi; ki++ {
							for kj := kjLo; kj < kjHi; kj++ {
								i := (h0+ki*w.dH)*w.inW + w0 + kj*w.dW
								if src[i] > best || arg < 0 {
									best, arg = src[i], i
								}
							}
						}
						if arg >= 0 {
							g[arg] += v
						}
						continue
					}
					count := (kiHi - kiLo) * (kjHi - kjLo)
					if includePad {
						count = rowPad[oh] * colPad[ow]
					}
					if count == 0 {
						continue
					}
					v /= float32(count)
					for ki := kiLo; ki < kiHi; ki++ {
						for kj := kjLo; kj < kjHi; kj++ {
							g[(h0+ki*w.dH)*w.inW+w0+kj*w.dW] += v
						}
					}
				}
			}
		}
	})
}

func globalAveragePoolGrad(c *execContext, in, out, dy, dx []*Tensor) error {
	x := in[0]
	c.alloc(dx[0], graph.Float32, x.Shape...)
	hw := shapeSize(x.Shape[2:])
	for p, v := range dy[0].F32 {
		v /= float32(hw)
		row := dx[0].F32[p*hw : (p+1)*hw]
		for i := range row {
			row[i] = v
		}
	}
	return nil
}
