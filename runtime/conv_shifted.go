package runtime

// Convolution without im2col. Copy the input into a zero-padded buffer and
// number the output positions by that buffer's row length wp (q = oh·wp +
// ow, the columns past outW of each row being discarded). With stride 1,
// kernel tap (ci, ki, kj) reads, for output positions q…q+31, the 32
// contiguous floats at ci·planeP + ki·dH·wp + kj·dW + q of the buffer: the
// GEMM's right-hand matrix exists already, each row a shifted view of the
// input, and the micro-kernel reads it in place through a table of row
// offsets. This saves writing and re-reading the K-times-larger im2col
// matrix, which cost as much as the multiplications on ResNet's 3×3
// convolutions.
//
// Stride s becomes stride 1 on the s×s phases of the padded input (phase
// (a, b) holds rows a, a+s, … and columns b, b+s, …): tap row ki·dH = u·s + a
// reads phase row oh+u, so every tap again reads a contiguous run, of the
// phase its offsets select. Only the phases some tap reads are built.

// shiftedPenalty is how many rows of a GEMM writing one im2col element costs:
// im2col wins only when the discarded columns of the shifted layout waste
// more than that (small images with wide kernels, e.g. LeNet's second conv).
const shiftedPenalty = 24

// shiftedGeometry is the phase layout of the shifted convolution.
type shiftedGeometry struct {
	hp, wp   int   // one phase plane
	slot     []int // phase a·sW+b → its index among the built phases, or -1
	phases   int
	maxShift int // largest column shift of a tap within its phase
}

func newShiftedGeometry(w window) shiftedGeometry {
	g := shiftedGeometry{
		hp:   ceilDiv(w.inH+w.padT+w.padB, w.sH),
		wp:   ceilDiv(w.inW+w.padL+w.padR, w.sW),
		slot: make([]int, w.sH*w.sW),
	}
	used := make([]bool, w.sH*w.sW)
	for ki := 0; ki < w.kH; ki++ {
		for kj := 0; kj < w.kW; kj++ {
			used[(ki*w.dH%w.sH)*w.sW+kj*w.dW%w.sW] = true
			g.maxShift = max(g.maxShift, kj*w.dW/w.sW)
		}
	}
	for i, u := range used {
		g.slot[i] = -1
		if u {
			g.slot[i] = g.phases
			g.phases++
		}
	}
	return g
}

// tapOffset is where im2col row r = (ci, ki, kj) starts in the phase
// planes, phase plane (slot, ci) starting at (slot·cg + ci)·planeStride.
func (g shiftedGeometry) tapOffset(w window, r, cg, planeStride int) int {
	ci, tap := r/(w.kH*w.kW), r%(w.kH*w.kW)
	rowShift, colShift := tap/w.kW*w.dH, tap%w.kW*w.dW
	slot := g.slot[(rowShift%w.sH)*w.sW+colShift%w.sW]
	return (slot*cg+ci)*planeStride + rowShift/w.sH*g.wp + colShift/w.sW
}

// useShiftedConv reports whether the shifted layout beats im2col for this
// window: the backend's micro-kernel available, and fewer multiply-adds
// wasted than im2col's copy costs.
func useShiftedConv(w window, nb, mg int, packed packedGEMM) bool {
	if packed == nil || packed.packedPanelWidth() != kernelCols {
		return false
	}
	wp := ceilDiv(w.inW+w.padL+w.padR, w.sW)
	shifted := nb * ceilDiv(w.outH*wp, kernelCols)
	im2col := ceilDiv(nb*w.outH*w.outW, kernelCols)
	rows := ceilDiv(mg, kernelRows) * kernelRows
	return shifted*rows <= im2col*(rows+shiftedPenalty)
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// convShifted is conv2D for windows useShiftedConv accepts.
func convShifted(c *execContext, w window, group, nb, ch, m int, x, wt, bias, y []float32, act activation, packedW [][]float32) {
	cg, mg := ch/group, m/group
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	kk := cg * w.kH * w.kW
	geo := newShiftedGeometry(w)
	hp, wp := geo.hp, geo.wp
	planeP := hp * wp
	panelsN := ceilDiv(w.outH*wp, kernelCols)
	panelsM := ceilDiv(mg, kernelRows)
	ldc := panelsN * kernelCols
	// The last panel runs past the last output position by up to 31
	// columns, and a row's last taps past the row by maxShift.
	xpad := c.tempF32(geo.phases*cg*planeP + kernelCols + geo.maxShift)
	tmp := c.tempF32(panelsM * kernelRows * ldc)
	offs := c.tempI64(kk)
	last := 0
	for r := range offs {
		off := geo.tapOffset(w, r, cg, planeP)
		offs[r], last = int64(4*off), max(last, off)
	}
	// The micro-kernel reads rows unchecked: check the farthest one here.
	_ = xpad[last+panelsN*kernelCols-1]
	clear(xpad)
	aps := make([][]float32, group)
	for g := range aps {
		if packedW != nil {
			aps[g] = packedW[g]
		} else {
			aps[g] = packWeightsInto(c.tempF32(packedWeightsLen(mg, kk)), wt[g*mg*kk:], mg, kk, kk)
		}
	}
	// One closure for every image, group and K block (set before each call).
	var pc, kc int
	var apBlock []float32
	panels := func(lo, hi int) {
		for jp := lo; jp < hi; jp++ {
			for ip := 0; ip < panelsM; ip++ {
				shiftedKernel(kc, min(kernelRows, mg-ip*kernelRows), apBlock[ip*kc*kernelRows:], xpad[jp*kernelCols:], offs[pc:pc+kc],
					tmp[ip*kernelRows*ldc+jp*kernelCols:], ldc, pc > 0)
			}
		}
	}
	for n := 0; n < nb; n++ {
		for g := 0; g < group; g++ {
			fillPhases(w, geo, x[(n*ch+g*cg)*inHW:][:cg*inHW], cg, xpad, planeP)
			for pc = 0; pc < kk; pc += blockK {
				kc = min(blockK, kk-pc)
				apBlock = aps[g][pc*panelsM*kernelRows:]
				c.parallel(panelsN, panels)
			}
			for o := 0; o < mg; o++ {
				var b float32
				if bias != nil {
					b = bias[g*mg+o]
				}
				act.biasActivateRows(y[(n*m+g*mg+o)*outHW:], w.outW, tmp[o*ldc:], wp, w.outH, w.outW, b)
			}
		}
	}
}

// copyRowsGo is copyRows without the vector unit.
func copyRowsGo(dst []float32, dstStride int, src []float32, srcStride int, rows, n int) {
	for r := 0; r < rows; r++ {
		copy(dst[r*dstStride:][:n], src[r*srcStride:][:n])
	}
}

// fillPhases copies cg input planes into their phases (see
// newShiftedGeometry), phase plane (slot, ci) at (slot·cg + ci)·planeStride
// of xpad; padding positions are left as they are (zero).
func fillPhases(w window, geo shiftedGeometry, src []float32, cg int, xpad []float32, planeStride int) {
	inHW := w.inH * w.inW
	if w.sH == 1 && w.sW == 1 {
		// One phase: plain row copies (most calls; rows are short, so one
		// call per plane rather than a memmove per row).
		for ci := 0; ci < cg; ci++ {
			copyRows(xpad[ci*planeStride+w.padT*geo.wp+w.padL:], geo.wp, src[ci*inHW:], w.inW, w.inH, w.inW)
		}
		return
	}
	for ci := 0; ci < cg; ci++ {
		for ih := 0; ih < w.inH; ih++ {
			row := src[ci*inHW+ih*w.inW:][:w.inW]
			ph := ih + w.padT
			for b := 0; b < w.sW; b++ {
				slot := geo.slot[(ph%w.sH)*w.sW+b]
				if slot < 0 {
					continue
				}
				dst := xpad[(slot*cg+ci)*planeStride+ph/w.sH*geo.wp:][:geo.wp]
				if w.sW == 1 {
					copy(dst[w.padL:], row)
					continue
				}
				// Input columns iw with (iw + padL) % sW == b.
				first := ((b-w.padL)%w.sW + w.sW) % w.sW
				for iw, j := first, (first+w.padL)/w.sW; iw < w.inW; iw, j = iw+w.sW, j+1 {
					dst[j] = row[iw]
				}
			}
		}
	}
}

// useShiftedRows reports whether a backend without the micro-kernel should
// build its GEMM's right-hand matrix from whole shifted rows (one copy per
// kernel tap and chunk of images, over every position of the padded phase
// planes) instead of im2col's one copy per output row: the discarded
// positions cost GEMM columns, so the planes must not be much larger than
// the output by more than im2col's copy costs (as in useShiftedConv).
func useShiftedRows(w window, mg int) bool {
	geo := newShiftedGeometry(w)
	return geo.hp*geo.wp*mg <= w.outH*w.outW*(mg+shiftedPenalty)
}

// convShiftedRows is conv2D on a backend's Sgemm with the right-hand matrix
// copied from shifted rows (see useShiftedRows). Images are laid out one
// after the other inside each phase plane, so one copy per tap covers a
// whole chunk of images.
func convShiftedRows(c *execContext, w window, group, nb, ch, m int, x, wt, bias, y []float32, act activation) {
	cg, mg := ch/group, m/group
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	kk := cg * w.kH * w.kW
	geo := newShiftedGeometry(w)
	planeP := geo.hp * geo.wp
	images := max(1, min(nb, convChunkBytes/4/(kk*planeP)))
	cols := images * planeP
	// A tap's rows run past the last plane by its shift, at most one plane.
	xpad := c.tempF32((geo.phases*cg + 1) * cols)
	col := c.tempF32(kk * cols)
	tmp := c.tempF32(mg * cols)
	offs := make([]int, kk)
	for r := range offs {
		offs[r] = geo.tapOffset(w, r, cg, cols)
	}
	clear(xpad)
	for n0 := 0; n0 < nb; n0 += images {
		chunk := min(images, nb-n0)
		for g := 0; g < group; g++ {
			for i := 0; i < chunk; i++ {
				fillPhases(w, geo, x[((n0+i)*ch+g*cg)*inHW:][:cg*inHW], cg, xpad[i*planeP:], cols)
			}
			c.parallel(kk, func(lo, hi int) {
				for r := lo; r < hi; r++ {
					copy(col[r*cols:][:chunk*planeP], xpad[offs[r]:])
				}
			})
			n := chunk * planeP
			c.backend.Sgemm(false, false, mg, n, kk, 1, wt[g*mg*kk:], kk, col, cols, 0, tmp, cols)
			for i := 0; i < chunk; i++ {
				for o := 0; o < mg; o++ {
					var b float32
					if bias != nil {
						b = bias[g*mg+o]
					}
					act.biasActivateRows(y[((n0+i)*m+g*mg+o)*outHW:], w.outW, tmp[o*cols+i*planeP:], geo.wp, w.outH, w.outW, b)
				}
			}
		}
	}
}
