package runtime

// Winograd F(2×2, 3×3) for 3×3 stride-1 convolutions (Lavin & Gray, 2016):
// each 2×2 output tile comes from a 4×4 input tile through 16 products
// instead of 36, so the GEMM work drops 2.25×. Per image:
//
//	V[ξ][ci][t] = (Bᵀ d B)[ξ]    input transform of tile t of channel ci
//	M[ξ]        = U[ξ] · V[ξ]    16 GEMMs, U[ξ] = (G g Gᵀ)[ξ] packed once
//	y tile      = Aᵀ m A         output transform, then bias and activation
//
// The transforms only add and subtract; the extra rounding stays near 1e-6
// relative, far inside the 1e-4 agreement with ONNX Runtime.

// winogradTiles is the number of transformed values per tile.
const winogradTiles = 16

// useWinograd reports whether the Winograd path should run this
// convolution of nb images: a 3×3 stride-1 undilated window, one group, the
// AVX-512 transforms available, and, with the micro-kernel's backend, fewer
// multiply-adds (with the transforms counted) than the shifted direct
// convolution. Other backends run the 16 GEMMs through their Sgemm and
// otherwise would pay for im2col, so the count alone decides less there.
func useWinograd(w window, nb, group, cg, mg int, packed packedGEMM) bool {
	if !hasAVX512 || group != 1 || w.spatialRank != 2 ||
		w.kH != 3 || w.kW != 3 || w.sH != 1 || w.sW != 1 || w.dH != 1 || w.dW != 1 || cg < 16 || mg < 16 {
		return false
	}
	tiles := ceilDiv(w.outH, 2) * ceilDiv(w.outW, 2)
	imgs := winogradImages(tiles, nb)
	if tiles*imgs < kernelCols {
		// A mostly empty column panel: the GEMM streams the 16/9 larger
		// transformed weights for little work (ResNet's 7×7 stage, one
		// image at a time, measured slower than direct).
		return false
	}
	if !packsPanels(packed) {
		return true
	}
	rows := ceilDiv(mg, kernelRows) * kernelRows
	wp := w.inW + w.padL + w.padR
	direct := imgs * ceilDiv(w.outH*wp, kernelCols) * kernelCols * rows * 9 * cg
	cols := ceilDiv(tiles*imgs, kernelCols) * kernelCols
	// Each transformed value costs about as much as winogradTransformCost
	// multiply-adds of the GEMM.
	const winogradTransformCost = 12
	wino := winogradTiles * cols * (rows*cg + winogradTransformCost*(cg+mg))
	return wino < direct
}

// winogradImages is how many of nb images share the GEMMs' columns, each
// with tiles tiles: the count (up to 128 columns' worth) that wastes the
// fewest columns of the last 32-column panel per image, the smallest on a
// tie. Small planes (ResNet's 7×7 stage: 16 tiles) would otherwise leave
// half of every panel empty.
func winogradImages(tiles, nb int) int {
	best := 1
	for k := 2; k <= min(nb, max(1, 128/tiles)); k++ {
		// cols(k)/k < cols(best)/best, in integers.
		if ceilDiv(k*tiles, kernelCols)*best < ceilDiv(best*tiles, kernelCols)*k {
			best = k
		}
	}
	return best
}

// packsPanels reports whether packed is the micro-kernel's backend.
func packsPanels(packed packedGEMM) bool {
	return packed != nil && packed.packedPanelWidth() == kernelCols
}

// winogradWeights transforms W[m][ci][3][3] into the 16 row-major matrices
// U[ξ] (m×ci), each packed for the micro-kernel when pack is set. Memory
// comes from alloc (make, or a kernel's scratch for weights that change
// between runs).
func winogradWeights(wt []float32, m, ch int, pack bool, alloc func(n int) []float32) [][]float32 {
	u := make([][]float32, winogradTiles)
	for xi := range u {
		u[xi] = alloc(m * ch)
	}
	for o := 0; o < m; o++ {
		for ci := 0; ci < ch; ci++ {
			g := wt[(o*ch+ci)*9:][:9]
			// t = G g (4×3), then t Gᵀ (4×4), in float64.
			var t [4][3]float64
			for j := 0; j < 3; j++ {
				g0, g1, g2 := float64(g[j]), float64(g[3+j]), float64(g[6+j])
				t[0][j] = g0
				t[1][j] = (g0 + g1 + g2) / 2
				t[2][j] = (g0 - g1 + g2) / 2
				t[3][j] = g2
			}
			for i := 0; i < 4; i++ {
				r := t[i]
				vals := [4]float64{r[0], (r[0] + r[1] + r[2]) / 2, (r[0] - r[1] + r[2]) / 2, r[2]}
				for j, v := range vals {
					u[4*i+j][o*ch+ci] = float32(v)
				}
			}
		}
	}
	if pack {
		for xi := range u {
			u[xi] = packWeightsInto(alloc(packedWeightsLen(m, ch)), u[xi], m, ch, ch)
		}
	}
	return u
}

// convWinograd is conv2D for windows useWinograd accepts; u holds
// winogradWeights of the weights (packed when the backend packs panels), or
// nil to compute them here. The tiles of winogradImages images at a time
// are the GEMMs' columns, image after image.
func convWinograd(c *execContext, w window, nb, ch, m int, x, wt, bias, y []float32, act activation, u [][]float32) {
	packed, _ := c.backend.(packedGEMM)
	kernel := packsPanels(packed)
	if u == nil {
		u = winogradWeights(wt, m, ch, kernel, c.tempF32)
	}
	inHW, outHW := w.inH*w.inW, w.outH*w.outW
	tH, tW := ceilDiv(w.outH, 2), ceilDiv(w.outW, 2)
	tiles := tH * tW
	imgs := winogradImages(tiles, nb)
	tPad := ceilDiv(imgs*tiles, kernelCols) * kernelCols
	panelsM := ceilDiv(m, kernelRows)
	mPad := panelsM * kernelRows
	// Zero-padded input covering every 4×4 tile, one per image.
	hp, wp := 2*tH+2, 2*tW+2
	planes := ch * hp * wp
	plane := shiftedGeometry{hp: hp, wp: wp, slot: []int{0}, phases: 1}
	xpad := c.tempF32(imgs*planes + 32)
	// The 16 transformed planes lie a little more than ch·tPad apart: at a
	// power-of-two distance (ResNet's 14×14 and 7×7 stages: 8 KiB) the input
	// transform's 16 store streams would share cache sets.
	vStride := ch*tPad + 16
	v := c.tempF32(winogradTiles * vStride)
	prod := c.tempF32(winogradTiles*mPad*tPad + 16)
	offs := c.tempI64(ch)
	for ci := range offs {
		offs[ci] = int64(4 * ci * tPad)
	}
	clear(xpad)
	// One closure per stage for every group of images (n0, count set
	// before each call).
	var n0, count int
	transformInput := func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for i := 0; i < count; i++ {
				winogradInput(xpad[i*planes+ci*hp*wp:], wp, tH, tW, v[ci*tPad+i*tiles:], vStride)
			}
		}
	}
	products := func(lo, hi int) { winogradProducts(u, v, vStride, prod, ch, m, mPad, tPad, offs, lo, hi) }
	transformOutput := func(lo, hi int) {
		for o := lo; o < hi; o++ {
			var b float32
			if bias != nil {
				b = bias[o]
			}
			for i := 0; i < count; i++ {
				winogradOutput(prod[o*tPad+i*tiles:], mPad*tPad, w.outH, w.outW, tW, y[((n0+i)*m+o)*outHW:][:outHW], b, act)
			}
		}
	}
	for n0 = 0; n0 < nb; n0 += imgs {
		if count != min(imgs, nb-n0) {
			count = min(imgs, nb-n0)
			// Columns past the last tile feed only discarded outputs; zero
			// them so no leftover NaN or Inf is ever multiplied.
			for xi := 0; xi < winogradTiles; xi++ {
				for ci := 0; ci < ch; ci++ {
					clear(v[xi*vStride+ci*tPad+count*tiles:][:tPad-count*tiles])
				}
			}
		}
		for i := 0; i < count; i++ {
			fillPhases(w, plane, x[(n0+i)*ch*inHW:][:ch*inHW], ch, xpad[i*planes:], hp*wp)
		}
		c.parallel(ch, transformInput)
		if kernel {
			c.parallel(winogradTiles*(tPad/kernelCols), products)
		} else {
			for xi := 0; xi < winogradTiles; xi++ {
				c.backend.Sgemm(false, false, m, tPad, ch, 1, u[xi], ch, v[xi*vStride:], tPad, 0, prod[xi*mPad*tPad:], tPad)
			}
		}
		c.parallel(m, transformOutput)
	}
}

// winogradProducts computes jobs [lo, hi) of prod[ξ] = U[ξ]·V[ξ] (its
// first m of mPad rows), job ξ·panels + jp being column panel jp of
// product ξ, with the micro-kernel, B rows read in place from v (V[ξ] at
// ξ·vStride) through offs (row ci at offs[ci] bytes).
func winogradProducts(u [][]float32, v []float32, vStride int, prod []float32, ch, m, mPad, tPad int, offs []int64, lo, hi int) {
	panelsN, panelsM := tPad/kernelCols, mPad/kernelRows
	for job := lo; job < hi; job++ {
		xi, jp := job/panelsN, job%panelsN
		ux, vx, px := u[xi], v[xi*vStride:], prod[xi*mPad*tPad:]
		for pc := 0; pc < ch; pc += blockK {
			kc := min(blockK, ch-pc)
			uBlock := ux[pc*mPad:]
			for ip := 0; ip < panelsM; ip++ {
				shiftedKernel(kc, min(kernelRows, m-ip*kernelRows), uBlock[ip*kc*kernelRows:], vx[jp*kernelCols:], offs[pc:pc+kc],
					px[ip*kernelRows*tPad+jp*kernelCols:], tPad, pc > 0)
			}
		}
	}
}

// winogradInput writes Bᵀ d B of every 4×4 tile of one padded plane (row
// length wp, 32 floats of slack after it) to v[ξ·stride + t], 16 tiles at a
// time: with rows r0…r3 of a tile, t_i = (Bᵀ d)_i = (r0-r2, r1+r2, r2-r1,
// r1-r3), then the same combination of each t_i's columns. One call covers
// the plane: per tile row, the call cost as much as the transform on small
// planes.
func winogradInput(plane []float32, wp, tH, tW int, v []float32, stride int) {
	if tH == 0 || tW == 0 {
		return
	}
	_ = plane[2*(tH-1)*wp+2*((tW-1)/16*16)+3*wp+33]
	_ = v[15*stride+tH*tW-1]
	winogradInputAVX512(&plane[0], wp, &v[0], stride, tW, tH)
}

// winogradOutput turns the 16 products of each tile of one output channel
// (prod[ξ·stride + t], 16 floats of slack after the last) into its 2×2
// outputs Aᵀ m A (s = (m0+m1+m2, m1-m2-m3) over rows, then the same over
// columns), adds bias, applies act, and writes the part inside the
// outH×outW plane y.
func winogradOutput(prod []float32, stride, outH, outW, tW int, y []float32, bias float32, act activation) {
	tH := ceilDiv(outH, 2)
	relu := act.kind == "Relu"
	for th := 0; th < tH; th++ {
		rows := min(2, outH-2*th)
		for tw := 0; tw < tW; tw += 16 {
			t := th*tW + tw
			cols := min(32, outW-2*tw)
			_ = prod[15*stride+t+15]
			_ = y[(2*th+rows-1)*outW+2*tw+cols-1]
			winogradOutputAVX512(&prod[t], stride, &y[2*th*outW+2*tw], outW, cols, rows, bias, relu)
		}
	}
	if act.kind != "" && !relu {
		act.apply(y, 0)
	}
}
