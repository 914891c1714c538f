package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Conv by im2col + GEMM per image and group, with a direct kernel for
// depthwise convolutions (one input and one output channel per group), where
// a GEMM of one row would waste the BLAS. 1-D convolutions run as 2-D ones of
// height 1.

func init() {
	registerForward(compileConv, "Conv")
	registerFused(compileConvAct, "Conv")
}

// convAttrs are a convolution's attributes, spatial lists padded to 2-D.
type convAttrs struct {
	autoPad   string
	group     int
	kernel    []int64 // kernel_shape, may be nil (taken from W)
	strides   []int64
	dilations []int64
	pads      []int64 // begins then ends
}

func readConvAttrs(n *graph.Node) (convAttrs, error) {
	a := convAttrs{
		autoPad:   n.AttrString("auto_pad", "NOTSET"),
		group:     int(n.AttrInt("group", 1)),
		kernel:    n.AttrInts("kernel_shape", nil),
		strides:   n.AttrInts("strides", nil),
		dilations: n.AttrInts("dilations", nil),
		pads:      n.AttrInts("pads", nil),
	}
	switch a.autoPad {
	case "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID":
	default:
		return a, fmt.Errorf("auto_pad %q is not supported", a.autoPad)
	}
	if a.group < 1 {
		return a, fmt.Errorf("group %d must be positive", a.group)
	}
	return a, nil
}

// window is the geometry of a 2-D sliding window (convolution or pooling).
type window struct {
	inH, inW    int
	kH, kW      int
	sH, sW      int
	dH, dW      int
	padT, padL  int
	padB, padR  int
	outH, outW  int
	spatialRank int // 1 or 2, as in the model
}

// spatial2 pads a per-axis list for a rank-1 window to 2-D (height 1).
func spatial2(v []int64, rank int, def int64, name string) ([2]int, error) {
	if v == nil {
		return [2]int{int(def), int(def)}, nil
	}
	if len(v) != rank {
		return [2]int{}, fmt.Errorf("%s has %d values for %d spatial axes", name, len(v), rank)
	}
	if rank == 1 {
		return [2]int{int(def), int(v[0])}, nil
	}
	return [2]int{int(v[0]), int(v[1])}, nil
}

// newWindow resolves strides, dilations and padding for an input of spatial
// shape in (1 or 2 axes) and a kernel of spatial shape k.
func newWindow(a convAttrs, in, k []int, ceilMode bool) (window, error) {
	r := len(in)
	if r < 1 || r > 2 || len(k) != r {
		return window{}, fmt.Errorf("input spatial %v, kernel %v: only 1-D and 2-D windows are %w", in, k, ErrUnsupported)
	}
	w := window{spatialRank: r}
	in2 := [2]int{1, in[0]}
	k2 := [2]int{1, k[0]}
	if r == 2 {
		in2 = [2]int{in[0], in[1]}
		k2 = [2]int{k[0], k[1]}
	}
	s, err := spatial2(a.strides, r, 1, "strides")
	if err != nil {
		return w, err
	}
	d, err := spatial2(a.dilations, r, 1, "dilations")
	if err != nil {
		return w, err
	}
	var pb, pe [2]int
	if a.pads != nil {
		if len(a.pads) != 2*r {
			return w, fmt.Errorf("pads has %d values for %d spatial axes", len(a.pads), r)
		}
		b, _ := spatial2(a.pads[:r], r, 0, "pads")
		e, _ := spatial2(a.pads[r:], r, 0, "pads")
		pb, pe = b, e
	}
	var out [2]int
	for i := 0; i < 2; i++ {
		if s[i] < 1 || d[i] < 1 || k2[i] < 1 {
			return w, fmt.Errorf("strides, dilations and kernel must be positive")
		}
		ext := (k2[i]-1)*d[i] + 1
		switch a.autoPad {
		case "SAME_UPPER", "SAME_LOWER":
			out[i] = (in2[i] + s[i] - 1) / s[i]
			total := max(0, (out[i]-1)*s[i]+ext-in2[i])
			if a.autoPad == "SAME_UPPER" {
				pb[i], pe[i] = total/2, total-total/2
			} else {
				pb[i], pe[i] = total-total/2, total/2
			}
		case "VALID":
			pb[i], pe[i] = 0, 0
			fallthrough
		default:
			span := in2[i] + pb[i] + pe[i] - ext
			if span < 0 {
				return w, fmt.Errorf("kernel %v larger than padded input %v", k, in)
			}
			if ceilMode {
				out[i] = (span+s[i]-1)/s[i] + 1
				// The last window must start inside the input or left padding.
				if (out[i]-1)*s[i] >= in2[i]+pb[i] {
					out[i]--
				}
			} else {
				out[i] = span/s[i] + 1
			}
		}
	}
	w.inH, w.inW, w.kH, w.kW = in2[0], in2[1], k2[0], k2[1]
	w.sH, w.sW, w.dH, w.dW = s[0], s[1], d[0], d[1]
	w.padT, w.padL, w.padB, w.padR = pb[0], pb[1], pe[0], pe[1]
	w.outH, w.outW = out[0], out[1]
	return w, nil
}

// outShape is the output shape [n, ch, spatial…] in the model's rank.
func (w window) outShape(n, ch int) []int {
	if w.spatialRank == 1 {
		return []int{n, ch, w.outW}
	}
	return []int{n, ch, w.outH, w.outW}
}

func compileConv(n *graph.Node, opset int64) (kernelFunc, error) {
	return compileConvAct(n, opset, activation{})
}

// compileConvAct is Conv followed by a fused activation.
func compileConvAct(n *graph.Node, _ int64, act activation) (kernelFunc, error) {
	attrs, err := readConvAttrs(n)
	if err != nil {
		return nil, err
	}
	var cache packedWeights
	return func(c *execContext, in, out []*Tensor) error {
		x, wt := in[0], in[1]
		var bias *Tensor
		if len(in) > 2 {
			bias = in[2]
		}
		if x.DType != graph.Float32 || wt.DType != graph.Float32 {
			return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
		}
		if len(x.Shape) < 3 || len(wt.Shape) != len(x.Shape) {
			return fmt.Errorf("X %v and W %v: ranks must match and be ≥ 3", x.Shape, wt.Shape)
		}
		nb, ch := x.Shape[0], x.Shape[1]
		m, cg := wt.Shape[0], wt.Shape[1]
		g := attrs.group
		if cg*g != ch || m%g != 0 {
			return fmt.Errorf("X %v, W %v and group %d disagree", x.Shape, wt.Shape, g)
		}
		if bias != nil && (bias.DType != graph.Float32 || bias.Len() != m) {
			return fmt.Errorf("B %v must hold %d floats", bias.Shape, m)
		}
		win, err := newWindow(attrs, x.Shape[2:], wt.Shape[2:], false)
		if err != nil {
			return err
		}
		if attrs.kernel != nil {
			ks := make([]int, len(attrs.kernel))
			for i, v := range attrs.kernel {
				ks[i] = int(v)
			}
			if !sameShape(ks, wt.Shape[2:]) {
				return fmt.Errorf("kernel_shape %v disagrees with W %v", attrs.kernel, wt.Shape)
			}
		}
		c.alloc(out[0], graph.Float32, win.outShape(nb, m)...)
		var b []float32
		if bias != nil {
			b = bias.F32
		}
		pk, _ := c.backend.(packedGEMM)
		if useWinograd(win, nb, g, cg, m/g, pk) {
			var u [][]float32
			if c.isConstant(1) {
				if cache.from != &wt.F32[0] || cache.backend != c.backend || cache.winograd == nil {
					cache.from, cache.backend, cache.groups = &wt.F32[0], c.backend, nil
					cache.winograd = winogradWeights(wt.F32, m, ch, packsPanels(pk), func(n int) []float32 { return make([]float32, n) })
				}
				u = cache.winograd
			}
			convWinograd(c, win, nb, ch, m, x.F32, wt.F32, b, out[0].F32, act, u)
			return nil
		}
		var packedW [][]float32
		if pk != nil && pk.packedPanelWidth() > 0 && c.isConstant(1) {
			// Constant weights: pack each group's once per session.
			if cache.from != &wt.F32[0] || cache.backend != c.backend || cache.groups == nil {
				cache.from, cache.backend, cache.groups, cache.winograd = &wt.F32[0], c.backend, nil, nil
				kk := cg * shapeSize(wt.Shape[2:])
				mg := m / g
				for gi := 0; gi < g; gi++ {
					cache.groups = append(cache.groups, pk.packA(mg, kk, wt.F32[gi*mg*kk:], kk))
				}
			}
			packedW = cache.groups
		}
		conv2D(c, win, g, nb, ch, m, x.F32, wt.F32, b, out[0].F32, act, packedW)
		return nil
	}, nil
}

// packedWeights caches a constant weight tensor packed for the backend.
type packedWeights struct {
	from    *float32
	backend Backend
	groups  [][]float32
	// winograd holds the transformed weights of the Winograd path instead.
	winograd [][]float32
}

// convChunkBytes bounds the im2col buffer of one GEMM so it stays in the
// last-level cache: the output positions are processed in chunks, across
// image boundaries when images are small, so small images still make wide
// GEMMs. Smaller chunks (L2-sized) measured slower: the BLAS repacks the
// weights for every call.
const convChunkBytes = 4 << 20

// packedChunkBytes is the same bound for backends that take im2col in their
// panel layout and keep constant weights packed: nothing is repacked per
// chunk, so chunks can be small enough for the panels to stay in L2.
const packedChunkBytes = 512 << 10

// conv2D computes a grouped 2-D convolution in NCHW, then bias and act.
// packedW, when not nil, holds each group's weights packed by the backend.
func conv2D(c *execContext, w window, group, nb, ch, m int, x, wt, bias, y []float32, act activation, packedW [][]float32) {
	cg, mg := ch/group, m/group
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	kk := cg * w.kH * w.kW
	if cg == 1 && mg == 1 {
		depthwise(c, w, nb*ch, x, wt, bias, y, act)
		return
	}
	biasOf := func(o int) float32 {
		if bias == nil {
			return 0
		}
		return bias[o]
	}
	pointwise := w.kH == 1 && w.kW == 1 && w.sH == 1 && w.sW == 1 && w.padT == 0 && w.padL == 0 && w.padB == 0 && w.padR == 0
	packed, _ := c.backend.(packedGEMM)
	if packed != nil && packed.packedPanelWidth() == 0 {
		packed = nil
	}
	if useShiftedConv(w, nb, mg, packed) {
		convShifted(c, w, group, nb, ch, m, x, wt, bias, y, act, packedW)
		return
	}
	if pointwise && outHW >= 256 && packed == nil {
		// The input planes already are the GEMM's right-hand matrix.
		for n := 0; n < nb; n++ {
			for g := 0; g < group; g++ {
				yg := y[(n*m+g*mg)*outHW : (n*m+(g+1)*mg)*outHW]
				c.backend.Sgemm(false, false, mg, outHW, kk, 1, wt[g*mg*kk:], kk, x[(n*ch+g*cg)*inHW:], inHW, 0, yg, outHW)
				for o := 0; o < mg; o++ {
					act.apply(yg[o*outHW:(o+1)*outHW], biasOf(g*mg+o))
				}
			}
		}
		return
	}
	if packed == nil && useShiftedRows(w, mg) {
		convShiftedRows(c, w, group, nb, ch, m, x, wt, bias, y, act)
		return
	}
	total := nb * outHW
	budget := convChunkBytes
	if packed != nil {
		budget = packedChunkBytes
	}
	chunk := max(64, budget/4/kk) * max(1, c.threads)
	chunk = min(total, (chunk+31)/32*32)
	width := 0
	if packed != nil {
		width = packed.packedPanelWidth()
	}
	colLen := kk * chunk
	if width > 0 {
		colLen = kk * ((chunk + width - 1) / width) * width
	}
	col := c.tempF32(colLen)
	tmp := c.tempF32(mg * chunk)
	// gemm multiplies the group's weights by the chunk's columns into dst.
	gemm := func(g, cols int, dst []float32, ldd int) {
		if width > 0 {
			var ap []float32
			if packedW != nil {
				ap = packedW[g]
			}
			packed.sgemmPacked(mg, cols, kk, wt[g*mg*kk:], kk, ap, col, dst, ldd)
			return
		}
		c.backend.Sgemm(false, false, mg, cols, kk, 1, wt[g*mg*kk:], kk, col, cols, 0, dst, ldd)
	}
	for g := 0; g < group; g++ {
		for q0 := 0; q0 < total; q0 += chunk {
			cols := min(chunk, total-q0)
			if width > 0 {
				im2colPanels(c, w, x, ch, g*cg, cg, q0, cols, width, col)
			} else {
				im2colRange(c, w, x, ch, g*cg, cg, q0, cols, col[:kk*cols])
			}
			if n, p := q0/outHW, q0%outHW; p+cols <= outHW {
				// The chunk lies in one image: multiply straight into it.
				yg := y[(n*m+g*mg)*outHW+p:]
				gemm(g, cols, yg, outHW)
				for o := 0; o < mg; o++ {
					act.apply(yg[o*outHW:][:cols], biasOf(g*mg+o))
				}
				continue
			}
			gemm(g, cols, tmp, cols)
			// Scatter the [mg, cols] block to NCHW, one image run at a time.
			for q := q0; q < q0+cols; {
				n, p := q/outHW, q%outHW
				run := min(outHW-p, q0+cols-q)
				for o := 0; o < mg; o++ {
					dst := y[(n*m+g*mg+o)*outHW+p:][:run]
					act.biasActivate(dst, tmp[o*cols+q-q0:][:run], biasOf(g*mg+o))
				}
				q += run
			}
		}
	}
}

// im2colRange fills col[K, cols] for the flattened output positions
// q0…q0+cols-1 (positions run over images, then rows, then columns) of
// input channels c0…c0+cg-1: row (ci, ki, kj) holds, for each position, the
// input under that kernel tap, or zero in the padding.
func im2colRange(c *execContext, w window, x []float32, ch, c0, cg, q0, cols int, col []float32) {
	c.parallel(cg*w.kH*w.kW, func(lo, hi int) {
		for r := lo; r < hi; r++ {
			im2colRow(w, x, ch, c0, q0, r, col[r*cols:(r+1)*cols])
		}
	})
}

// im2colPanels is im2colRange writing the panel layout of packedGEMM: for
// each block of width columns, the K rows of that block, zero-padded.
func im2colPanels(c *execContext, w window, x []float32, ch, c0, cg, q0, cols, width int, panels []float32) {
	kk := cg * w.kH * w.kW
	npan := (cols + width - 1) / width
	rows := c.tempF32(max(1, c.threads) * npan * width)
	c.parallelWorkers(kk, func(worker, lo, hi int) {
		row := rows[worker*npan*width : (worker+1)*npan*width]
		for r := lo; r < hi; r++ {
			im2colRow(w, x, ch, c0, q0, r, row[:cols])
			for jp := 0; jp < npan; jp++ {
				copy(panels[(jp*kk+r)*width:][:width], row[jp*width:])
			}
		}
	})
}

// im2colRow fills one im2col row r = (ci, ki, kj) for len(dst) positions
// from q0.
func im2colRow(w window, x []float32, ch, c0, q0, r int, dst []float32) {
	outHW, inHW := w.outH*w.outW, w.inH*w.inW
	taps := w.kH * w.kW
	ci, tap := r/taps, r%taps
	ki, kj := tap/w.kW, tap%w.kW
	cols := len(dst)
	iw0 := kj*w.dW - w.padL
	// Output columns whose input column lies inside the row.
	first := 0
	if iw0 < 0 {
		first = min(w.outW, (-iw0+w.sW-1)/w.sW)
	}
	last := 0
	if lim := w.inW - iw0; lim > 0 {
		last = min(w.outW, (lim+w.sW-1)/w.sW)
	}
	last = max(last, first)
	n, p := q0/outHW, q0%outHW
	oh, ow := p/w.outW, p%w.outW
	for q := q0; q < q0+cols; {
		run := min(w.outW-ow, q0+cols-q)
		out := dst[q-q0 : q-q0+run]
		ih := oh*w.sH - w.padT + ki*w.dH
		// out[j] is output column ow+j; [a, b) of them read the input.
		a, b := max(first, ow), min(last, ow+run)
		if ih < 0 || ih >= w.inH || a >= b {
			clear(out)
		} else {
			if a > ow {
				clear(out[:a-ow])
			}
			if b < ow+run {
				clear(out[b-ow:])
			}
			src := x[(n*ch+c0+ci)*inHW+ih*w.inW:][:w.inW]
			seg := out[a-ow : b-ow]
			if w.sW == 1 {
				copy(seg, src[iw0+a:iw0+b])
			} else {
				for j := range seg {
					seg[j] = src[iw0+(a+j)*w.sW]
				}
			}
		}
		q += run
		ow = 0
		if oh++; oh == w.outH {
			oh, n = 0, n+1
		}
	}
}

// depthwise convolves each of planes channels with its own kernel. Each
// output row accumulates one kernel tap at a time over its whole width (an
// axpy, vectorised where AVX-512 is available).
func depthwise(c *execContext, w window, planes int, x, wt, bias, y []float32, act activation) {
	inHW, outHW, taps := w.inH*w.inW, w.outH*w.outW, w.kH*w.kW
	ch := len(wt) / taps
	rowLo, rowHi, _ := tapRanges(w.outH, w.sH, w.padT, w.padB, w.kH, w.dH, w.inH)
	// For kernel column kj, the output columns [first, last) read the input.
	first, last := make([]int, w.kW), make([]int, w.kW)
	for kj := range first {
		iw0 := kj*w.dW - w.padL
		if iw0 < 0 {
			first[kj] = min(w.outW, (-iw0+w.sW-1)/w.sW)
		}
		if lim := w.inW - iw0; lim > 0 {
			last[kj] = min(w.outW, (lim+w.sW-1)/w.sW)
		}
		last[kj] = max(last[kj], first[kj])
	}
	c.parallel(planes, func(lo, hi int) {
		for p := lo; p < hi; p++ {
			ci := p % ch
			k := wt[ci*taps : (ci+1)*taps]
			src := x[p*inHW : (p+1)*inHW]
			dst := y[p*outHW : (p+1)*outHW]
			var b float32
			if bias != nil {
				b = bias[ci]
			}
			for oh := 0; oh < w.outH; oh++ {
				out := dst[oh*w.outW : (oh+1)*w.outW]
				for i := range out {
					out[i] = b
				}
				for ki := rowLo[oh]; ki < rowHi[oh]; ki++ {
					ih := oh*w.sH - w.padT + ki*w.dH
					row := src[ih*w.inW : (ih+1)*w.inW]
					for kj := 0; kj < w.kW; kj++ {
						f, l := first[kj], last[kj]
						iw0 := kj*w.dW - w.padL
						kv := k[ki*w.kW+kj]
						if w.sW == 1 {
							axpy(out[f:l], row[iw0+f:], kv)
							continue
						}
						for ow := f; ow < l; ow++ {
							out[ow] += kv * row[iw0+ow*w.sW]
						}
					}
				}
			}
			act.apply(dst, 0)
		}
	})
}
