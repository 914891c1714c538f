package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// MaxPool, AveragePool (count_include_pad, ceil_mode), GlobalAveragePool and
// GlobalMaxPool on 1-D and 2-D windows.

func init() {
	registerForward(compilePool(false), "MaxPool")
	registerForward(compilePool(true), "AveragePool")
	registerForward(simple(globalPool(false)), "GlobalMaxPool")
	registerForward(simple(globalPool(true)), "GlobalAveragePool")
}

func compilePool(average bool) compileFunc {
	return func(n *graph.Node, _ int64) (kernelFunc, error) {
		attrs, err := readConvAttrs(n)
		if err != nil {
			return nil, err
		}
		if attrs.kernel == nil {
			return nil, fmt.Errorf("kernel_shape missing")
		}
		ceil := n.AttrInt("ceil_mode", 0) != 0
		includePad := n.AttrInt("count_include_pad", 0) != 0
		if n.AttrInt("storage_order", 0) != 0 {
			return nil, fmt.Errorf("storage_order=1 is %w", ErrUnsupported)
		}
		if len(n.Outputs) > 1 && n.Outputs[1] != nil && n.Outputs[1].Name != "" {
			return nil, fmt.Errorf("the Indices output is %w", ErrUnsupported)
		}
		kernel := make([]int, len(attrs.kernel))
		for i, k := range attrs.kernel {
			kernel[i] = int(k)
		}
		return func(c *execContext, in, out []*Tensor) error {
			x := in[0]
			if x.DType != graph.Float32 {
				return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
			}
			if len(x.Shape) != len(kernel)+2 {
				return fmt.Errorf("X %v and kernel_shape %v disagree", x.Shape, kernel)
			}
			w, err := newWindow(attrs, x.Shape[2:], kernel, ceil)
			if err != nil {
				return err
			}
			planes := x.Shape[0] * x.Shape[1]
			c.alloc(out[0], graph.Float32, w.outShape(x.Shape[0], x.Shape[1])...)
			pool2D(c, w, planes, x.F32, out[0].F32, average, includePad)
			return nil
		}, nil
	}
}

// pool2D reduces each window to its max or mean. Averages divide by the
// taps inside the input, or, with count_include_pad, inside the padded input
// (never the part of a ceil_mode window beyond the padding).
func pool2D(c *execContext, w window, planes int, x, y []float32, average, includePad bool) {
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	if !average && w.dH == 1 && w.dW == 1 && (w.sW == 1 || (w.sW == 2 && w.kW <= 3)) {
		maxPoolSeparable(c, w, planes, x, y)
		return
	}
	// Valid tap ranges depend only on the output row (column), so they are
	// computed once per plane geometry.
	rowLo, rowHi, rowPad := tapRanges(w.outH, w.sH, w.padT, w.padB, w.kH, w.dH, w.inH)
	colLo, colHi, colPad := tapRanges(w.outW, w.sW, w.padL, w.padR, w.kW, w.dW, w.inW)
	c.parallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			src := x[p*inHW : (p+1)*inHW]
			dst := y[p*outHW : (p+1)*outHW]
			for oh := 0; oh < w.outH; oh++ {
				h0 := oh*w.sH - w.padT
				kiLo, kiHi := rowLo[oh], rowHi[oh]
				out := dst[oh*w.outW : (oh+1)*w.outW]
				for ow := range out {
					w0 := ow*w.sW - w.padL
					kjLo, kjHi := colLo[ow], colHi[ow]
					if !average {
						m := float32(math.Inf(-1))
						for ki := kiLo; ki < kiHi; ki++ {
							row := src[(h0+ki*w.dH)*w.inW:]
							for kj := kjLo; kj < kjHi; kj++ {
								// The max builtin is branch-free (random data defeats
								// branch prediction) and propagates NaN.
								m = max(m, row[w0+kj*w.dW])
							}
						}
						out[ow] = m
						continue
					}
					var sum float32
					for ki := kiLo; ki < kiHi; ki++ {
						row := src[(h0+ki*w.dH)*w.inW:]
						for kj := kjLo; kj < kjHi; kj++ {
							sum += row[w0+kj*w.dW]
						}
					}
					count := (kiHi - kiLo) * (kjHi - kjLo)
					if includePad {
						count = rowPad[oh] * colPad[ow]
					}
					out[ow] = sum / float32(count)
				}
			}
		}
	})
}

// maxPoolSeparable is max pooling as a max over each window's row taps,
// then over its column taps, each step a vector max of whole rows. The
// padding and the part of a ceil_mode window past it hold -∞, which a max
// ignores.
func maxPoolSeparable(c *execContext, w window, planes int, x, y []float32) {
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	rowLen := w.padL + w.inW + w.padR + 2*w.kW + 2
	scratch := rowLen + w.outW + w.inH*w.outW
	buf := c.tempF32(max(1, c.threads) * scratch)
	negInf := float32(math.Inf(-1))
	// Output rows whose every tap row lies inside the input.
	interiorLo := min(w.outH, (w.padT+w.sH-1)/w.sH)
	interiorHi := interiorLo
	if last := w.inH - w.kH + w.padT; last >= 0 {
		interiorHi = max(interiorLo, min(w.outH, last/w.sH+1))
	}
	c.parallelWorkers(planes, func(worker, lo, hi int) {
		mine := buf[worker*scratch : (worker+1)*scratch]
		row, shifted, rowMax := mine[:rowLen], mine[rowLen:rowLen+w.outW], mine[rowLen+w.outW:]
		for i := range row {
			row[i] = negInf
		}
		for p := lo; p < hi; p++ {
			src := x[p*inHW : (p+1)*inHW]
			dst := y[p*outHW : (p+1)*outHW]
			maxPoolRows(w, src, row, shifted, rowMax)
			for oh := 0; oh < w.outH; oh++ {
				if oh == interiorLo && interiorHi > interiorLo {
					// All rows at once, one tap row after the other.
					rows := interiorHi - interiorLo
					first := rowMax[(interiorLo*w.sH-w.padT)*w.outW:]
					out := dst[interiorLo*w.outW:]
					step := w.sH * w.outW
					second := first
					if w.kH > 1 {
						second = first[w.outW:]
					}
					maxRows(out, w.outW, first, step, second, step, rows, w.outW)
					for ki := 2; ki < w.kH; ki++ {
						maxRows(out, w.outW, out, w.outW, first[ki*w.outW:], step, rows, w.outW)
					}
					oh = interiorHi - 1
					continue
				}
				out := dst[oh*w.outW:][:w.outW]
				first := true
				for ki := 0; ki < w.kH; ki++ {
					ih := oh*w.sH - w.padT + ki
					if ih < 0 || ih >= w.inH {
						continue
					}
					if first {
						copy(out, rowMax[ih*w.outW:][:w.outW])
						first = false
					} else {
						maxRows(out, 0, out, 0, rowMax[ih*w.outW:], 0, 1, w.outW)
					}
				}
				if first {
					for i := range out {
						out[i] = negInf
					}
				}
			}
		}
	})
}

// maxPoolRows fills rowMax[ih][ow] with the max over the row taps of
// window column ow in input row ih. row is scratch of -∞ padding around the
// input row; shifted holds outW floats.
func maxPoolRows(w window, src, row, shifted, rowMax []float32) {
	if w.sW == 2 && w.kW == 2 && w.padL == 0 && w.inW == 2*w.outW {
		// The windows tile every row exactly: pairs over the whole plane.
		pairMax(rowMax[:w.inH*w.outW], src)
		return
	}
	for ih := 0; ih < w.inH; ih++ {
		copy(row[w.padL:], src[ih*w.inW:][:w.inW])
		h := rowMax[ih*w.outW:][:w.outW]
		switch {
		case w.sW == 1:
			copy(h, row)
			for kj := 1; kj < w.kW; kj++ {
				maxRows(h, 0, h, 0, row[kj:], 0, 1, w.outW)
			}
		case w.kW == 1:
			for ow := range h {
				h[ow] = row[2*ow]
			}
		default:
			pairMax(h, row)
			if w.kW == 3 {
				pairMax(shifted, row[1:])
				maxRows(h, 0, h, 0, shifted, 0, 1, w.outW)
			}
		}
	}
}

// tapRanges gives, for each output index along one axis, the kernel taps
// [lo, hi) that land inside the input, and how many land inside the padded
// input.
func tapRanges(out, stride, padBegin, padEnd, k, dil, in int) (lo, hi, padded []int) {
	lo, hi, padded = make([]int, out), make([]int, out), make([]int, out)
	for o := 0; o < out; o++ {
		start := o*stride - padBegin
		for t := 0; t < k; t++ {
			i := start + t*dil
			if i >= 0 && i < in {
				if hi[o] == 0 {
					lo[o] = t
				}
				hi[o] = t + 1
			}
			if i >= -padBegin && i < in+padEnd {
				padded[o]++
			}
		}
		if hi[o] == 0 {
			lo[o] = 0
		}
	}
	return lo, hi, padded
}

func globalPool(average bool) kernelFunc {
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		if x.DType != graph.Float32 || len(x.Shape) < 2 {
			return fmt.Errorf("X %s%v: %w", x.DType, x.Shape, ErrUnsupported)
		}
		shape := []int{x.Shape[0], x.Shape[1]}
		for range x.Shape[2:] {
			shape = append(shape, 1)
		}
		c.alloc(out[0], graph.Float32, shape...)
		planes := x.Shape[0] * x.Shape[1]
		hw := shapeSize(x.Shape[2:])
		for p := 0; p < planes; p++ {
			src := x.F32[p*hw : (p+1)*hw]
			if average {
				var s float64
				for _, v := range src {
					s += float64(v)
				}
				out[0].F32[p] = float32(s / float64(hw))
				continue
			}
			m := float32(math.Inf(-1))
			for _, v := range src {
				if v > m || v != v {
					m = v
				}
			}
			out[0].F32[p] = m
		}
		return nil
	}
}
