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
	imgs := winogradImages(tiles, nb, packsPanels(packed), max(cg, mg))
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
// with tiles tiles. For the micro-kernel (kernel set): the count (up to 128
// columns' worth) that wastes the fewest columns of the last 32-column
// panel per image, the smallest on a tie; small planes (ResNet's 7×7 stage:
// 16 tiles) would otherwise leave half of every panel empty. Through a
// backend's Sgemm, whose every call costs a fixed overhead (OpenBLAS sets up
// and packs its operands): as many images as keep the GEMMs' operands
// (channels, the larger of the input and output channel counts, times
// columns) within winogradSgemmFloats, at least one.
func winogradImages(tiles, nb int, kernel bool, channels int) int {
	if !kernel {
		return max(1, min(nb, winogradSgemmFloats/channels/tiles))
	}
	best := 1
	for k := 2; k <= min(nb, max(1, 128/tiles)); k++ {
		// cols(k)/k < cols(best)/best, in integers.
		if ceilDiv(k*tiles, kernelCols)*best < ceilDiv(best*tiles, kernelCols)*k {
			best = k
		}
	}
	return best
}

// winogradSgemmFloats bounds channels × columns of the Winograd GEMMs on a
// backend's Sgemm: 1024 columns at 16 channels, 256 at 64. With OpenBLAS on
// ResNet-20 (best of 6 training steps): 4096 194 ms, 8192 191, 16384 188,
// 32768 213 (the transformed operands, 16 times this, leave the cache).
const winogradSgemmFloats = 16384

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

// winogradInputs is the input side of the Winograd paths, shared by the
// convolution and its weight gradient: the tiling of the output plane, and
// for winogradImages images at a time their tiles' transformed inputs,
// V[ξ][ci][i·tiles + t] at v[ξ·vStride + ci·tPad + i·tiles + t].
type winogradInputs struct {
	w                   window
	ch                  int
	tH, tW, tiles       int
	imgs, tPad, vStride int
	hp, wp, planes      int
	plane               shiftedGeometry
	xpad, v             []float32
	count               int // images in v
	transform           func(lo, hi int)
}

// newWinogradInputs sizes the tiling for nb images of ch channels feeding m
// output channels and takes its buffers from c; kernel says whether the
// micro-kernel (rather than a backend's Sgemm) multiplies them (see
// winogradImages).
func newWinogradInputs(c *execContext, w window, nb, ch, m int, kernel bool) *winogradInputs {
	in := &winogradInputs{w: w, ch: ch, tH: ceilDiv(w.outH, 2), tW: ceilDiv(w.outW, 2)}
	in.tiles = in.tH * in.tW
	in.imgs = winogradImages(in.tiles, nb, kernel, max(ch, m))
	in.tPad = ceilDiv(in.imgs*in.tiles, kernelCols) * kernelCols
	// Zero-padded input covering every 4×4 tile, one per image.
	in.hp, in.wp = 2*in.tH+2, 2*in.tW+2
	in.planes = ch * in.hp * in.wp
	in.plane = shiftedGeometry{hp: in.hp, wp: in.wp, slot: []int{0}, phases: 1}
	in.xpad = c.tempF32(in.imgs*in.planes + 32)
	// The 16 transformed planes lie a little more than ch·tPad apart: at a
	// power-of-two distance (ResNet's 14×14 and 7×7 stages: 8 KiB) the input
	// transform's 16 store streams would share cache sets.
	in.vStride = ch*in.tPad + 16
	in.v = c.tempF32(winogradTiles * in.vStride)
	clear(in.xpad)
	// One closure for every group of images.
	in.transform = func(lo, hi int) {
		for ci := lo; ci < hi; ci++ {
			for i := 0; i < in.count; i++ {
				winogradInput(in.xpad[i*in.planes+ci*in.hp*in.wp:], in.wp, in.tH, in.tW, in.v[ci*in.tPad+i*in.tiles:], in.vStride)
			}
		}
	}
	return in
}

// load transforms images n0…n0+count-1 of x (NCHW) into v.
func (in *winogradInputs) load(c *execContext, x []float32, n0, count int) {
	inHW := in.w.inH * in.w.inW
	if in.count != count {
		in.count = count
		// Columns past the last tile feed only discarded outputs; zero
		// them so no leftover NaN or Inf is ever multiplied.
		for xi := 0; xi < winogradTiles; xi++ {
			for ci := 0; ci < in.ch; ci++ {
				clear(in.v[xi*in.vStride+ci*in.tPad+count*in.tiles:][:in.tPad-count*in.tiles])
			}
		}
	}
	for i := 0; i < count; i++ {
		fillPhases(in.w, in.plane, x[(n0+i)*in.ch*inHW:][:in.ch*inHW], in.ch, in.xpad[i*in.planes:], in.hp*in.wp)
	}
	c.parallel(in.ch, in.transform)
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
	outHW := w.outH * w.outW
	in := newWinogradInputs(c, w, nb, ch, m, kernel)
	tiles, tPad, tW, v, vStride := in.tiles, in.tPad, in.tW, in.v, in.vStride
	panelsM := ceilDiv(m, kernelRows)
	mPad := panelsM * kernelRows
	prod := c.tempF32(winogradTiles*mPad*tPad + 16)
	offs := c.tempI64(ch)
	for ci := range offs {
		offs[ci] = int64(4 * ci * tPad)
	}
	// One closure per stage for every group of images (n0 set before
	// each call).
	var n0 int
	products := func(lo, hi int) { winogradProducts(u, v, vStride, prod, ch, m, mPad, tPad, offs, lo, hi) }
	transformOutput := func(lo, hi int) {
		for o := lo; o < hi; o++ {
			var b float32
			if bias != nil {
				b = bias[o]
			}
			for i := 0; i < in.count; i++ {
				winogradOutput(prod[o*tPad+i*tiles:], mPad*tPad, w.outH, w.outW, tW, y[((n0+i)*m+o)*outHW:][:outHW], b, act)
			}
		}
	}
	for n0 = 0; n0 < nb; n0 += in.imgs {
		in.load(c, x, n0, min(in.imgs, nb-n0))
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
