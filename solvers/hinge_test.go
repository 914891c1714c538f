package solvers

import (
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// mulFloat32 multiplies in float32 arithmetic, like the runtime would.
func mulFloat32(a, b mat.Matrix) [][]float32 {
	r, k := a.Dims()
	_, c := b.Dims()
	out := make([][]float32, r)
	for i := range out {
		out[i] = make([]float32, c)
		for j := 0; j < c; j++ {
			var sum float32
			for q := 0; q < k; q++ {
				sum += float32(a.At(i, q)) * float32(b.At(q, j))
			}
			out[i][j] = sum
		}
	}
	return out
}

func float32Matrix(rows [][]float32) *mat.Dense {
	out := mat.NewDense(len(rows), len(rows[0]), nil)
	for i, row := range rows {
		for j, v := range row {
			out.Set(i, j, float64(v))
		}
	}
	return out
}

// C.1 invariant 1: svd2 is function-preserving in float32, for d ≥ n and d < n.
func TestHingeSVD2PreservesFunction(t *testing.T) {
	rng := rand.New(rand.NewPCG(31, 31))
	for _, shape := range [][2]int{{3 * 3 * 8, 16}, {3 * 3 * 4, 64}, {16, 16}, {1, 5}} {
		d, n := shape[0], shape[1]
		w := debutRandomMatrix(rng, d, n)
		wNew, a, err := HingeSVD2(w)
		if err != nil {
			t.Fatal(err)
		}
		k := min(d, n)
		if r, c := wNew.Dims(); r != d || c != k {
			t.Fatalf("%dx%d: new conv weight is %d×%d, want %d×%d", d, n, r, c, d, k)
		}
		if r, c := a.Dims(); r != k || c != n {
			t.Fatalf("%dx%d: A is %d×%d, want %d×%d", d, n, r, c, k, n)
		}
		x := debutRandomMatrix(rng, 50, d) // im2col patches
		want := mulFloat32(x, w)
		hidden := float32Matrix(mulFloat32(x, wNew))
		got := mulFloat32(hidden, a)
		worst, scale := 0.0, 0.0
		for i := range want {
			for j := range want[i] {
				worst = math.Max(worst, math.Abs(float64(got[i][j]-want[i][j])))
				scale = math.Max(scale, math.Abs(float64(want[i][j])))
			}
		}
		if worst >= 1e-5*scale {
			t.Errorf("%d×%d: conv→1×1 differs from the original conv by %g (‖out‖∞ %g)", d, n, worst, scale)
		}
	}
	bad := mat.NewDense(2, 2, []float64{1, math.NaN(), 0, 1})
	if _, _, err := HingeSVD2(bad); err == nil {
		t.Error("NaN weight accepted")
	}
}

// C.1 invariant 2: row norms of A are the singular values (sorted), column
// norms of A are the filter norms.
func TestHingeSVD2Norms(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	for _, shape := range [][2]int{{27, 12}, {9, 20}} {
		d, n := shape[0], shape[1]
		w := debutRandomMatrix(rng, d, n)
		_, a, err := HingeSVD2(w)
		if err != nil {
			t.Fatal(err)
		}
		// Singular values from the eigenvalues of WᵀW or WWᵀ, an independent route.
		var gram mat.SymDense
		if d >= n {
			gram.SymOuterK(1, w.T())
		} else {
			gram.SymOuterK(1, w)
		}
		var eig mat.EigenSym
		if !eig.Factorize(&gram, false) {
			t.Fatal("eigen failed")
		}
		vals := eig.Values(nil)
		sort.Sort(sort.Reverse(sort.Float64Slice(vals)))
		rows := HingeGroupNorms(a, HingeRows)
		for i, nrm := range rows {
			if sv := math.Sqrt(math.Max(vals[i], 0)); math.Abs(nrm-sv) > 1e-10*vals[0] {
				t.Errorf("%d×%d: row %d norm %g, singular value %g", d, n, i, nrm, sv)
			}
			if i > 0 && nrm > rows[i-1]*(1+1e-12) {
				t.Errorf("%d×%d: row norms not sorted", d, n)
			}
		}
		cols := HingeGroupNorms(a, HingeColumns)
		for j, nrm := range cols {
			filter := mat.Norm(w.ColView(j), 2)
			if math.Abs(nrm-filter) > 1e-12*filter {
				t.Errorf("%d×%d: column %d norm %g, filter norm %g", d, n, j, nrm, filter)
			}
		}
	}
}

// C.1 invariant 3: the ℓ2,1 prox zeroes small groups and shrinks the rest by τ.
func TestHingeProxL21(t *testing.T) {
	rng := rand.New(rand.NewPCG(33, 33))
	for _, groups := range []HingeGroups{HingeRows, HingeColumns} {
		a := debutRandomMatrix(rng, 6, 9)
		// A zero group, and a group whose norm equals τ exactly.
		const tau = 1.5
		for i := 0; i < 6; i++ {
			for j := 0; j < 9; j++ {
				if (groups == HingeRows && i == 2) || (groups == HingeColumns && j == 2) {
					a.Set(i, j, 0)
				}
			}
		}
		if groups == HingeRows {
			a.SetRow(4, []float64{tau, 0, 0, 0, 0, 0, 0, 0, 0})
		} else {
			a.SetCol(4, []float64{0, tau, 0, 0, 0, 0})
		}
		before := mat.DenseCopyOf(a)
		normsBefore := HingeGroupNorms(before, groups)
		if err := HingeProx(a, groups, tau, HingeL21); err != nil {
			t.Fatal(err)
		}
		normsAfter := HingeGroupNorms(a, groups)
		for g, nb := range normsBefore {
			vb, va := hingeGroup(before, groups, g), hingeGroup(a, groups, g)
			if nb <= tau {
				for _, v := range va {
					if v != 0 {
						t.Fatalf("groups %v: group %d (norm %g ≤ τ) not exactly zero", groups, g, nb)
					}
				}
				continue
			}
			if math.Abs(normsAfter[g]-(nb-tau)) > 1e-7 {
				t.Errorf("groups %v: group %d norm %g → %g, want shrink by %g", groups, g, nb, normsAfter[g], tau)
			}
			cos := floatsDot(vb, va) / (nb * normsAfter[g])
			if math.Abs(cos-1) > 1e-12 {
				t.Errorf("groups %v: group %d direction changed (cos %g)", groups, g, cos)
			}
		}
		same := mat.DenseCopyOf(before)
		if err := HingeProx(same, groups, 0, HingeL21); err != nil {
			t.Fatal(err)
		}
		if !mat.Equal(same, before) {
			t.Errorf("groups %v: τ = 0 changed A", groups)
		}
	}
	a := mat.NewDense(2, 2, nil)
	if err := HingeProx(a, HingeRows, -1, HingeL21); err == nil {
		t.Error("negative τ accepted")
	}
	if err := HingeProx(a, HingeRows, math.NaN(), HingeL21); err == nil {
		t.Error("NaN τ accepted")
	}
}

func hingeGroup(a *mat.Dense, groups HingeGroups, g int) []float64 {
	if groups == HingeRows {
		return mat.Row(nil, g, a)
	}
	return mat.Col(nil, g, a)
}

func floatsDot(x, y []float64) float64 {
	s := 0.0
	for i := range x {
		s += x[i] * y[i]
	}
	return s
}

// C.1 invariant 4: half-thresholding jumps from 0 to 2/3 at θ and rises toward 1.
func TestHingeProxHalfThreshold(t *testing.T) {
	for _, tau := range []float64{1e-3, 0.05, 1, 7} {
		theta := math.Cbrt(54) / 4 * math.Pow(tau, 2.0/3)
		if s := HingeProxScale(theta, tau, HingeL21Half); s != 0 {
			t.Errorf("τ=%g: scale %g at θ", tau, s)
		}
		if s := HingeProxScale(theta*0.999, tau, HingeL21Half); s != 0 {
			t.Errorf("τ=%g: scale %g below θ", tau, s)
		}
		if s := HingeProxScale(theta*(1+1e-12), tau, HingeL21Half); math.Abs(s-2.0/3) > 1e-5 {
			t.Errorf("τ=%g: scale %g just above θ, want 2/3", tau, s)
		}
		prev := 2.0 / 3
		for _, f := range []float64{1.01, 1.1, 1.5, 2, 5, 20, 100, 1e4} {
			s := HingeProxScale(theta*f, tau, HingeL21Half)
			if s < prev || s >= 1 {
				t.Errorf("τ=%g: scale %g at %g·θ not in [%g, 1)", tau, s, f, prev)
			}
			prev = s
		}
		if prev < 0.999 {
			t.Errorf("τ=%g: scale %g far above θ, want → 1", tau, prev)
		}
	}
	// The prox applies the scale to the whole group.
	a := mat.NewDense(2, 3, []float64{3, 4, 0, 0.1, 0, 0})
	if err := HingeProx(a, HingeRows, 1, HingeL21Half); err != nil {
		t.Fatal(err)
	}
	s := HingeProxScale(5, 1, HingeL21Half)
	if a.At(0, 0) != 3*s || a.At(0, 1) != 4*s || a.At(1, 0) != 0 {
		t.Errorf("half-threshold prox gave %v", mat.Formatted(a))
	}
}

// C.1 invariant 8: the selection rule.
func TestHingeSelectGroups(t *testing.T) {
	rng := rand.New(rand.NewPCG(34, 34))
	for trial := 0; trial < 50; trial++ {
		g := 5 + rng.IntN(60)
		norms := make([]float64, g)
		for i := range norms {
			if rng.IntN(3) > 0 {
				norms[i] = rng.Float64() * 0.1
			}
		}
		kmin := int(math.Floor(0.2 * float64(g)))
		sorted := slices.Clone(norms)
		sort.Sort(sort.Reverse(sort.Float64Slice(sorted)))
		tK := sorted[kmin-1]
		var prev []int
		for step, thr := range []float64{0, 1e-4, 1e-3, 0.01, 0.03, 0.05, 0.08, 0.2, 1} {
			kept, err := HingeSelectGroups(norms, thr, 0.2, 1)
			if err != nil {
				t.Fatal(err)
			}
			if len(kept) < kmin {
				t.Fatalf("G=%d T=%g: kept %d < floor(0.2·G)=%d", g, thr, len(kept), kmin)
			}
			if thr > 0 && thr <= tK {
				for i, n := range norms {
					if n >= thr && !slices.Contains(kept, i) {
						t.Errorf("G=%d T=%g: group %d (norm %g ≥ T) dropped", g, thr, i, n)
					}
				}
			}
			if step > 0 && tK > 0 {
				for _, i := range kept {
					if !slices.Contains(prev, i) {
						t.Errorf("G=%d: group %d kept at T=%g but not at a smaller T", g, i, thr)
					}
				}
			}
			prev = kept
		}
		k1, _ := HingeSelectGroups(norms, 0.05, 0.2, 1)
		other := make([]float64, g)
		for i := range other {
			other[i] = rng.Float64()
		}
		r2, err := HingeSelectTop(other, len(k1))
		if err != nil {
			t.Fatal(err)
		}
		if len(r2) != len(k1) {
			t.Errorf("paired selection kept %d, want %d", len(r2), len(k1))
		}
	}
	// All zero: k_min groups, reproducible for a seed.
	zeros := make([]float64, 20)
	a, _ := HingeSelectGroups(zeros, 0.01, 0.2, 5)
	b, _ := HingeSelectGroups(zeros, 0.01, 0.2, 5)
	if len(a) != 4 || !slices.Equal(a, b) {
		t.Errorf("all-zero norms: kept %v and %v", a, b)
	}
	// t = 0: every nonzero group plus zero groups up to k_min.
	few := make([]float64, 20)
	few[3], few[11] = 0.5, 0.001
	c, _ := HingeSelectGroups(few, 0.01, 0.2, 5)
	if len(c) != 4 || !slices.Contains(c, 3) || !slices.Contains(c, 11) {
		t.Errorf("t = 0 case kept %v", c)
	}
	// Strict comparison at T = 0 drops exact zeros when enough nonzero groups exist.
	d, _ := HingeSelectGroups([]float64{0, 1, 2, 3, 4, 0, 5, 6, 7, 8}, 0, 0.2, 1)
	if slices.Contains(d, 0) || slices.Contains(d, 5) || len(d) != 8 {
		t.Errorf("T = 0 kept %v", d)
	}
	top, _ := HingeSelectTop([]float64{1, 3, 3, 2}, 2)
	if !slices.Equal(top, []int{1, 2}) {
		t.Errorf("top-2 of ties %v", top)
	}
	for _, bad := range [][]float64{nil, {1, math.NaN()}, {-1, 1}} {
		if _, err := HingeSelectGroups(bad, 0.1, 0.2, 1); err == nil {
			t.Errorf("norms %v accepted", bad)
		}
	}
	if _, err := HingeSelectTop([]float64{1}, 2); err == nil {
		t.Error("keeping more groups than exist accepted")
	}
}

// C.1 invariants 5 and 6: exact removal and the merge identity.
func TestHingeWeightAlgebra(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 35))
	d, n := 18, 8
	w := debutRandomMatrix(rng, d, n)
	a := debutRandomMatrix(rng, n, n)
	biasConv := []float64{1, -2, 3, 0.5, 0, 1, 2, -1}
	biasA := []float64{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8}
	x := debutRandomMatrix(rng, 10, d)
	affine := func(x, w mat.Matrix, b []float64) *mat.Dense {
		var out mat.Dense
		out.Mul(x, w)
		r, c := out.Dims()
		for i := 0; i < r; i++ {
			for j := 0; j < c; j++ {
				if b != nil {
					out.Set(i, j, out.At(i, j)+b[j])
				}
			}
		}
		return &out
	}
	reference := affine(affine(x, w, biasConv), a, biasA)

	// Merge: conv → 1×1 equals one conv.
	merged, bias, err := HingeMerge(w, a, biasConv, biasA)
	if err != nil {
		t.Fatal(err)
	}
	if diff := debutMaxAbsDiff(affine(x, merged, bias), reference); diff > 1e-12 {
		t.Errorf("merge differs by %g", diff)
	}

	// Pruning: zero columns outside K are removable exactly.
	keep := []int{0, 3, 4, 7}
	pruned := mat.DenseCopyOf(a)
	for j := 0; j < n; j++ {
		if !slices.Contains(keep, j) {
			for i := 0; i < n; i++ {
				pruned.Set(i, j, 0)
			}
		}
	}
	full := affine(affine(x, w, nil), pruned, biasA)
	wK, bK, err := HingePrune(w, pruned, nil, biasA, keep)
	if err != nil {
		t.Fatal(err)
	}
	got := affine(x, wK, bK)
	for q, j := range keep {
		for i := 0; i < 10; i++ {
			if math.Abs(got.At(i, q)-full.At(i, j)) > 1e-12 {
				t.Fatalf("pruned output channel %d differs", j)
			}
		}
	}
	// With the bias on the conv instead: b' = A[:,K]ᵀ·b_conv + b_A[K].
	fullConvBias := affine(affine(x, w, biasConv), pruned, biasA)
	wK, bK, _ = HingePrune(w, pruned, biasConv, biasA, keep)
	got = affine(x, wK, bK)
	for q, j := range keep {
		if math.Abs(got.At(2, q)-fullConvBias.At(2, j)) > 1e-12 {
			t.Fatalf("pruned channel %d with conv bias differs", j)
		}
	}

	// Decomposition: zero rows outside R are removable exactly.
	rows := []int{1, 2, 6}
	decomposed := mat.DenseCopyOf(a)
	for i := 0; i < n; i++ {
		if !slices.Contains(rows, i) {
			decomposed.SetRow(i, make([]float64, n))
		}
	}
	wR, aR, bR, err := HingeSlice(w, decomposed, biasA, rows, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, c := wR.Dims(); c != len(rows) {
		t.Fatalf("decomposed conv has %d filters", c)
	}
	want := affine(affine(x, w, nil), decomposed, biasA)
	if diff := debutMaxAbsDiff(affine(affine(x, wR, nil), aR, bR), want); diff > 1e-12 {
		t.Errorf("decomposition differs by %g", diff)
	}
	// Both (VGG): rows R and columns K.
	both := mat.DenseCopyOf(decomposed)
	for j := 0; j < n; j++ {
		if !slices.Contains(keep, j) {
			for i := 0; i < n; i++ {
				both.Set(i, j, 0)
			}
		}
	}
	wRR, aRK, bKK, err := HingeSlice(w, both, biasA, rows, keep)
	if err != nil {
		t.Fatal(err)
	}
	outBoth := affine(affine(x, wRR, nil), aRK, bKK)
	wantBoth := affine(affine(x, w, nil), both, biasA)
	for q, j := range keep {
		if math.Abs(outBoth.At(5, q)-wantBoth.At(5, j)) > 1e-12 {
			t.Fatalf("rows+columns channel %d differs", j)
		}
	}

	if _, _, _, err := HingeSlice(w, a, nil, []int{3, 1}, nil); err == nil {
		t.Error("unsorted indices accepted")
	}
	if _, _, _, err := HingeSlice(w, a, nil, []int{9}, nil); err == nil {
		t.Error("out-of-range index accepted")
	}
	if _, _, _, err := HingeSlice(w, debutRandomMatrix(rng, 5, 5), nil, nil, nil); err == nil {
		t.Error("mismatched A accepted")
	}
	if _, _, err := HingeMerge(w, a, []float64{1}, nil); err == nil {
		t.Error("short conv bias accepted")
	}
}

// C.1.9: on a non-increasing step function the search ends within the
// tolerance when a step lands there, and reports failure (with the bracket
// above the target) when one step jumps over the whole window.
func TestHingeSearchThreshold(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	norms := make([]float64, 1000)
	costs := make([]float64, 1000)
	for i := range norms {
		norms[i] = rng.ExpFloat64()
		costs[i] = 0.0005 + 0.0015*rng.Float64() // each step below 0.0015: the window is reachable
	}
	total := 0.0
	for _, c := range costs {
		total += c
	}
	calls := 0
	ratio := func(th float64) (float64, error) {
		calls++
		r := 1.0
		for i, n := range norms {
			if n < th {
				r -= costs[i] / total * 0.9
			}
		}
		return r, nil
	}
	prev := 2.0
	for _, th := range []float64{0, 0.1, 0.5, 1, 2, 5} {
		r, _ := ratio(th)
		if r > prev {
			t.Fatalf("test ratio not monotone")
		}
		prev = r
	}
	for _, target := range []float64{0.3, 0.5, 0.77} {
		res, err := HingeSearchThreshold(ratio, target, 0.001, 10, 100)
		if err != nil {
			t.Fatal(err)
		}
		if !res.Met || math.Abs(res.Ratio-target) > 0.001 {
			t.Errorf("target %g: ratio %g at T=%g, met %v", target, res.Ratio, res.T, res.Met)
		}
		if r, _ := ratio(res.T); r != res.Ratio {
			t.Errorf("target %g: reported ratio %g, ratio(T) is %g", target, res.Ratio, r)
		}
		if res.Iterations > 100 {
			t.Errorf("%d iterations", res.Iterations)
		}
	}
	// One group worth 0.1 straddles the target: no threshold meets it.
	step := func(th float64) (float64, error) {
		if th > 1 {
			return 0.45, nil
		}
		return 0.55, nil
	}
	res, err := HingeSearchThreshold(step, 0.5, 0.001, 4, 100)
	if err != nil {
		t.Fatal(err)
	}
	if res.Met || res.RatioAbove != 0.55 || res.Above > 1 || res.Above < 0.99 {
		t.Errorf("jump over the window: %+v", res)
	}
	if _, err := HingeSearchThreshold(step, 0, 0.001, 4, 100); err == nil {
		t.Error("target 0 accepted")
	}
}
