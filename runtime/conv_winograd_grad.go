package runtime

// The weight gradient of a Winograd F(2×2, 3×3) convolution. The forward
// computes each 2×2 output tile as y = Aᵀ (U ⊙ V) A with U = G g Gᵀ, so by
// the adjoint of each step
//
//	D[ξ]  = (A dy Aᵀ)[ξ]             per 2×2 tile of dY, zero outside the plane
//	dU[ξ] = Σ_tiles D[ξ] · V[ξ]ᵀ      16 GEMMs (m × ch, K = the tiles)
//	dg    = Gᵀ dU G
//
// with V the forward's input transform. The GEMMs do 16/36 of the
// multiply-adds of dY·im2colᵀ and need no im2col.

// useWinogradWeightGrad: a window the Winograd forward takes, on a backend
// without the micro-kernel's in-place weight gradients (which measured as
// fast without the transforms).
func useWinogradWeightGrad(c *execContext, w window, nb, group, cg, mg int) bool {
	pk, _ := c.backend.(packedGEMM)
	return !packsPanels(pk) && useWinograd(w, nb, group, cg, mg, pk)
}

// winogradWeightGrad adds to dw [m][ch][3][3] the weight gradient of the
// convolution of x [nb][ch] by window w (one that useWinograd accepts) given
// dy [nb][m], on the backend's Sgemm, and to db, when not nil, the bias
// gradient (each dY plane summed while the transform has it in cache).
func winogradWeightGrad(c *execContext, w window, nb, ch, m int, x, dy, dw, db []float32) {
	in := newWinogradInputs(c, w, nb, ch, m, false)
	tiles, tPad, v, vStride := in.tiles, in.tPad, in.v, in.vStride
	outHW := w.outH * w.outW
	dStride := m*tPad + 16
	d := c.tempF32(winogradTiles * dStride)
	du := c.tempF32(winogradTiles * m * ch)
	clear(du)
	var n0, count int
	transformGrad := func(lo, hi int) {
		for o := lo; o < hi; o++ {
			for i := 0; i < count; i++ {
				plane := dy[((n0+i)*m+o)*outHW:][:outHW]
				winogradGradOutput(plane, w.outH, w.outW, in.tW, d[o*tPad+i*tiles:], dStride)
				if db != nil {
					db[o] += sumF32(plane)
				}
			}
		}
	}
	for n0 = 0; n0 < nb; n0 += in.imgs {
		if k := min(in.imgs, nb-n0); k != count {
			count = k
			// V is zero past the last tile, but leftover NaN here would
			// still poison the products.
			for xi := 0; xi < winogradTiles; xi++ {
				for o := 0; o < m; o++ {
					clear(d[xi*dStride+o*tPad+count*tiles:][:tPad-count*tiles])
				}
			}
		}
		in.load(c, x, n0, count)
		c.parallel(m, transformGrad)
		for xi := 0; xi < winogradTiles; xi++ {
			c.backend.Sgemm(false, true, m, ch, tPad, 1, d[xi*dStride:], tPad, v[xi*vStride:], tPad, 1, du[xi*m*ch:], ch)
		}
	}
	winogradWeightsAdjoint(du, m*ch, dw)
}

// winogradGradOutput writes A dy Aᵀ of every 2×2 tile of the outH×outW
// plane dy (zero past its edges) to d[ξ·stride + t], tile t = th·tW + tw,
// 16 tiles of a tile row at a time (see winogradGradOutputAVX512).
func winogradGradOutput(dy []float32, outH, outW, tW int, d []float32, stride int) {
	for th := 0; th < ceilDiv(outH, 2); th++ {
		rows := min(2, outH-2*th)
		for tw := 0; tw < tW; tw += 16 {
			t := th*tW + tw
			cols := min(32, outW-2*tw)
			_ = dy[(2*th+rows-1)*outW+2*tw+cols-1]
			_ = d[15*stride+t+ceilDiv(cols, 2)-1]
			winogradGradOutputAVX512(&dy[2*th*outW+2*tw], outW, &d[t], stride, cols, rows)
		}
	}
}

// winogradWeightsAdjoint adds Gᵀ dU G, in float64, of the 16 matrices dU[ξ]
// (size floats each, at du[ξ·size]) to dw, element e of each becoming the
// 3×3 block dw[e·9:]: the adjoint of winogradWeights' U = G g Gᵀ, G's rows
// being (1, 0, 0), (½, ½, ½), (½, −½, ½), (0, 0, 1).
func winogradWeightsAdjoint(du []float32, size int, dw []float32) {
	for e := 0; e < size; e++ {
		// s = dU G (4×3), then Gᵀ s (3×3).
		var s [4][3]float64
		for i := 0; i < 4; i++ {
			x0, x1 := float64(du[(4*i)*size+e]), float64(du[(4*i+1)*size+e])
			x2, x3 := float64(du[(4*i+2)*size+e]), float64(du[(4*i+3)*size+e])
			s[i] = [3]float64{x0 + (x1+x2)/2, (x1 - x2) / 2, (x1+x2)/2 + x3}
		}
		g := dw[e*9:][:9]
		for l := 0; l < 3; l++ {
			g[l] += float32(s[0][l] + (s[1][l]+s[2][l])/2)
			g[3+l] += float32((s[1][l] - s[2][l]) / 2)
			g[6+l] += float32((s[1][l]+s[2][l])/2 + s[3][l])
		}
	}
}
