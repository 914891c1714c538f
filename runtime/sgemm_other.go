//go:build !amd64

package runtime

const (
	kernelRows = 12
	kernelCols = 32
)

var hasAVX512 = false

func microKernel(k int, a, b, c []float32, ldc int, add bool) {
	panic("runtime: no sgemm micro-kernel on this architecture")
}

func shiftedKernel(k, rows int, a, b []float32, offs []int64, c []float32, ldc int, add bool) {
	panic("runtime: no sgemm micro-kernel on this architecture")
}

func stridedKernel(k, rows int, a, b0, b1 []float32, ldb int, c []float32, ldc int, add bool) {
	panic("runtime: no sgemm micro-kernel on this architecture")
}

// axpy computes y += a·x over len(y) elements.
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}
