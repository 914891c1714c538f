package runtime

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

// goBLAS is gonum's pure-Go sgemm: always available, no shared library.
// It parallelises over GOMAXPROCS by itself, so SetThreads is advisory.
type goBLAS struct{}

func (goBLAS) Name() string     { return "cpu/go" }
func (goBLAS) SetThreads(n int) {}

func (goBLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	gonum.Implementation{}.Sgemm(blasTrans(transA), blasTrans(transB), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func blasTrans(t bool) blas.Transpose {
	if t {
		return blas.Trans
	}
	return blas.NoTrans
}
