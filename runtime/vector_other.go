//go:build !amd64

package runtime

// biasReluRows writes src + bias, then max(·, 0) when relu, into rows
// rows of n elements with the given row strides.
func biasReluRows(dst []float32, dstStride int, src []float32, srcStride int, rows, n int, bias float32, relu bool) {
	for r := 0; r < rows; r++ {
		biasReluGo(dst[r*dstStride:][:n], src[r*srcStride:], bias, relu)
	}
}

// copyRows copies rows rows of n elements with the given row strides.
func copyRows(dst []float32, dstStride int, src []float32, srcStride int, rows, n int) {
	copyRowsGo(dst, dstStride, src, srcStride, rows, n)
}

// maxRows writes max(a, b) element-wise into rows rows of n elements.
func maxRows(dst []float32, dstStride int, a []float32, aStride int, b []float32, bStride int, rows, n int) {
	for r := 0; r < rows; r++ {
		d, x, y := dst[r*dstStride:][:n], a[r*aStride:][:n], b[r*bStride:][:n]
		for i := range d {
			d[i] = max(x[i], y[i])
		}
	}
}

// pairMax writes max(src[2i], src[2i+1]) into dst (len(dst) elements).
func pairMax(dst, src []float32) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = max(src[2*i], src[2*i+1])
	}
}

// transpose16 writes into row j < n of dst (width floats, ldd apart) column
// j of the rows rows of src (n floats each, lds apart), zero past the last
// row. rows, width and n are at most 16.
func transpose16(dst []float32, ldd int, src []float32, lds, rows, width, n int) {
	transpose16Go(dst, ldd, src, lds, rows, width, n)
}

// reluMask writes d[i] where y[i] > 0 (as an int32: positive floats and
// NaNs) and +0 elsewhere into g[i], for i < len(g).
func reluMask(g, d, y []float32) { reluMaskGo(g, d, y) }

// dotPartials adds the 16 dot products of a[i·lda:][:n] (i < 4) and
// b[j][:n], n a multiple of 16, as 16 vectors of partial sums, to
// partial[(4i+j)·16 + l].
func dotPartials(n int, a []float32, lda int, b [4][]float32, partial []float32) {
	dotPartialsGo(n, a, lda, b, partial)
}
