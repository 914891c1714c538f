package runtime

import (
	"fmt"
	"os"
	goruntime "runtime"
)

// Backend supplies the device-specific primitives kernels are built on. The
// CPU backends differ only in their GEMM; a device backend (CUDA) will also
// own memory and register its own kernels.
type Backend interface {
	// Name identifies the backend in benchmark output, e.g. "cpu/openblas".
	Name() string
	// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices,
	// op(A) being m×k and op(B) k×n.
	Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int)
	// SetThreads bounds the threads the backend's own routines use.
	SetThreads(n int)
}

// packedGEMM is implemented by backends whose sgemm can take the right-hand
// matrix already in their panel layout, so im2col can write it that way
// instead of the GEMM packing it again.
// Constant weights (A) can be packed once with packA and passed as ap.
type packedGEMM interface {
	packedPanelWidth() int
	packA(m, k int, a []float32, lda int) []float32
	sgemmPacked(m, n, k int, a []float32, lda int, ap, bp []float32, c []float32, ldc int)
}

// BLASEnv overrides the GEMM choice: "go" or "openblas".
const BLASEnv = "ONNXCOMPRESS_BLAS"

// newBackend picks the backend named by opts.Backend, else by
// $ONNXCOMPRESS_BLAS, else the fastest available: the Go backend when its
// AVX-512 kernel runs here, else OpenBLAS when its library loads, else pure
// Go (gonum). The Go kernel wins where it runs: sgemm 1024³ 141 vs 84
// GFLOP/s against the distribution's OpenBLAS (pinned here to its AVX2
// Haswell kernels), and only it reads conv inputs in place (ResNet-18 1.3×
// ONNX Runtime's latency vs 2.6× with OpenBLAS; bench/runtime/RESULTS.md).
func newBackend(name string, threads int) (Backend, error) {
	if name == "" || name == "auto" {
		name = os.Getenv(BLASEnv)
	}
	var b Backend
	switch name {
	case "", "auto":
		// OpenBLAS is loaded only where it will be used: loading starts its
		// thread pool, whose workers spin on the other cores for a while.
		b = newGoBLAS()
		if !hasAVX512 {
			if ob, err := loadOpenBLAS(); err == nil {
				b = ob
			}
		}
	case "go":
		b = newGoBLAS()
	case "openblas":
		ob, err := loadOpenBLAS()
		if err != nil {
			return nil, err
		}
		b = ob
	default:
		return nil, fmt.Errorf("unknown backend %q (want go or openblas)", name)
	}
	b.SetThreads(threads)
	return b, nil
}

// effectiveThreads maps Options.Threads (0 = all cores) to a worker count.
func effectiveThreads(n int) int {
	if n <= 0 {
		return goruntime.NumCPU()
	}
	return n
}
