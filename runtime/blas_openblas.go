package runtime

import (
	"fmt"
	"os"
	"sync"

	"github.com/ebitengine/purego"
)

// OpenBLASPaths are tried in order when loading OpenBLAS at run time.
var OpenBLASPaths = []string{
	"/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
	"/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
	"libopenblas.so.0",
}

const (
	cblasRowMajor = 101
	cblasNoTrans  = 111
	cblasTrans    = 112
)

// openBLAS calls cblas_sgemm through purego (no cgo).
type openBLAS struct {
	sgemm      func(order, transA, transB, m, n, k int32, alpha float32, a *float32, lda int32, b *float32, ldb int32, beta float32, c *float32, ldc int32)
	setThreads func(n int32)
}

var (
	openBLASOnce sync.Once
	openBLASLib  *openBLAS
	openBLASErr  error
)

// loadOpenBLAS opens the library once per process.
func loadOpenBLAS() (*openBLAS, error) {
	openBLASOnce.Do(func() {
		var errs []error
		for _, p := range OpenBLASPaths {
			if p[0] == '/' {
				if _, err := os.Stat(p); err != nil {
					continue
				}
			}
			h, err := purego.Dlopen(p, purego.RTLD_NOW|purego.RTLD_LOCAL)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ob := &openBLAS{}
			purego.RegisterLibFunc(&ob.sgemm, h, "cblas_sgemm")
			purego.RegisterLibFunc(&ob.setThreads, h, "openblas_set_num_threads")
			openBLASLib = ob
			return
		}
		openBLASErr = fmt.Errorf("openblas not found (tried %v): %v", OpenBLASPaths, errs)
	})
	return openBLASLib, openBLASErr
}

func (*openBLAS) Name() string { return "cpu/openblas" }

// SetThreads sets OpenBLAS's process-wide thread count.
func (o *openBLAS) SetThreads(n int) { o.setThreads(int32(effectiveThreads(n))) }

func (o *openBLAS) Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		scaleMatrix(c, m, n, ldc, beta)
		return
	}
	o.sgemm(cblasRowMajor, cblasTrans32(transA), cblasTrans32(transB), int32(m), int32(n), int32(k),
		alpha, &a[0], int32(lda), &b[0], int32(ldb), beta, &c[0], int32(ldc))
}

func cblasTrans32(t bool) int32 {
	if t {
		return cblasTrans
	}
	return cblasNoTrans
}

// scaleMatrix computes C = beta·C, the whole GEMM when k is 0.
func scaleMatrix(c []float32, m, n, ldc int, beta float32) {
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			if beta == 0 {
				row[j] = 0
			} else {
				row[j] *= beta
			}
		}
	}
}
