package graph

import "fmt"

// ConvOutputSize is the ONNX output length of a convolution or pooling
// window along one axis with explicit padding:
// floor((in + padBegin + padEnd − ((k−1)·dil + 1)) / stride) + 1,
// or 0 when the padded input is shorter than the dilated kernel or an
// argument is out of range.
func ConvOutputSize(in, k, stride, dil, padBegin, padEnd int64) int64 {
	if stride <= 0 || dil <= 0 || k <= 0 {
		return 0
	}
	span := in + padBegin + padEnd - ((k-1)*dil + 1)
	if span < 0 {
		return 0
	}
	return span/stride + 1
}

// convWindow is a Conv or pooling node's window along every spatial axis.
type convWindow struct {
	kernel, strides, dilations []int64
	autoPad                    string
	pads                       []int64 // explicit pads [b1..bn, e1..en]; used when autoPad is NOTSET
}

// windowOf reads strides, dilations, pads and auto_pad for kernel, checking
// their lengths and values.
func windowOf(n *Node, kernel []int64) (convWindow, error) {
	nsp := len(kernel)
	w := convWindow{kernel: kernel, autoPad: n.AttrString("auto_pad", "NOTSET")}
	ones := func(name string) ([]int64, error) {
		v := n.AttrInts(name, nil)
		if v == nil {
			v = make([]int64, nsp)
			for i := range v {
				v[i] = 1
			}
		}
		if len(v) != nsp {
			return nil, fmt.Errorf("%s has %d values for %d spatial axes", name, len(v), nsp)
		}
		for _, x := range v {
			if x <= 0 {
				return nil, fmt.Errorf("%s %v must be positive", name, v)
			}
		}
		return v, nil
	}
	var err error
	if w.strides, err = ones("strides"); err != nil {
		return w, err
	}
	if w.dilations, err = ones("dilations"); err != nil {
		return w, err
	}
	for _, k := range kernel {
		if k <= 0 {
			return w, fmt.Errorf("kernel_shape %v must be positive", kernel)
		}
	}
	switch w.autoPad {
	case "NOTSET", "":
		w.autoPad = "NOTSET"
		w.pads = n.AttrInts("pads", nil)
		if w.pads == nil {
			w.pads = make([]int64, 2*nsp)
		}
		if len(w.pads) != 2*nsp {
			return w, fmt.Errorf("pads has %d values for %d spatial axes", len(w.pads), nsp)
		}
		for _, p := range w.pads {
			if p < 0 {
				return w, fmt.Errorf("pads %v must not be negative", w.pads)
			}
		}
	case "VALID", "SAME_UPPER", "SAME_LOWER":
	default:
		return w, fmt.Errorf("unknown auto_pad %q", w.autoPad)
	}
	return w, nil
}

// padsAt returns the begin and end padding of axis i for input length in.
// SAME needs in to be known (in ≥ 0); ok is false otherwise.
func (w convWindow) padsAt(i int, in int64) (pb, pe int64, ok bool) {
	nsp := len(w.kernel)
	switch w.autoPad {
	case "NOTSET":
		return w.pads[i], w.pads[i+nsp], true
	case "VALID":
		return 0, 0, true
	}
	if in < 0 {
		return 0, 0, false
	}
	s, dk := w.strides[i], (w.kernel[i]-1)*w.dilations[i]+1
	out := ceilDiv(in, s)
	total := max((out-1)*s+dk-in, 0)
	small, large := total/2, total-total/2
	if w.autoPad == "SAME_UPPER" {
		return small, large, true // the extra padding goes at the end
	}
	return large, small, true
}

// ResolveConvPads turns a Conv or pooling node's auto_pad into explicit pads
// [b1..bn, e1..en] for the given spatial input sizes and kernel, following
// ONNX: SAME_UPPER/SAME_LOWER pad so that out = ceil(in/stride), putting the
// odd unit at the end (UPPER) or the beginning (LOWER); VALID pads nothing;
// NOTSET returns the pads attribute (zeros when absent).
func ResolveConvPads(n *Node, inSpatial []int64, kernel []int64) ([]int64, error) {
	if len(inSpatial) != len(kernel) {
		return nil, fmt.Errorf("node %s: %d spatial input sizes for a %d-D kernel", n.Label(), len(inSpatial), len(kernel))
	}
	w, err := windowOf(n, kernel)
	if err != nil {
		return nil, fmt.Errorf("node %s: %w", n.Label(), err)
	}
	nsp := len(kernel)
	pads := make([]int64, 2*nsp)
	for i := range kernel {
		pb, pe, ok := w.padsAt(i, inSpatial[i])
		if !ok {
			return nil, fmt.Errorf("node %s: auto_pad %s needs a known input size on spatial axis %d", n.Label(), w.autoPad, i)
		}
		pads[i], pads[i+nsp] = pb, pe
	}
	return pads, nil
}

// spatialOut computes output spatial dims of a Conv or pooling window.
// ceilMode rounds the window count up, dropping a last window that would
// start inside the end padding (as ONNX and PyTorch do).
func (w convWindow) spatialOut(in []Dim, ceilMode bool) ([]Dim, error) {
	out := make([]Dim, len(w.kernel))
	for i, d := range in {
		s, dk := w.strides[i], (w.kernel[i]-1)*w.dilations[i]+1
		if !d.Known() {
			pb, pe, ok := w.padsAt(i, -1)
			same := w.autoPad == "SAME_UPPER" || w.autoPad == "SAME_LOWER"
			if s == 1 && (same || (ok && pb+pe == dk-1)) {
				out[i] = d
			} else {
				out[i] = unknownDim()
			}
			continue
		}
		pb, pe, _ := w.padsAt(i, d.Value)
		span := d.Value + pb + pe - dk
		if span < 0 {
			return nil, fmt.Errorf("spatial axis %d: input %d with pads %d+%d is shorter than the kernel extent %d", i, d.Value, pb, pe, dk)
		}
		if !ceilMode {
			out[i] = Dim{Value: span/s + 1}
			continue
		}
		o := ceilDiv(span, s) + 1
		if (o-1)*s >= d.Value+pb {
			o--
		}
		out[i] = Dim{Value: o}
	}
	return out, nil
}

// kernelOf returns kernel_shape, or the weight's spatial dims.
func (c *nodeCtx) kernelOf(weight Shape, weightKnown bool, nsp int) ([]int64, bool) {
	if k := c.n.AttrInts("kernel_shape", nil); k != nil {
		return k, true
	}
	if !weightKnown || len(weight) < 2 {
		return nil, false
	}
	return weight[2:].Ints()
}

func inferConv(c *nodeCtx) ([]*ValueType, error) { return c.convType(0, 1, 2, c.elem(0)) }

// inferConvInteger covers ConvInteger (x, w, x_zero_point, w_zero_point).
func inferConvInteger(c *nodeCtx) ([]*ValueType, error) { return c.convType(0, 1, -1, Int32) }

// inferQLinearConv covers QLinearConv (x, x_scale, x_zero_point, w, w_scale,
// w_zero_point, y_scale, y_zero_point, B): the result has y_zero_point's type.
func inferQLinearConv(c *nodeCtx) ([]*ValueType, error) { return c.convType(0, 3, 8, c.elem(7)) }

// convType infers a convolution whose data, weight and bias (-1: none) are
// inputs xi, wi and bi, with result element type elem.
func (c *nodeCtx) convType(xi, wi, bi int, elem DType) ([]*ValueType, error) {
	x, xok := c.shape(xi)
	w, wok := c.shape(wi)
	if !xok && !wok {
		return []*ValueType{elemType(elem)}, nil
	}
	rank := len(x)
	if !xok {
		rank = len(w)
	}
	if rank < 3 {
		return nil, fmt.Errorf("input rank %d; Conv needs (N, C, spatial…)", rank)
	}
	if xok && wok && len(w) != rank {
		return nil, fmt.Errorf("input %v and weight %v ranks differ", x, w)
	}
	group := c.n.AttrInt("group", 1)
	if group <= 0 {
		return nil, fmt.Errorf("group %d must be positive", group)
	}
	out := unknownShape(rank)
	if xok {
		out[0] = x[0]
	}
	if wok {
		out[1] = w[0]
		if w[0].Known() && w[0].Value%group != 0 {
			return nil, fmt.Errorf("weight %v: %d output channels not divisible by group %d", w, w[0].Value, group)
		}
		if xok && x[1].Known() && w[1].Known() && x[1].Value != w[1].Value*group {
			return nil, fmt.Errorf("input %v has %d channels, weight %v with group %d expects %d", x, x[1].Value, w, group, w[1].Value*group)
		}
	}
	if b, ok := c.shape(bi); bi >= 0 && ok && wok {
		if len(b) != 1 || (b[0].Known() && w[0].Known() && b[0].Value != w[0].Value) {
			return nil, fmt.Errorf("bias %v does not match %v output channels", b, w[0])
		}
	}
	kernel, kok := c.kernelOf(w, wok, rank-2)
	if kok && xok {
		if len(kernel) != rank-2 {
			return nil, fmt.Errorf("kernel_shape %v for %d spatial axes", kernel, rank-2)
		}
		if wok {
			if wk, ok := w[2:].Ints(); ok && !equalInts(wk, kernel) {
				return nil, fmt.Errorf("kernel_shape %v differs from weight %v", kernel, w)
			}
		}
		win, err := windowOf(c.n, kernel)
		if err != nil {
			return nil, err
		}
		sp, err := win.spatialOut(x[2:], false)
		if err != nil {
			return nil, err
		}
		copy(out[2:], sp)
	}
	return []*ValueType{tensorType(elem, out)}, nil
}

func inferConvTranspose(c *nodeCtx) ([]*ValueType, error) {
	x, xok := c.shape(0)
	w, wok := c.shape(1)
	elem := c.elem(0)
	if !xok {
		return []*ValueType{elemType(elem)}, nil
	}
	rank := len(x)
	if rank < 3 {
		return nil, fmt.Errorf("input rank %d; ConvTranspose needs (N, C, spatial…)", rank)
	}
	group := c.n.AttrInt("group", 1)
	if group <= 0 {
		return nil, fmt.Errorf("group %d must be positive", group)
	}
	out := unknownShape(rank)
	out[0] = x[0]
	if wok {
		if len(w) != rank {
			return nil, fmt.Errorf("input %v and weight %v ranks differ", x, w)
		}
		if x[1].Known() && w[0].Known() && x[1].Value != w[0].Value {
			return nil, fmt.Errorf("input %v has %d channels, weight %v expects %d", x, x[1].Value, w, w[0].Value)
		}
		if w[1].Known() {
			out[1] = Dim{Value: w[1].Value * group}
		}
	}
	nsp := rank - 2
	if os := c.n.AttrInts("output_shape", nil); os != nil {
		if len(os) == rank {
			os = os[2:]
		}
		if len(os) != nsp {
			return nil, fmt.Errorf("output_shape %v for %d spatial axes", os, nsp)
		}
		for i, v := range os {
			out[2+i] = Dim{Value: v}
		}
		return []*ValueType{tensorType(elem, out)}, nil
	}
	kernel, kok := c.kernelOf(w, wok, nsp)
	if !kok {
		return []*ValueType{tensorType(elem, out)}, nil
	}
	if len(kernel) != nsp {
		return nil, fmt.Errorf("kernel_shape %v for %d spatial axes", kernel, nsp)
	}
	win, err := windowOf(c.n, kernel)
	if err != nil {
		return nil, err
	}
	outPad := c.n.AttrInts("output_padding", make([]int64, nsp))
	if len(outPad) != nsp {
		return nil, fmt.Errorf("output_padding %v for %d spatial axes", outPad, nsp)
	}
	for i := 0; i < nsp; i++ {
		d := x[2+i]
		if !d.Known() {
			continue
		}
		s := win.strides[i]
		if win.autoPad == "SAME_UPPER" || win.autoPad == "SAME_LOWER" {
			out[2+i] = Dim{Value: d.Value * s}
			continue
		}
		pb, pe, _ := win.padsAt(i, d.Value)
		dk := (kernel[i]-1)*win.dilations[i] + 1
		v := s*(d.Value-1) + outPad[i] + dk - pb - pe
		if v < 0 {
			return nil, fmt.Errorf("spatial axis %d: negative output size %d", i, v)
		}
		out[2+i] = Dim{Value: v}
	}
	return []*ValueType{tensorType(elem, out)}, nil
}

func inferPool(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	elem := c.elem(0)
	if !ok {
		return []*ValueType{elemType(elem), elemType(Int64)}, nil
	}
	if len(x) < 3 {
		return nil, fmt.Errorf("input rank %d; pooling needs (N, C, spatial…)", len(x))
	}
	kernel := c.n.AttrInts("kernel_shape", nil)
	if len(kernel) != len(x)-2 {
		return nil, fmt.Errorf("kernel_shape %v for input %v", kernel, x)
	}
	win, err := windowOf(c.n, kernel)
	if err != nil {
		return nil, err
	}
	sp, err := win.spatialOut(x[2:], c.n.AttrInt("ceil_mode", 0) != 0)
	if err != nil {
		return nil, err
	}
	out := append(Shape{x[0], x[1]}, sp...)
	return []*ValueType{tensorType(elem, out), tensorType(Int64, append(Shape(nil), out...))}, nil
}

func inferGlobalPool(c *nodeCtx) ([]*ValueType, error) {
	x, ok := c.shape(0)
	if !ok {
		return []*ValueType{elemType(c.elem(0))}, nil
	}
	if len(x) < 2 {
		return nil, fmt.Errorf("input rank %d; global pooling needs (N, C, …)", len(x))
	}
	out := Shape{x[0], x[1]}
	for range x[2:] {
		out = append(out, Dim{Value: 1})
	}
	return []*ValueType{tensorType(c.elem(0), out)}, nil
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
