package runtime

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// goBLAS is the pure-Go sgemm: with AVX-512 (amd64), a blocked sgemm
// around a Go-assembly micro-kernel; elsewhere gonum's sgemm, which
// parallelises over GOMAXPROCS by itself.
type goBLAS struct {
	threads int
	asm     bool
}

func newGoBLAS() *goBLAS { return &goBLAS{threads: 1, asm: hasAVX512} }

func (g *goBLAS) Name() string {
	if g.asm {
		return "cpu/go-avx512"
	}
	return "cpu/go"
}

func (g *goBLAS) SetThreads(n int) { g.threads = effectiveThreads(n) }

func (g *goBLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if g.asm {
		blockedSgemm(g.threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
		return
	}
	if k == 0 {
		scaleMatrix(c, m, n, ldc, beta)
		return
	}
	gonum.Implementation{}.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// packedPanelWidth is the column count of the B panels sgemmPacked takes,
// or 0 when this backend has no packed path.
func (g *goBLAS) packedPanelWidth() int {
	if g.asm {
		return kernelCols
	}
	return 0
}

// sgemmPacked is C = A·B with B in panel layout and A, when ap is not nil,
// packed by packA (see sgemmPackedB).
func (g *goBLAS) sgemmPacked(m, n, k int, a []float32, lda int, ap, bp []float32, c []float32, ldc int) {
	sgemmPackedB(g.threads, m, n, k, a, lda, ap, bp, c, ldc)
}

// packA packs a constant left-hand matrix once for sgemmPacked.
func (g *goBLAS) packA(m, k int, a []float32, lda int) []float32 { return packWeights(a, m, k, lda) }

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
