package runtime

// AVX-512 sgemm micro-kernel (sgemm_amd64.s), used by the pure-Go backend
// when the CPU and OS support AVX-512: Go assembly, no cgo.

const (
	kernelRows = 12
	kernelCols = 32
)

//go:noescape
func sgemmKernel12x32(k int, a, b, c *float32, ldc int, add bool)

//go:noescape
func sgemmKernel12x32Offs(k int, a, b *float32, offs *int64, c *float32, ldc int, add bool)

func cpuid(leaf, sub uint32) (eax, ebx, ecx, edx uint32)

func xgetbv() (eax uint32)

// hasAVX512 reports AVX-512F in the CPU and ZMM state enabled by the OS.
var hasAVX512 = func() bool {
	maxLeaf, _, _, _ := cpuid(0, 0)
	if maxLeaf < 7 {
		return false
	}
	_, _, ecx1, _ := cpuid(1, 0)
	const osxsave = 1 << 27
	if ecx1&osxsave == 0 {
		return false
	}
	// XMM, YMM, opmask, ZMM0-15 upper halves, ZMM16-31.
	const zmmState = 0xe6
	if xgetbv()&zmmState != zmmState {
		return false
	}
	_, ebx7, _, _ := cpuid(7, 0)
	const avx512f = 1 << 16
	return ebx7&avx512f != 0
}()

// microKernel sets the 12×32 tile at c to A·B, or adds A·B to it.
func microKernel(k int, a, b, c []float32, ldc int, add bool) {
	sgemmKernel12x32(k, &a[0], &b[0], &c[0], ldc, add)
}

// shiftedKernel sets (add false) or adds to rows rows (1…12) of the 12×32
// tile at c the product of the packed 12-row panel a and the 32-column B
// whose row p starts offs[p] bytes after &b[0]. The caller guarantees every
// row lies inside b, and c has whole groups of four rows past rows.
func shiftedKernel(k, rows int, a, b []float32, offs []int64, c []float32, ldc int, add bool) {
	if rows > 8 {
		sgemmKernel12x32Offs(k, &a[0], &b[0], &offs[0], &c[0], ldc, add)
		return
	}
	// Four rows at a time: a partial panel multiplies less padding.
	for r := 0; r < rows; r += 4 {
		sgemmKernel4x32Offs(k, &a[r], &b[0], &offs[0], &c[r*ldc], ldc, add)
	}
}

//go:noescape
func sgemmKernel4x32Offs(k int, a, b *float32, offs *int64, c *float32, ldc int, add bool)

//go:noescape
func sgemmKernel4x32Strided(k int, a, b0, b1 *float32, ldb int, c *float32, ldc int, add bool)

//go:noescape
func sgemmKernel12x32Strided(k int, a, b0, b1 *float32, ldb int, c *float32, ldc int, add bool)

// stridedKernel sets (add false) or adds to rows rows (1…12) of the 12×32
// tile at c the product of the packed 12-row panel a and the B whose row p
// is the 16 floats at b0[p·ldb] then the 16 at b1[p·ldb]. The caller
// guarantees every row lies inside b0 and b1, and c has whole groups of
// four rows past rows.
func stridedKernel(k, rows int, a, b0, b1 []float32, ldb int, c []float32, ldc int, add bool) {
	if rows > 8 {
		sgemmKernel12x32Strided(k, &a[0], &b0[0], &b1[0], ldb, &c[0], ldc, add)
		return
	}
	for r := 0; r < rows; r += 4 {
		sgemmKernel4x32Strided(k, &a[r], &b0[0], &b1[0], ldb, &c[r*ldc], ldc, add)
	}
}

//go:noescape
func axpyAVX512(n int, a float32, x, y *float32)

// axpy computes y += a·x over len(y) elements.
func axpy(y, x []float32, a float32) {
	n := len(y)
	x = x[:n]
	if hasAVX512 && n >= 16 {
		bulk := n &^ 15
		axpyAVX512(bulk, a, &x[0], &y[0])
		x, y = x[bulk:], y[bulk:]
	}
	for i := range y {
		y[i] += a * x[i]
	}
}
