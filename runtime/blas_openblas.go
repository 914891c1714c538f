package runtime

import (
	"fmt"
	"os"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// OpenBLASPaths are tried in order when loading OpenBLAS at run time.
var OpenBLASPaths = []string{
	"/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
	"/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
	"libopenblas.so.0",
}

// openBLAS calls the Fortran sgemm_ through purego (no cgo). Its
// arguments are all pointers, so purego.SyscallN passes them without the
// reflection of a registered Go function: 0.26 µs a call instead of 0.86
// µs for cblas_sgemm (whose float arguments need that), which the Winograd
// convolutions' thousands of small GEMMs a training step felt.
type openBLAS struct {
	sgemm      uintptr
	setThreads func(n int32)
}

// sgemmArgs are sgemm_'s scalar arguments, passed by reference.
type sgemmArgs struct {
	transA, transB byte
	m, n, k        int32
	lda, ldb, ldc  int32
	alpha, beta    float32
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
			sgemm, err := purego.Dlsym(h, "sgemm_")
			if err != nil {
				errs = append(errs, err)
				continue
			}
			ob := &openBLAS{sgemm: sgemm}
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
	// Row-major C = op(A)·op(B) is column-major Cᵀ = op(B)ᵀ·op(A)ᵀ: the
	// same memory with the operands swapped.
	p := &sgemmArgs{transA: fortranTrans(transB), transB: fortranTrans(transA),
		m: int32(n), n: int32(m), k: int32(k), lda: int32(ldb), ldb: int32(lda), ldc: int32(ldc), alpha: alpha, beta: beta}
	purego.SyscallN(o.sgemm, uintptr(unsafe.Pointer(&p.transA)), uintptr(unsafe.Pointer(&p.transB)),
		uintptr(unsafe.Pointer(&p.m)), uintptr(unsafe.Pointer(&p.n)), uintptr(unsafe.Pointer(&p.k)),
		uintptr(unsafe.Pointer(&p.alpha)), uintptr(unsafe.Pointer(&b[0])), uintptr(unsafe.Pointer(&p.lda)),
		uintptr(unsafe.Pointer(&a[0])), uintptr(unsafe.Pointer(&p.ldb)),
		uintptr(unsafe.Pointer(&p.beta)), uintptr(unsafe.Pointer(&c[0])), uintptr(unsafe.Pointer(&p.ldc)))
}

func fortranTrans(t bool) byte {
	if t {
		return 'T'
	}
	return 'N'
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
