package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Conv backward on the GEMM, per group and chunk of images: dW += dY·colᵀ
// (on the Go kernel read in place from a copy of the input, no im2col; on
// other backends by Winograd where the forward would take it,
// conv_winograd_grad.go), dB = ΣdY, and dX either as the stride-1 convolution of dY by the flipped,
// transposed weights (the forward's kernels, Winograd included, no scatter) or, for other
// strides, dcol = Wᵀ·dY scattered back to dX (col2im). Depthwise
// convolutions take the same path with one-row GEMMs.

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
		wantW, wantX := dx[1] != nil, dx[0] != nil
		channelMinor := wantW && useChannelMinorWeightGrad(c, win, cg)
		winogradW := wantW && !channelMinor && useWinogradWeightGrad(c, win, nb, g, cg, mg)
		var db []float32
		if len(dx) > 2 && dx[2] != nil {
			c.allocZero(dx[2], graph.Float32, in[2].Shape...)
			db = dx[2].F32
			// The in-place weight gradients sum it on their way.
			if !channelMinor && !winogradW {
				for b := 0; b < nb; b++ {
					for o := 0; o < m; o++ {
						db[o] += sumF32(d[(b*m+o)*outHW:][:outHW])
					}
				}
			}
		}
		if wantW {
			c.allocZero(dx[1], graph.Float32, wt.Shape...)
			switch {
			case channelMinor:
				channelMinorWeightGrad(c, win, g, nb, ch, m, x.F32, d, dx[1].F32, db)
				wantW = false
			case useShiftedWeightGrad(c, win):
				shiftedWeightGrad(c, win, g, nb, ch, m, x.F32, d, dx[1].F32)
				wantW = false
			case winogradW:
				winogradWeightGrad(c, win, nb, ch, m, x.F32, d, dx[1].F32, db)
				wantW = false
			}
		}
		if wantX {
			if tw, ok := inputGradWindow(win); ok {
				// Stride 1: dX is a convolution of dY, on the forward's kernels.
				c.alloc(dx[0], graph.Float32, x.Shape...)
				flipped := flipTransposed(c, wt.F32, g, mg, cg, win.kH*win.kW)
				if pk, _ := c.backend.(packedGEMM); useWinograd(tw, nb, g, mg, cg, pk) {
					convWinograd(c, tw, nb, m, ch, d, flipped, nil, dx[0].F32, activation{}, nil)
				} else {
					conv2D(c, tw, g, nb, m, ch, d, flipped, nil, dx[0].F32, activation{}, nil)
				}
				wantX = false
			} else {
				c.allocZero(dx[0], graph.Float32, x.Shape...)
			}
		}
		if !wantW && !wantX {
			return nil
		}
		// Images go through the GEMMs in chunks whose im2col fits the
		// cache budget of the forward, so small images still make wide GEMMs.
		// (Per-tap GEMMs on the channel-minor input, without im2col, measured
		// slower on OpenBLAS: their N is only the channels per group.)
		per := max(1, convChunkBytes/4/(kk*outHW))
		per = min(per, nb)
		col := c.tempF32(kk * per * outHW)
		dyc := c.tempF32(mg * per * outHW)
		for b0 := 0; b0 < nb; b0 += per {
			imgs := min(per, nb-b0)
			cols := imgs * outHW
			for gi := 0; gi < g; gi++ {
				// The chunk's output gradient as one [mg, images·outHW] matrix.
				for i := 0; i < imgs; i++ {
					for o := 0; o < mg; o++ {
						copy(dyc[o*cols+i*outHW:][:outHW], d[((b0+i)*m+gi*mg+o)*outHW:][:outHW])
					}
				}
				if wantW {
					im2colRange(c, win, x.F32, ch, gi*cg, cg, b0*outHW, cols, col[:kk*cols])
					c.backend.Sgemm(false, true, mg, kk, cols, 1, dyc, cols, col, cols, 1, dx[1].F32[gi*mg*kk:], kk)
				}
				if wantX {
					c.backend.Sgemm(true, false, kk, cols, mg, 1, wt.F32[gi*mg*kk:], kk, dyc, cols, 0, col, cols)
					for i := 0; i < imgs; i++ {
						col2imStrided(win, cg, col[i*outHW:], cols, dx[0].F32[((b0+i)*ch+gi*cg)*inHW:((b0+i)*ch+(gi+1)*cg)*inHW])
					}
				}
			}
		}
		return nil
	}}, nil
}

// useShiftedWeightGrad: stride 1 on a backend whose micro-kernel this file
// can feed directly (the Go kernel's 32-column panels).
func useShiftedWeightGrad(c *execContext, w window) bool {
	pk, ok := c.backend.(packedGEMM)
	return ok && pk.packedPanelWidth() == kernelCols && w.sH == 1 && w.sW == 1
}

// shiftedWeightGrad adds dW += dY·colᵀ for a stride-1 convolution without
// an im2col matrix, in the layout of convShifted: per image, the input is
// copied into zero-padded rows wp wide and the output positions are
// numbered q = oh·wp + ow, so im2col row r is the padded input read from
// offset offs[r], and dW[o, r] = Σ_q dY[o, q]·xpad[offs[r] + q] (dY zero in
// the wp − outW discarded columns): a dot product of two contiguous rows,
// taken 4 output channels × 4 taps at a time. For the few input channels
// this path is left with (the channel-minor one takes groups of 16), a GEMM
// would have to gather its panels across taps, which cost more than the
// multiplications (LeNet).
func shiftedWeightGrad(c *execContext, w window, g, nb, ch, m int, x, dy, dw []float32) {
	cg, mg := ch/g, m/g
	taps := w.kH * w.kW
	kk := cg * taps
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	hp, wp := w.inH+w.padT+w.padB, w.inW+w.padL+w.padR
	planeP := hp * wp
	nq := ceilDiv(w.outH*wp, 16) * 16
	offs := make([]int, kk)
	reach := 0
	for r := range offs {
		ci, tap := r/taps, r%taps
		offs[r] = ci*planeP + (tap/w.kW)*w.dH*wp + (tap%w.kW)*w.dW
		reach = max(reach, offs[r])
	}
	xpad := c.tempF32(max(cg*planeP, reach+nq))
	rowsPad := ceilDiv(mg, 4) * 4
	dyp := c.tempF32(rowsPad * nq)
	blocks := ceilDiv(kk, 4)
	// Vectors of partial sums per 4×4 block, summed up once at the end.
	partials := c.tempF32(rowsPad / 4 * blocks * 256)
	clear(xpad)
	clear(dyp)
	for gi := 0; gi < g; gi++ {
		clear(partials)
		for n := 0; n < nb; n++ {
			for ci := 0; ci < cg; ci++ {
				src := x[(n*ch+gi*cg+ci)*inHW:][:inHW]
				for ih := 0; ih < w.inH; ih++ {
					copy(xpad[ci*planeP+(ih+w.padT)*wp+w.padL:][:w.inW], src[ih*w.inW:][:w.inW])
				}
			}
			for o := 0; o < mg; o++ {
				src := dy[(n*m+gi*mg+o)*outHW:][:outHW]
				for oh := 0; oh < w.outH; oh++ {
					copy(dyp[o*nq+oh*wp:][:w.outW], src[oh*w.outW:][:w.outW])
				}
			}
			c.parallel(blocks, func(lo, hi int) {
				for blk := lo; blk < hi; blk++ {
					var b [4][]float32
					for j := range b {
						b[j] = xpad[offs[min(4*blk+j, kk-1)]:][:nq]
					}
					for o0 := 0; o0 < mg; o0 += 4 {
						dotPartials(nq, dyp[o0*nq:], nq, b, partials[(o0/4*blocks+blk)*256:][:256])
					}
				}
			})
		}
		dwg := dw[gi*mg*kk:][:mg*kk]
		for o := 0; o < mg; o++ {
			for r := 0; r < kk; r++ {
				dwg[o*kk+r] += sumF32(partials[((o/4*blocks+r/4)*16+o%4*4+r%4)*16:][:16])
			}
		}
	}
}

// dotPartialsGo is dotPartials without the vector unit.
func dotPartialsGo(n int, a []float32, lda int, b [4][]float32, partial []float32) {
	for i := 0; i < 4; i++ {
		row := a[i*lda:][:n]
		for j := range b {
			bj := b[j][:n]
			acc := partial[(4*i+j)*16:][:16]
			for q, v := range row {
				acc[q%16] += v * bj[q]
			}
		}
	}
}

// useChannelMinorWeightGrad: the Go kernel's backend, and whole 16-channel
// halves of a B row in each group (so each half lies in one kernel tap).
func useChannelMinorWeightGrad(c *execContext, w window, cg int) bool {
	pk, ok := c.backend.(packedGEMM)
	return ok && pk.packedPanelWidth() == kernelCols && cg%16 == 0
}

// channelMinorWeightGrad adds dW += dY·colᵀ for any stride without an
// im2col matrix and without gathering B across rows: per image, the input
// is copied channel-minor (each position's cg channels contiguous) into the
// zero-padded phase planes of convShifted, output positions numbered q =
// oh·wp + ow. Kernel tap t reads at position q the cg channels at
// (off[t] + q)·cg, so with B's columns ordered (tap, channel), each half of
// a B row is 16 contiguous channels of one tap and consecutive rows are cg
// apart: the strided micro-kernel reads B in place. dY, zero in the
// discarded columns, is the packed A. The (o, tap, ci) result is permuted
// into W's (o, ci, tap) order at the end. db, when not nil, gets ΣdY
// added. The transposing gather of
// shiftedWeightGrad wrote nine floats per input value; this copies one.
func channelMinorWeightGrad(c *execContext, w window, g, nb, ch, m int, x, dy, dw, db []float32) {
	cg, mg := ch/g, m/g
	taps := w.kH * w.kW
	kk := cg * taps
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	geo := newShiftedGeometry(w)
	wp, planeP := geo.wp, geo.hp*geo.wp
	nq := w.outH * wp
	off := make([]int, taps)
	positions := geo.phases * planeP
	for t := range off {
		off[t] = geo.tapOffset(w, t, 1, planeP)
		positions = max(positions, off[t]+nq)
	}
	xt := c.tempF32(positions * cg)
	dyp := c.tempF32(mg * nq)
	panelsM, panelsN := ceilDiv(mg, kernelRows), ceilDiv(kk, kernelCols)
	ldt := panelsN * kernelCols
	// Whole tiles only: rows past mg and columns past kk are never read.
	acc := c.tempF32(panelsM * kernelRows * ldt)
	ap := c.tempF32(panelsM * kernelRows * blockK)
	clear(xt)
	clear(dyp)
	// One closure for every image and K block (pc, kc set before each call).
	var pc, kc int
	panels := func(lo, hi int) {
		for jp := lo; jp < hi; jp++ {
			var half [2][]float32
			for h := range half {
				col := jp*kernelCols + 16*h
				if col >= kk {
					col -= 16 // a duplicate feeding discarded columns
				}
				start := (off[col/cg]+pc)*cg + col%cg
				half[h] = xt[start : start+(kc-1)*cg+16]
			}
			for ip := 0; ip < panelsM; ip++ {
				stridedKernel(kc, min(kernelRows, mg-ip*kernelRows), ap[ip*kc*kernelRows:], half[0], half[1], cg,
					acc[ip*kernelRows*ldt+jp*kernelCols:], ldt, true)
			}
		}
	}
	for gi := 0; gi < g; gi++ {
		clear(acc)
		for n := 0; n < nb; n++ {
			fillChannelMinor(w, geo, x[(n*ch+gi*cg)*inHW:][:cg*inHW], cg, xt)
			for o := 0; o < mg; o++ {
				src := dy[(n*m+gi*mg+o)*outHW:][:outHW]
				for oh := 0; oh < w.outH; oh++ {
					copy(dyp[o*nq+oh*wp:][:w.outW], src[oh*w.outW:][:w.outW])
				}
				if db != nil {
					// The bias gradient while dY is in cache.
					db[gi*mg+o] += sumF32(src)
				}
			}
			for pc = 0; pc < nq; pc += blockK {
				kc = min(blockK, nq-pc)
				packTransposed(ap, dyp, nq, mg, pc, kc)
				c.parallel(panelsN, panels)
			}
		}
		dwg := dw[gi*mg*kk:][:mg*kk]
		for o := 0; o < mg; o++ {
			for t := 0; t < taps; t++ {
				for ci, v := range acc[o*ldt+t*cg:][:cg] {
					dwg[o*kk+ci*taps+t] += v
				}
			}
		}
	}
}

// packTransposed is packA(dst, a, lda, false, 1, 0, m, pc, kc) by 16×16
// transposes.
func packTransposed(dst, a []float32, lda, m, pc, kc int) {
	for ip := 0; ip*kernelRows < m; ip++ {
		panel := dst[ip*kc*kernelRows:][:kc*kernelRows]
		rows := min(kernelRows, m-ip*kernelRows)
		for p := 0; p < kc; p += 16 {
			transpose16(panel[p*kernelRows:], kernelRows, a[ip*kernelRows*lda+pc+p:], lda, rows, kernelRows, min(16, kc-p))
		}
	}
}

// fillChannelMinor copies cg input planes into the channel-minor phase
// planes of channelMinorWeightGrad: the value at padded position (ph, pw)
// goes to ((slot·hp + ph/sH)·wp + pw/sW)·cg + ci. Padding stays as it is
// (zero).
func fillChannelMinor(w window, geo shiftedGeometry, src []float32, cg int, xt []float32) {
	inHW := w.inH * w.inW
	planeP := geo.hp * geo.wp
	for ih := 0; ih < w.inH; ih++ {
		ph := ih + w.padT
		if w.sW == 1 {
			// A row is contiguous in its phase: 16×16 transposes.
			slot := geo.slot[ph%w.sH]
			if slot < 0 {
				continue
			}
			row := (slot*planeP + ph/w.sH*geo.wp + w.padL) * cg
			for c0 := 0; c0 < cg; c0 += 16 {
				for iw := 0; iw < w.inW; iw += 16 {
					rows := min(16, cg-c0)
					transpose16(xt[row+iw*cg+c0:], cg, src[c0*inHW+ih*w.inW+iw:], inHW, rows, rows, min(16, w.inW-iw))
				}
			}
			continue
		}
		for iw := 0; iw < w.inW; iw++ {
			pw := iw + w.padL
			slot := geo.slot[(ph%w.sH)*w.sW+pw%w.sW]
			if slot < 0 {
				continue
			}
			dst := xt[(slot*planeP+ph/w.sH*geo.wp+pw/w.sW)*cg:][:cg]
			for ci := range dst {
				dst[ci] = src[ci*inHW+ih*w.inW+iw]
			}
		}
	}
}

// sumF32 is the sum of v over eight independent partial sums: one chain of
// dependent additions waits the adder's latency on every element.
func sumF32(v []float32) float32 {
	var a [8]float32
	for len(v) >= 8 {
		a[0] += v[0]
		a[1] += v[1]
		a[2] += v[2]
		a[3] += v[3]
		a[4] += v[4]
		a[5] += v[5]
		a[6] += v[6]
		a[7] += v[7]
		v = v[8:]
	}
	for _, x := range v {
		a[0] += x
	}
	return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]))
}

// transpose16Go is transpose16 without the vector unit.
func transpose16Go(dst []float32, ldd int, src []float32, lds, rows, width, n int) {
	for j := 0; j < n; j++ {
		row := dst[j*ldd:][:width]
		for i := range row {
			row[i] = 0
			if i < rows {
				row[i] = src[i*lds+j]
			}
		}
	}
}

// inputGradWindow is the window of dX = conv(dY, flipTransposed(W)) for a
// stride-1 convolution with window w: the kernel reversed and the padding
// complemented to the kernel's extent, so each input pixel gathers the
// output gradients of every window that read it.
func inputGradWindow(w window) (window, bool) {
	eh, ew := (w.kH-1)*w.dH, (w.kW-1)*w.dW
	t := window{inH: w.outH, inW: w.outW, kH: w.kH, kW: w.kW, sH: 1, sW: 1, dH: w.dH, dW: w.dW,
		padT: eh - w.padT, padL: ew - w.padL, padB: eh - w.padB, padR: ew - w.padR,
		outH: w.inH, outW: w.inW, spatialRank: w.spatialRank}
	ok := w.sH == 1 && w.sW == 1 && t.padT >= 0 && t.padL >= 0 && t.padB >= 0 && t.padR >= 0 &&
		t.inH+t.padT+t.padB-eh == t.outH && t.inW+t.padL+t.padR-ew == t.outW
	return t, ok
}

// flipTransposed lays out the weights [g·mg, cg, taps] of a grouped
// convolution as those of its transpose, [g·cg, mg, taps] with the taps
// reversed, in a temporary buffer.
func flipTransposed(c *execContext, wt []float32, g, mg, cg, taps int) []float32 {
	out := c.tempF32(len(wt))
	for gi := 0; gi < g; gi++ {
		for o := 0; o < mg; o++ {
			for ci := 0; ci < cg; ci++ {
				src := wt[((gi*mg+o)*cg+ci)*taps:][:taps]
				dst := out[((gi*cg+ci)*mg+o)*taps:][:taps]
				for k, v := range src {
					dst[taps-1-k] = v
				}
			}
		}
	}
	return out
}

// col2imStrided adds the im2col rows (ci, ki, kj) of one image, each outHW
// long and ld apart in col, back onto the input pixels they were read from.
func col2imStrided(w window, cg int, col []float32, ld int, dst []float32) {
	outHW, inHW, taps := w.outH*w.outW, w.inH*w.inW, w.kH*w.kW
	for r := 0; r < cg*taps; r++ {
		ci, tap := r/taps, r%taps
		ki, kj := tap/w.kW, tap%w.kW
		row := col[r*ld:][:outHW]
		plane := dst[ci*inHW : (ci+1)*inHW]
		iw0 := kj*w.dW - w.padL
		// Output columns [first, last) read input columns inside the row.
		first := 0
		if iw0 < 0 {
			first = min(w.outW, (-iw0+w.sW-1)/w.sW)
		}
		last := 0
		if lim := w.inW - iw0; lim > 0 {
			last = min(w.outW, (lim+w.sW-1)/w.sW)
		}
		if first >= last {
			continue
		}
		for oh := 0; oh < w.outH; oh++ {
			ih := oh*w.sH - w.padT + ki*w.dH
			if ih < 0 || ih >= w.inH {
				continue
			}
			src := row[oh*w.outW+first : oh*w.outW+last]
			line := plane[ih*w.inW:][:w.inW]
			if w.sW == 1 {
				seg := line[iw0+first : iw0+last]
				for j, v := range src {
					seg[j] += v
				}
				continue
			}
			for j, v := range src {
				line[iw0+(first+j)*w.sW] += v
			}
		}
	}
}
