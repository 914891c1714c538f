package solvers

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/mat"
)

// Tensor is a dense row-major (C-order) float64 tensor: the last index varies
// fastest, as in ONNX initializers and numpy.
type Tensor struct {
	Shape []int
	Data  []float64
}

// NewTensor wraps data (not copied) as a tensor of the given shape.
func NewTensor(shape []int, data []float64) (*Tensor, error) {
	n, err := shapeSize(shape)
	if err != nil {
		return nil, err
	}
	if n != len(data) {
		return nil, fmt.Errorf("solvers: shape %v needs %d values, have %d", shape, n, len(data))
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: data}, nil
}

// NewZeroTensor returns a zero tensor of the given shape.
func NewZeroTensor(shape ...int) (*Tensor, error) {
	n, err := shapeSize(shape)
	if err != nil {
		return nil, err
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float64, n)}, nil
}

func shapeSize(shape []int) (int, error) {
	if len(shape) == 0 {
		return 0, errors.New("solvers: empty shape")
	}
	n := 1
	for _, d := range shape {
		if d <= 0 {
			return 0, fmt.Errorf("solvers: shape %v has a non-positive dimension", shape)
		}
		if n > math.MaxInt32*64/d {
			return 0, fmt.Errorf("solvers: shape %v is too large", shape)
		}
		n *= d
	}
	return n, nil
}

func mustZeros(shape ...int) *Tensor {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return &Tensor{Shape: append([]int(nil), shape...), Data: make([]float64, n)}
}

// Order is the number of modes.
func (t *Tensor) Order() int { return len(t.Shape) }

// Clone returns a deep copy.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: append([]int(nil), t.Shape...), Data: append([]float64(nil), t.Data...)}
}

// Norm is the Frobenius norm.
func (t *Tensor) Norm() float64 { return frobenius(t.Data) }

// Reshape returns a tensor sharing t's data with a new shape of equal size.
func (t *Tensor) Reshape(shape ...int) (*Tensor, error) {
	return NewTensor(shape, t.Data)
}

// Permute returns a copy with modes reordered: result mode i is t's mode perm[i].
func (t *Tensor) Permute(perm ...int) (*Tensor, error) {
	d := len(t.Shape)
	if len(perm) != d {
		return nil, fmt.Errorf("solvers: permutation %v for a %d-way tensor", perm, d)
	}
	seen := make([]bool, d)
	shape := make([]int, d)
	for i, p := range perm {
		if p < 0 || p >= d || seen[p] {
			return nil, fmt.Errorf("solvers: %v is not a permutation", perm)
		}
		seen[p] = true
		shape[i] = t.Shape[p]
	}
	srcStrides := strides(t.Shape)
	permStrides := make([]int, d)
	for i, p := range perm {
		permStrides[i] = srcStrides[p]
	}
	out := mustZeros(shape...)
	idx := make([]int, d)
	src := 0
	for k := range out.Data {
		out.Data[k] = t.Data[src]
		for i := d - 1; i >= 0; i-- {
			idx[i]++
			src += permStrides[i]
			if idx[i] < shape[i] {
				break
			}
			src -= permStrides[i] * shape[i]
			idx[i] = 0
		}
	}
	return out, nil
}

func strides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// around splits t's shape at mode into (product before, size, product after).
func (t *Tensor) around(mode int) (left, n, right int) {
	left, right = 1, 1
	for i, d := range t.Shape {
		switch {
		case i < mode:
			left *= d
		case i > mode:
			right *= d
		}
	}
	return left, t.Shape[mode], right
}

func (t *Tensor) checkMode(mode int) error {
	if mode < 0 || mode >= len(t.Shape) {
		return fmt.Errorf("solvers: mode %d of a %d-way tensor", mode, len(t.Shape))
	}
	return nil
}

// Unfold returns the mode-n unfolding: row i holds the entries with index i on
// mode n, the remaining modes in C order along the columns (TensorLy's convention).
func (t *Tensor) Unfold(mode int) (*mat.Dense, error) {
	if err := t.checkMode(mode); err != nil {
		return nil, err
	}
	left, n, right := t.around(mode)
	out := make([]float64, len(t.Data))
	for a := 0; a < left; a++ {
		for i := 0; i < n; i++ {
			copy(out[i*left*right+a*right:i*left*right+(a+1)*right], t.Data[(a*n+i)*right:(a*n+i+1)*right])
		}
	}
	return mat.NewDense(n, left*right, out), nil
}

// Fold inverts Unfold: m is the mode-n unfolding of a tensor of the given shape.
func Fold(m *mat.Dense, mode int, shape []int) (*Tensor, error) {
	t, err := NewZeroTensor(shape...)
	if err != nil {
		return nil, err
	}
	if err := t.checkMode(mode); err != nil {
		return nil, err
	}
	left, n, right := t.around(mode)
	if r, c := m.Dims(); r != n || c != left*right {
		return nil, fmt.Errorf("solvers: cannot fold a %d×%d matrix on mode %d of %v", r, c, mode, shape)
	}
	raw := m.RawMatrix()
	for i := 0; i < n; i++ {
		row := raw.Data[i*raw.Stride : i*raw.Stride+left*right]
		for a := 0; a < left; a++ {
			copy(t.Data[(a*n+i)*right:(a*n+i+1)*right], row[a*right:(a+1)*right])
		}
	}
	return t, nil
}

// ModeProduct returns t ×_mode M, i.e. every mode-n fibre x becomes M·x; M is
// J×I_n (or I_n×J with transpose, giving t ×_mode Mᵀ).
func (t *Tensor) ModeProduct(mode int, m mat.Matrix, transpose bool) (*Tensor, error) {
	if err := t.checkMode(mode); err != nil {
		return nil, err
	}
	if m == nil {
		return nil, errors.New("solvers: mode product with a nil matrix")
	}
	md := denseOf(m)
	raw := md.RawMatrix()
	j, in := raw.Rows, raw.Cols
	tr := blas.NoTrans
	if transpose {
		j, in = in, j
		tr = blas.Trans
	}
	left, n, right := t.around(mode)
	if in != n {
		return nil, fmt.Errorf("solvers: mode-%d product needs %d columns, matrix gives %d", mode, n, in)
	}
	shape := append([]int(nil), t.Shape...)
	shape[mode] = j
	out := mustZeros(shape...)
	k := kernels()
	if right == 1 {
		// Y (left×J) = X (left×n) · op(M)ᵀ
		tB := blas.Trans
		if transpose {
			tB = blas.NoTrans
		}
		k.gemm(blas.NoTrans, tB, left, j, n, 1, t.Data, n, raw.Data, raw.Stride, 0, out.Data, j)
		return out, nil
	}
	for a := 0; a < left; a++ {
		k.gemm(tr, blas.NoTrans, j, right, n, 1, raw.Data, raw.Stride, t.Data[a*n*right:], right, 0, out.Data[a*j*right:], right)
	}
	return out, nil
}

// denseOf returns m as a *mat.Dense without copying when it already is one.
func denseOf(m mat.Matrix) *mat.Dense {
	if d, ok := m.(*mat.Dense); ok {
		return d
	}
	return mat.DenseCopyOf(m)
}

// compact returns the row-major data of m with stride equal to its column count.
func compact(m mat.Matrix) (rows, cols int, data []float64) {
	d := denseOf(m)
	raw := d.RawMatrix()
	if raw.Stride == raw.Cols {
		return raw.Rows, raw.Cols, raw.Data[:raw.Rows*raw.Cols]
	}
	c := mat.DenseCopyOf(d).RawMatrix()
	return c.Rows, c.Cols, c.Data
}

// TensorFromMatrix views a matrix as a 2-way tensor (copying only if strided).
func TensorFromMatrix(m mat.Matrix) *Tensor {
	r, c, data := compact(m)
	return &Tensor{Shape: []int{r, c}, Data: data}
}

// TensorizeMatrix reshapes an out×in matrix with out = Π outModes[k] and
// in = Π inModes[k] into the d-way tensor with modes outModes[k]·inModes[k]
// (index (i_k, j_k) in C order), the layout of a TT-matrix (Novikov et al. 2015).
func TensorizeMatrix(w mat.Matrix, outModes, inModes []int) (*Tensor, error) {
	rows, cols, data := compact(w)
	if err := checkModes(rows, cols, outModes, inModes); err != nil {
		return nil, err
	}
	d := len(outModes)
	t, err := NewTensor(append(append([]int(nil), outModes...), inModes...), data)
	if err != nil {
		return nil, err
	}
	perm := make([]int, 0, 2*d)
	for k := 0; k < d; k++ {
		perm = append(perm, k, d+k)
	}
	p, err := t.Permute(perm...)
	if err != nil {
		return nil, err
	}
	shape := make([]int, d)
	for k := range shape {
		shape[k] = outModes[k] * inModes[k]
	}
	return p.Reshape(shape...)
}

// MatrixFromTensorized inverts TensorizeMatrix.
func MatrixFromTensorized(t *Tensor, outModes, inModes []int) (*mat.Dense, error) {
	d := len(outModes)
	if len(t.Shape) != d || len(inModes) != d {
		return nil, fmt.Errorf("solvers: tensor %v does not match %d mode pairs", t.Shape, d)
	}
	pairs := make([]int, 0, 2*d)
	for k := 0; k < d; k++ {
		if t.Shape[k] != outModes[k]*inModes[k] {
			return nil, fmt.Errorf("solvers: tensor mode %d is %d, not %d·%d", k, t.Shape[k], outModes[k], inModes[k])
		}
		pairs = append(pairs, outModes[k], inModes[k])
	}
	p, err := t.Reshape(pairs...)
	if err != nil {
		return nil, err
	}
	perm := make([]int, 2*d)
	for k := 0; k < d; k++ {
		perm[k] = 2 * k
		perm[d+k] = 2*k + 1
	}
	q, err := p.Permute(perm...)
	if err != nil {
		return nil, err
	}
	rows, cols := 1, 1
	for k := 0; k < d; k++ {
		rows *= outModes[k]
		cols *= inModes[k]
	}
	return mat.NewDense(rows, cols, q.Data), nil
}

func checkModes(rows, cols int, outModes, inModes []int) error {
	if len(outModes) == 0 || len(outModes) != len(inModes) {
		return fmt.Errorf("solvers: need equally many output and input modes, have %v and %v", outModes, inModes)
	}
	po, pi := 1, 1
	for k := range outModes {
		if outModes[k] <= 0 || inModes[k] <= 0 {
			return fmt.Errorf("solvers: non-positive mode size in %v / %v", outModes, inModes)
		}
		po *= outModes[k]
		pi *= inModes[k]
	}
	if po != rows || pi != cols {
		return fmt.Errorf("solvers: modes %v × %v do not factor a %d×%d matrix", outModes, inModes, rows, cols)
	}
	return nil
}

// BalancedFactors splits n into d integer factors as equal as possible (product
// exactly n, sorted descending), for tensorizing FC layers; unbalanced splits
// such as 784 = 2·392 give no speed-up (t3f #222).
func BalancedFactors(n, d int) ([]int, error) {
	if n <= 0 || d <= 0 {
		return nil, fmt.Errorf("solvers: cannot split %d into %d factors", n, d)
	}
	var primes []int
	for m, p := n, 2; m > 1; {
		if p*p > m {
			primes = append(primes, m)
			break
		}
		if m%p == 0 {
			primes = append(primes, p)
			m /= p
		} else {
			p++
		}
	}
	f := make([]int, d)
	for i := range f {
		f[i] = 1
	}
	// Largest primes first, each onto the currently smallest factor.
	for i := len(primes) - 1; i >= 0; i-- {
		small := 0
		for k := range f {
			if f[k] < f[small] {
				small = k
			}
		}
		f[small] *= primes[i]
	}
	for i := 1; i < d; i++ {
		for j := i; j > 0 && f[j] > f[j-1]; j-- {
			f[j], f[j-1] = f[j-1], f[j]
		}
	}
	return f, nil
}

// RelativeError returns ‖a−b‖_F / ‖a‖_F (or ‖a−b‖_F when a is zero).
func RelativeError(a, b *Tensor) (float64, error) {
	if len(a.Data) != len(b.Data) {
		return 0, fmt.Errorf("solvers: comparing tensors of %d and %d values", len(a.Data), len(b.Data))
	}
	var diff, ref float64
	for i, v := range a.Data {
		e := v - b.Data[i]
		diff += e * e
		ref += v * v
	}
	if ref == 0 {
		return math.Sqrt(diff), nil
	}
	return math.Sqrt(diff / ref), nil
}

func frobenius(x []float64) float64 {
	var ssq float64
	for _, v := range x {
		ssq += v * v
	}
	if !math.IsInf(ssq, 0) && (ssq == 0 || ssq > 1e-280) {
		return math.Sqrt(ssq)
	}
	// Overflow or underflow of the plain sum: rescale by the largest entry.
	var big float64
	for _, v := range x {
		big = math.Max(big, math.Abs(v))
	}
	ssq = 0
	for _, v := range x {
		ssq += (v / big) * (v / big)
	}
	return big * math.Sqrt(ssq)
}

// checkInput rejects what no factorization can use: non-finite and all-zero data.
func checkInput(what string, x []float64) error {
	nonzero := false
	for i, v := range x {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("solvers: %s: entry %d is %v", what, i, v)
		}
		if v != 0 {
			nonzero = true
		}
	}
	if !nonzero {
		return fmt.Errorf("solvers: %s: all entries are zero, nothing to factorize", what)
	}
	return nil
}
