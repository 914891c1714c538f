package runtime

import "sync"

// blockedSgemm is a BLIS-style sgemm around an assembly micro-kernel: B is
// packed in kc×nc blocks of 32-column panels, A in mc×kc blocks of 12-row
// panels (alpha folded in), and each panel pair updates one 12×32 tile of C.
// Row blocks run in parallel on up to threads goroutines.
const (
	blockK = 256
	blockM = 12 * 16
	blockN = 32 * 64
)

var packPool = sync.Pool{New: func() any { return new([]float32) }}

func blockedSgemm(threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if beta != 1 || k == 0 || alpha == 0 {
		scaleMatrix(c, m, n, ldc, beta)
	}
	if k == 0 || alpha == 0 {
		return
	}
	bufB := packPool.Get().(*[]float32)
	defer packPool.Put(bufB)
	blocksM := (m + blockM - 1) / blockM
	workers := max(1, min(threads, blocksM))
	for jc := 0; jc < n; jc += blockN {
		nc := min(blockN, n-jc)
		panelsN := (nc + kernelCols - 1) / kernelCols
		for pc := 0; pc < k; pc += blockK {
			kc := min(blockK, k-pc)
			bp := growF32(bufB, panelsN*kc*kernelCols)
			packB(bp, b, ldb, transB, pc, kc, jc, nc)
			runWorkers(workers, func(w int) {
				bufA := packPool.Get().(*[]float32)
				defer packPool.Put(bufA)
				for blk := w; blk < blocksM; blk += workers {
					ic := blk * blockM
					mc := min(blockM, m-ic)
					ap := growF32(bufA, (mc+kernelRows-1)/kernelRows*kc*kernelRows)
					packA(ap, a, lda, transA, alpha, ic, mc, pc, kc)
					for jp := 0; jp < panelsN; jp++ {
						cols := min(kernelCols, nc-jp*kernelCols)
						panelTiles(kc, ap, mc, bp[jp*kc*kernelCols:], cols, c[ic*ldc+jc+jp*kernelCols:], ldc, true)
					}
				}
			})
		}
	}
}

// panelTiles sets (add false) or adds to c the product A·B of every 12-row
// panel of the packed ap (rows rows in all) against one packed 32-column
// panel of B (cols valid columns). Partial tiles go through a scratch tile.
func panelTiles(kc int, ap []float32, rows int, bPanel []float32, cols int, c []float32, ldc int, add bool) {
	for i := 0; i*kernelRows < rows; i++ {
		aPanel := ap[i*kc*kernelRows:]
		r := min(kernelRows, rows-i*kernelRows)
		tile := c[i*kernelRows*ldc:]
		if r == kernelRows && cols == kernelCols {
			microKernel(kc, aPanel, bPanel, tile, ldc, add)
			continue
		}
		var edge [kernelRows * kernelCols]float32
		microKernel(kc, aPanel, bPanel, edge[:], kernelCols, false)
		for row := 0; row < r; row++ {
			dst := tile[row*ldc:][:cols]
			if !add {
				copy(dst, edge[row*kernelCols:])
				continue
			}
			for j := range dst {
				dst[j] += edge[row*kernelCols+j]
			}
		}
	}
}

// runWorkers calls body(0…workers-1) concurrently, inline when there is one.
func runWorkers(workers int, body func(w int)) {
	if workers <= 1 {
		body(0)
		return
	}
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body(w)
		}()
	}
	wg.Wait()
}

func growF32(buf *[]float32, n int) []float32 {
	if cap(*buf) < n {
		*buf = make([]float32, n)
	}
	return (*buf)[:n]
}

// packB lays op(B)[pc:pc+kc, jc:jc+nc] out as panels of 32 columns, each
// row-major kc×32, zero-padded past nc.
func packB(dst, b []float32, ldb int, trans bool, pc, kc, jc, nc int) {
	for jp := 0; jp*kernelCols < nc; jp++ {
		panel := dst[jp*kc*kernelCols:][:kc*kernelCols]
		j0 := jc + jp*kernelCols
		cols := min(kernelCols, nc-jp*kernelCols)
		for p := 0; p < kc; p++ {
			row := panel[p*kernelCols:][:kernelCols]
			if !trans {
				copy(row, b[(pc+p)*ldb+j0:][:cols])
			} else {
				for j := 0; j < cols; j++ {
					row[j] = b[(j0+j)*ldb+pc+p]
				}
			}
			clear(row[cols:])
		}
	}
}

// packA lays alpha·op(A)[ic:ic+mc, pc:pc+kc] out as panels of 12 rows, each
// stored k-major (12 values per k), zero-padded past mc.
func packA(dst, a []float32, lda int, trans bool, alpha float32, ic, mc, pc, kc int) {
	for ip := 0; ip*kernelRows < mc; ip++ {
		panel := dst[ip*kc*kernelRows:][:kc*kernelRows]
		i0 := ic + ip*kernelRows
		rows := min(kernelRows, mc-ip*kernelRows)
		if rows < kernelRows {
			clear(panel)
		}
		for r := 0; r < rows; r++ {
			if !trans {
				src := a[(i0+r)*lda+pc:][:kc]
				for p, v := range src {
					panel[p*kernelRows+r] = alpha * v
				}
			} else {
				for p := 0; p < kc; p++ {
					panel[p*kernelRows+r] = alpha * a[(pc+p)*lda+i0+r]
				}
			}
		}
	}
}

// sgemmPackedB computes C[m×n] = A[m×k]·B (+ C when accumulate), A
// row-major with row stride lda and B already packed as panels of 32
// columns, each k×32 row-major (bp[jp*k*32 + p*32 + j]), zero-padded past n.
// Conv's im2col writes B in this layout directly, which saves packing it.
//
// ap, when not nil, is A already packed by packWeights (constant weights
// are packed once per session, not once per call).
func sgemmPackedB(threads, m, n, k int, a []float32, lda int, ap, bp []float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleMatrix(c, m, n, ldc, 0)
		return
	}
	panelsN := (n + kernelCols - 1) / kernelCols
	panelsM := (m + kernelRows - 1) / kernelRows
	if ap == nil {
		ap = packWeights(a, m, k, lda)
	}
	workers := max(1, min(threads, panelsN/4))
	for pc := 0; pc < k; pc += blockK {
		kc := min(blockK, k-pc)
		apBlock := ap[pc*panelsM*kernelRows:]
		runWorkers(workers, func(w int) {
			for jp := w * panelsN / workers; jp < (w+1)*panelsN/workers; jp++ {
				cols := min(kernelCols, n-jp*kernelCols)
				// The first K block sets C; the others add to it.
				panelTiles(kc, apBlock, m, bp[jp*k*kernelCols+pc*kernelCols:], cols, c[jp*kernelCols:], ldc, pc > 0)
			}
		})
	}
}

// packWeights packs all of A[m×k] for sgemmPackedB: for each K block, the
// 12-row panels of packA, blocks one after the other.
func packWeights(a []float32, m, k, lda int) []float32 {
	return packWeightsInto(make([]float32, packedWeightsLen(m, k)), a, m, k, lda)
}

// packedWeightsLen is the length of packWeights' result.
func packedWeightsLen(m, k int) int { return (m + kernelRows - 1) / kernelRows * kernelRows * k }

// packWeightsInto is packWeights writing into out (packedWeightsLen floats).
func packWeightsInto(out, a []float32, m, k, lda int) []float32 {
	panelsM := (m + kernelRows - 1) / kernelRows
	out = out[:packedWeightsLen(m, k)]
	for pc := 0; pc < k; pc += blockK {
		kc := min(blockK, k-pc)
		packA(out[pc*panelsM*kernelRows:][:panelsM*kc*kernelRows], a, lda, false, 1, 0, m, pc, kc)
	}
	return out
}
