package runtime

//go:noescape
func biasActRowsAVX512(rows, n int, bias float32, src *float32, srcStride int, dst *float32, dstStride int, relu bool)

//go:noescape
func maxRowsAVX512(rows, n int, a *float32, aStride int, b *float32, bStride int, dst *float32, dstStride int)

//go:noescape
func transpose16AVX512(rows, width, n int, src *float32, lds int, dst *float32, ldd int)

//go:noescape
func reluMaskAVX512(n int, y, d, dst *float32)

//go:noescape
func dotBlock4x4AVX512(n int, a *float32, lda int, b0, b1, b2, b3 *float32, out *float32)

//go:noescape
func pairMaxAVX512(n int, src, dst *float32)

//go:noescape
func copyRowsAVX512(rows, n int, src *float32, srcStride int, dst *float32, dstStride int)

// copyRows copies rows rows of n elements: row r of src starts at
// r·srcStride, of dst at r·dstStride.
func copyRows(dst []float32, dstStride int, src []float32, srcStride int, rows, n int) {
	if rows == 0 || n == 0 {
		return
	}
	dst, src = dst[:(rows-1)*dstStride+n], src[:(rows-1)*srcStride+n]
	if !hasAVX512 {
		copyRowsGo(dst, dstStride, src, srcStride, rows, n)
		return
	}
	copyRowsAVX512(rows, n, &src[0], srcStride, &dst[0], dstStride)
}

// biasReluRows writes src + bias, then max(·, 0) when relu, into rows
// rows of n elements: row r of dst starts at r·dstStride, of src at
// r·srcStride. dst may be src.
func biasReluRows(dst []float32, dstStride int, src []float32, srcStride int, rows, n int, bias float32, relu bool) {
	if rows == 0 || n == 0 {
		return
	}
	dst, src = dst[:(rows-1)*dstStride+n], src[:(rows-1)*srcStride+n]
	if !hasAVX512 {
		for r := 0; r < rows; r++ {
			biasReluGo(dst[r*dstStride:][:n], src[r*srcStride:], bias, relu)
		}
		return
	}
	biasActRowsAVX512(rows, n, bias, &src[0], srcStride, &dst[0], dstStride, relu)
}

// maxRows writes max(a, b) element-wise, NaN when either is NaN, into rows
// rows of n elements, each operand with its own row stride.
func maxRows(dst []float32, dstStride int, a []float32, aStride int, b []float32, bStride int, rows, n int) {
	if rows == 0 || n == 0 {
		return
	}
	dst = dst[:(rows-1)*dstStride+n]
	a, b = a[:(rows-1)*aStride+n], b[:(rows-1)*bStride+n]
	if !hasAVX512 {
		for r := 0; r < rows; r++ {
			d, x, y := dst[r*dstStride:][:n], a[r*aStride:][:n], b[r*bStride:][:n]
			for i := range d {
				d[i] = max(x[i], y[i])
			}
		}
		return
	}
	maxRowsAVX512(rows, n, &a[0], aStride, &b[0], bStride, &dst[0], dstStride)
}

// pairMax writes max(src[2i], src[2i+1]) into dst (len(dst) elements).
func pairMax(dst, src []float32) {
	src = src[:2*len(dst)]
	if hasAVX512 && len(dst) > 0 {
		pairMaxAVX512(len(dst), &src[0], &dst[0])
		return
	}
	for i := range dst {
		dst[i] = max(src[2*i], src[2*i+1])
	}
}

// transpose16 writes into row j < n of dst (width floats, ldd apart) column
// j of the rows rows of src (n floats each, lds apart), zero past the last
// row. rows, width and n are at most 16.
func transpose16(dst []float32, ldd int, src []float32, lds, rows, width, n int) {
	if n == 0 || width == 0 {
		return
	}
	if rows == 0 {
		for j := 0; j < n; j++ {
			clear(dst[j*ldd:][:width])
		}
		return
	}
	src, dst = src[:(rows-1)*lds+n], dst[:(n-1)*ldd+width]
	if !hasAVX512 {
		transpose16Go(dst, ldd, src, lds, rows, width, n)
		return
	}
	transpose16AVX512(rows, width, n, &src[0], lds, &dst[0], ldd)
}

// reluMask writes d[i] where y[i] > 0 (as an int32: positive floats and
// NaNs) and +0 elsewhere into g[i], for i < len(g).
func reluMask(g, d, y []float32) {
	n := len(g)
	d, y = d[:n], y[:n]
	if hasAVX512 && n >= 16 {
		bulk := n &^ 15
		reluMaskAVX512(bulk, &y[0], &d[0], &g[0])
		g, d, y = g[bulk:], d[bulk:], y[bulk:]
	}
	reluMaskGo(g, d, y)
}

// dotPartials adds the 16 dot products of a[i·lda:][:n] (i < 4) and
// b[j][:n], n a multiple of 16, as 16 vectors of partial sums, to
// partial[(4i+j)·16 + l].
func dotPartials(n int, a []float32, lda int, b [4][]float32, partial []float32) {
	_ = a[3*lda+n-1]
	for j := range b {
		_ = b[j][n-1]
	}
	partial = partial[:256]
	if !hasAVX512 {
		dotPartialsGo(n, a, lda, b, partial)
		return
	}
	dotBlock4x4AVX512(n, &a[0], lda, &b[0][0], &b[1][0], &b[2][0], &b[3][0], &partial[0])
}
