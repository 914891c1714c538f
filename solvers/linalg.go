package solvers

import (
	"os"
	"sync"

	"github.com/ebitengine/purego"
	"gonum.org/v1/gonum/blas"
	gonumblas "gonum.org/v1/gonum/blas/gonum"
	"gonum.org/v1/gonum/lapack"
	gonumlapack "gonum.org/v1/gonum/lapack/gonum"
)

// linalg is the handful of dense kernels the factorizations are built from, in
// row-major terms. Two implementations exist: OpenBLAS loaded at run time
// (column-major LAPACK; a row-major LQ is the same memory as a column-major QR of
// the transpose, so no data is copied) and pure-Go gonum as the fallback.
type linalg interface {
	// gemm computes C = alpha*op(A)*op(B) + beta*C, C being m×n.
	gemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int)
	// gelqf computes the LQ factorization of the m×n matrix a (m ≤ n in our uses).
	gelqf(m, n int, a []float64, lda int, tau []float64)
	// ormlq multiplies the m×n matrix c by the Q of a gelqf with k reflectors.
	ormlq(side blas.Side, trans blas.Transpose, m, n, k int, a []float64, lda int, tau, c []float64, ldc int)
	// orglq overwrites the m×n matrix a with the first m rows of the Q of a gelqf.
	orglq(m, n, k int, a []float64, lda int, tau []float64)
	// gesvdSquare computes a = u*diag(s)*vt for an n×n matrix, destroying a.
	gesvdSquare(n int, a []float64, lda int, s, u []float64, ldu int, vt []float64, ldvt int) bool
	// potrf computes the lower Cholesky factor of the SPD n×n matrix a in place.
	potrf(n int, a []float64, lda int) bool
	// potrs solves A*X = B for X (n×nrhs, stored row-major in b) given potrf's factor.
	potrs(n, nrhs int, a []float64, lda int, b []float64, ldb int)
}

// Backend names the linear-algebra implementation in use: "openblas" when
// libopenblas could be loaded, else "gonum".
func Backend() string {
	if _, ok := kernels().(*openBLAS); ok {
		return "openblas"
	}
	return "gonum"
}

var (
	kernelsOnce sync.Once
	kernelsImpl linalg
)

// kernels returns OpenBLAS when it loads, else gonum. ONNXCOMPRESS_NO_OPENBLAS=1
// forces gonum so both paths can be tested on one machine.
func kernels() linalg {
	kernelsOnce.Do(func() {
		kernelsImpl = gonumLinalg{}
		if os.Getenv("ONNXCOMPRESS_NO_OPENBLAS") == "1" {
			return
		}
		if ob, err := loadOpenBLAS(); err == nil {
			kernelsImpl = ob
		}
	})
	return kernelsImpl
}

type gonumLinalg struct{}

func (gonumLinalg) gemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	gonumblas.Implementation{}.Dgemm(tA, tB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

func (gonumLinalg) gelqf(m, n int, a []float64, lda int, tau []float64) {
	impl := gonumlapack.Implementation{}
	work := []float64{0}
	impl.Dgelqf(m, n, a, lda, tau, work, -1)
	work = make([]float64, int(work[0]))
	impl.Dgelqf(m, n, a, lda, tau, work, len(work))
}

func (gonumLinalg) ormlq(side blas.Side, trans blas.Transpose, m, n, k int, a []float64, lda int, tau, c []float64, ldc int) {
	impl := gonumlapack.Implementation{}
	work := []float64{0}
	impl.Dormlq(side, trans, m, n, k, a, lda, tau, c, ldc, work, -1)
	work = make([]float64, int(work[0]))
	impl.Dormlq(side, trans, m, n, k, a, lda, tau, c, ldc, work, len(work))
}

func (gonumLinalg) orglq(m, n, k int, a []float64, lda int, tau []float64) {
	impl := gonumlapack.Implementation{}
	work := []float64{0}
	impl.Dorglq(m, n, k, a, lda, tau, work, -1)
	work = make([]float64, int(work[0]))
	impl.Dorglq(m, n, k, a, lda, tau, work, len(work))
}

func (gonumLinalg) gesvdSquare(n int, a []float64, lda int, s, u []float64, ldu int, vt []float64, ldvt int) bool {
	impl := gonumlapack.Implementation{}
	work := []float64{0}
	impl.Dgesvd(lapack.SVDAll, lapack.SVDAll, n, n, a, lda, s, u, ldu, vt, ldvt, work, -1)
	work = make([]float64, int(work[0]))
	return impl.Dgesvd(lapack.SVDAll, lapack.SVDAll, n, n, a, lda, s, u, ldu, vt, ldvt, work, len(work))
}

func (gonumLinalg) potrf(n int, a []float64, lda int) bool {
	return gonumlapack.Implementation{}.Dpotrf(blas.Lower, n, a, lda)
}

func (gonumLinalg) potrs(n, nrhs int, a []float64, lda int, b []float64, ldb int) {
	gonumlapack.Implementation{}.Dpotrs(blas.Lower, n, nrhs, a, lda, b, ldb)
}

// openBLAS calls the Fortran LAPACK and CBLAS entry points of libopenblas.
// Integers are 32-bit (the LP64 interface Debian ships); character arguments
// carry gfortran's hidden length arguments at the end.
type openBLAS struct {
	cblasDgemm func(order, tA, tB, m, n, k int32, alpha float64, a *float64, lda int32, b *float64, ldb int32, beta float64, c *float64, ldc int32)
	dgeqrf     func(m, n *int32, a *float64, lda *int32, tau, work *float64, lwork, info *int32)
	dormqr     func(side, trans *byte, m, n, k *int32, a *float64, lda *int32, tau, c *float64, ldc *int32, work *float64, lwork, info *int32, l1, l2 uintptr)
	dorgqr     func(m, n, k *int32, a *float64, lda *int32, tau, work *float64, lwork, info *int32)
	dgesdd     func(jobz *byte, m, n *int32, a *float64, lda *int32, s, u *float64, ldu *int32, vt *float64, ldvt *int32, work *float64, lwork, iwork, info *int32, l1 uintptr)
	dpotrf     func(uplo *byte, n *int32, a *float64, lda, info *int32, l1 uintptr)
	dpotrs     func(uplo *byte, n, nrhs *int32, a *float64, lda *int32, b *float64, ldb, info *int32, l1 uintptr)
}

func loadOpenBLAS() (*openBLAS, error) {
	var handle uintptr
	var err error
	for _, name := range []string{"libopenblas.so.0", "libopenblas.so"} {
		handle, err = purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err == nil {
			break
		}
	}
	if err != nil {
		return nil, err
	}
	ob := &openBLAS{}
	for name, fn := range map[string]any{
		"cblas_dgemm": &ob.cblasDgemm, "dgeqrf_": &ob.dgeqrf, "dormqr_": &ob.dormqr,
		"dorgqr_": &ob.dorgqr, "dgesdd_": &ob.dgesdd, "dpotrf_": &ob.dpotrf, "dpotrs_": &ob.dpotrs,
	} {
		if _, err := purego.Dlsym(handle, name); err != nil {
			return nil, err
		}
		purego.RegisterLibFunc(fn, handle, name)
	}
	return ob, nil
}

func cblasTrans(t blas.Transpose) int32 {
	if t == blas.NoTrans {
		return 111
	}
	return 112
}

func i32(v int) *int32 { x := int32(v); return &x }

func ptr(s []float64) *float64 {
	if len(s) == 0 {
		var dummy float64
		return &dummy
	}
	return &s[0]
}

func (ob *openBLAS) gemm(tA, tB blas.Transpose, m, n, k int, alpha float64, a []float64, lda int, b []float64, ldb int, beta float64, c []float64, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	const rowMajor = 101
	ob.cblasDgemm(rowMajor, cblasTrans(tA), cblasTrans(tB), int32(m), int32(n), int32(k), alpha, ptr(a), int32(lda), ptr(b), int32(ldb), beta, ptr(c), int32(ldc))
}

// gelqf: the row-major m×n LQ is the column-major n×m QR of the same memory.
func (ob *openBLAS) gelqf(m, n int, a []float64, lda int, tau []float64) {
	var info int32
	work := []float64{0}
	ob.dgeqrf(i32(n), i32(m), ptr(a), i32(lda), ptr(tau), &work[0], i32(-1), &info)
	work = make([]float64, int(work[0])+1)
	ob.dgeqrf(i32(n), i32(m), ptr(a), i32(lda), ptr(tau), &work[0], i32(len(work)), &info)
}

// ormlq: row-major C := op(Q_lq)·C is column-major Cᵀ := Cᵀ·op(Q_qr) because
// Q_lq = Q_qrᵀ, so the side flips and the transpose flag stays.
func (ob *openBLAS) ormlq(side blas.Side, trans blas.Transpose, m, n, k int, a []float64, lda int, tau, c []float64, ldc int) {
	s := byte('R')
	if side == blas.Right {
		s = 'L'
	}
	t := byte('N')
	if trans != blas.NoTrans {
		t = 'T'
	}
	var info int32
	work := []float64{0}
	ob.dormqr(&s, &t, i32(n), i32(m), i32(k), ptr(a), i32(lda), ptr(tau), ptr(c), i32(ldc), &work[0], i32(-1), &info, 1, 1)
	work = make([]float64, int(work[0])+1)
	ob.dormqr(&s, &t, i32(n), i32(m), i32(k), ptr(a), i32(lda), ptr(tau), ptr(c), i32(ldc), &work[0], i32(len(work)), &info, 1, 1)
}

func (ob *openBLAS) orglq(m, n, k int, a []float64, lda int, tau []float64) {
	var info int32
	work := []float64{0}
	ob.dorgqr(i32(n), i32(m), i32(k), ptr(a), i32(lda), ptr(tau), &work[0], i32(-1), &info)
	work = make([]float64, int(work[0])+1)
	ob.dorgqr(i32(n), i32(m), i32(k), ptr(a), i32(lda), ptr(tau), &work[0], i32(len(work)), &info)
}

// gesvdSquare: the column-major view of row-major A is Aᵀ = V·S·Uᵀ, so LAPACK's
// U buffer receives our Vᵀ and its Vᵀ buffer our U, both already row-major.
func (ob *openBLAS) gesvdSquare(n int, a []float64, lda int, s, u []float64, ldu int, vt []float64, ldvt int) bool {
	jobz := byte('S')
	var info int32
	iwork := make([]int32, 8*n+1)
	work := []float64{0}
	ob.dgesdd(&jobz, i32(n), i32(n), ptr(a), i32(lda), ptr(s), ptr(vt), i32(ldvt), ptr(u), i32(ldu), &work[0], i32(-1), &iwork[0], &info, 1)
	work = make([]float64, int(work[0])+1)
	ob.dgesdd(&jobz, i32(n), i32(n), ptr(a), i32(lda), ptr(s), ptr(vt), i32(ldvt), ptr(u), i32(ldu), &work[0], i32(len(work)), &iwork[0], &info, 1)
	return info == 0
}

// potrf: a symmetric matrix is its own transpose, so the row-major lower factor
// is LAPACK's column-major upper factor.
func (ob *openBLAS) potrf(n int, a []float64, lda int) bool {
	uplo := byte('U')
	var info int32
	ob.dpotrf(&uplo, i32(n), ptr(a), i32(lda), &info, 1)
	return info == 0
}

// potrs solves with the factor from potrf. The right-hand sides are row-major
// n×nrhs, i.e. column-major nrhs×n; LAPACK wants them column-major n×nrhs, so they
// are transposed through a scratch buffer.
func (ob *openBLAS) potrs(n, nrhs int, a []float64, lda int, b []float64, ldb int) {
	cm := make([]float64, n*nrhs)
	for i := 0; i < n; i++ {
		for j := 0; j < nrhs; j++ {
			cm[i+j*n] = b[i*ldb+j]
		}
	}
	uplo := byte('U')
	var info int32
	ob.dpotrs(&uplo, i32(n), i32(nrhs), ptr(a), i32(lda), ptr(cm), i32(n), &info, 1)
	for i := 0; i < n; i++ {
		for j := 0; j < nrhs; j++ {
			b[i*ldb+j] = cm[i+j*n]
		}
	}
}
