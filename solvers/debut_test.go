package solvers

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

// Chains from the official repository as quoted in debut.md §1.3, §4.6 and §5.3.
var (
	lenetChainLines = []string{
		"96 72 4 3 1 48 96 1 2 4 16 48 2 6 4 16 16 2 2 8",
		"256 400 16 25 1 256 256 2 2 16 128 256 1 2 32 128 128 2 2 32 128 128 2 2 64",
		"64 128 2 4 1 64 64 2 2 2 64 64 2 2 4 64 64 2 2 8 64 64 2 2 16 64 64 2 2 32",
	}
	vggConv8Line  = "2048 2304 8 9 1 2048 2048 2 2 8 2048 2048 2 2 16 2048 2048 2 2 32 1024 2048 2 4 64 512 1024 2 4 128 512 512 2 2 256"
	vgg4608Line   = "4096 4608 8 9 1 4096 4096 2 2 8 4096 4096 2 2 16 4096 4096 2 2 32 2048 4096 2 4 64 1024 2048 2 4 128 512 1024 2 4 256"
	resnetConv1B0 = "2048 1024 4 2 1 2048 2048 2 2 4 2048 2048 2 2 8 1024 2048 2 4 16 1024 1024 2 2 32 1024 1024 2 2 64 512 1024 2 4 128 512 512 2 2 256"
	resnetConv2   = "8192 4608 16 9 1 8192 8192 2 2 16 4096 8192 2 4 32 2048 4096 2 4 64 1024 2048 2 4 128 512 1024 2 4 256"
	resnetConv1B1 = "8192 2048 4 1 1 8192 8192 4 4 4 8192 8192 4 4 16 2048 8192 4 16 64 512 2048 2 8 256"
	bipolarSup    = "512 1024 1024 2048 2048 4096 4096 4096 4096 4096 4096 4096 4096 4608"
	bipolarSub    = "2 4 256  2 4 128  2 4 64  2 2 32  2 2 16  2 2 8  8 9 1"
	matrixSup     = "512 512 512 1024 1024 1024 1024 1024 1024 1024 1024 2048 2048 2048 2048 2048 2048 2048"
	matrixSub     = "2 2 256 2 4 128 2 2 64 2 2 32 2 2 16 2 4 8 2 2 4 2 2 2 2 2 1"
	toyChain      = DeButChain{{8, 8, 2, 2, 4}, {8, 12, 2, 3, 2}, {12, 12, 2, 2, 1}}
	smallChain    = DeButChain{{4, 4, 2, 2, 2}, {4, 6, 2, 3, 1}}
)

func debutMustLine(t *testing.T, line string) DeButChain {
	t.Helper()
	c, err := ParseDeButChainLine(line)
	if err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	return c
}

func debutRandomWeights(rng *rand.Rand, chain DeButChain) []DeButWeights {
	out := make([]DeButWeights, len(chain))
	for k, f := range chain {
		w := make([]float64, f.Params())
		for i := range w {
			w[i] = rng.NormFloat64()
		}
		out[k] = DeButWeights{Factor: f, W: w}
	}
	return out
}

func debutRandomMatrix(rng *rand.Rand, r, c int) *mat.Dense {
	m := mat.NewDense(r, c, nil)
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			m.Set(i, j, rng.NormFloat64())
		}
	}
	return m
}

func debutMaxAbsDiff(a, b mat.Matrix) float64 {
	r, c := a.Dims()
	worst := 0.0
	for i := 0; i < r; i++ {
		for j := 0; j < c; j++ {
			worst = math.Max(worst, math.Abs(a.At(i, j)-b.At(i, j)))
		}
	}
	return worst
}

func debutDenseProduct(ws []DeButWeights) *mat.Dense {
	prod := ws[0].Dense()
	for _, w := range ws[1:] {
		var next mat.Dense
		next.Mul(prod, w.Dense())
		prod = &next
	}
	return prod
}

// Invariant 1: validity, support pattern and counts.
func TestDeButFactorValidity(t *testing.T) {
	valid := []DeButFactor{{4, 4, 2, 2, 2}, {4, 6, 2, 3, 1}, {512, 1024, 2, 4, 256}, {4096, 4608, 8, 9, 1}, {5, 7, 5, 7, 1}}
	for _, f := range valid {
		if err := f.Validate(); err != nil {
			t.Errorf("%v: %v", f, err)
		}
	}
	invalid := []DeButFactor{{2730, 2304, 8, 6, 1}, {4, 6, 2, 2, 1}, {8, 8, 2, 2, 3}, {0, 4, 1, 1, 1}, {4, 4, -2, 2, 1}}
	for _, f := range invalid {
		if f.Validate() == nil {
			t.Errorf("%v: accepted", f)
		}
	}
	for _, f := range []DeButFactor{{4, 4, 2, 2, 2}, {4, 6, 2, 3, 1}, {12, 18, 2, 3, 2}, {24, 16, 3, 2, 4}} {
		support := f.Support()
		nnz := 0
		for i := 0; i < f.P; i++ {
			for j := 0; j < f.Q; j++ {
				if support.At(i, j) != 0 {
					nnz++
				}
			}
		}
		if nnz != f.P*f.S || nnz != f.Q*f.R || nnz != f.Params() {
			t.Errorf("%v: %d nonzeros, p·s=%d q·r=%d", f, nnz, f.P*f.S, f.Q*f.R)
		}
		// I_nb ⊗ 1_{r×s} ⊗ I_t built with gonum's Kronecker product.
		eye := func(n int) *mat.Dense {
			m := mat.NewDense(n, n, nil)
			for i := 0; i < n; i++ {
				m.Set(i, i, 1)
			}
			return m
		}
		onesRS := mat.NewDense(f.R, f.S, nil)
		for i := 0; i < f.R; i++ {
			for j := 0; j < f.S; j++ {
				onesRS.Set(i, j, 1)
			}
		}
		var inner, want mat.Dense
		inner.Kronecker(onesRS, eye(f.T))
		want.Kronecker(eye(f.Blocks()), &inner)
		if !mat.Equal(&want, support) {
			t.Errorf("%v: support differs from I_nb ⊗ 1 ⊗ I_t", f)
		}
	}
	chain := debutMustLine(t, lenetChainLines[1])
	twiddle := 0
	for _, w := range debutRandomWeights(rand.New(rand.NewPCG(1, 1)), chain) {
		twiddle += len(w.Twiddle())
	}
	sum := 0
	for _, f := range chain {
		sum += f.P * f.S
	}
	if twiddle != sum {
		t.Errorf("twiddle length %d, want Σ p·s = %d", twiddle, sum)
	}
}

// Invariant 2: the structured forward, the recipe-B MatMul layout and the
// dense product agree.
func TestDeButForwardEquivalence(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	for _, chain := range []DeButChain{smallChain, toyChain, debutMustLine(t, lenetChainLines[0]), {{8, 8, 2, 2, 1}, {8, 8, 2, 2, 2}, {8, 8, 2, 2, 4}}} {
		ws := debutRandomWeights(rng, chain)
		x := debutRandomMatrix(rng, 5, chain.Cols())
		got, err := ApplyDeButChain(ws, x)
		if err != nil {
			t.Fatal(err)
		}
		var want mat.Dense
		want.Mul(x, debutDenseProduct(ws).T())
		if d := debutMaxAbsDiff(got, &want); d > 1e-12 {
			t.Errorf("%v: chain forward differs from x·(ΠB)ᵀ by %g", chain, d)
		}
		// Recipe B per factor: nb·t GEMMs (Bt×s)·(s×r) with Wm[j,d,c,a].
		cur := mat.DenseCopyOf(x)
		for k := len(ws) - 1; k >= 0; k-- {
			f := ws[k].Factor
			wm := ws[k].MatMulWeight()
			batch, _ := cur.Dims()
			next := mat.NewDense(batch, f.P, nil)
			for j := 0; j < f.Blocks(); j++ {
				for d := 0; d < f.T; d++ {
					for b := 0; b < batch; b++ {
						for a := 0; a < f.R; a++ {
							sum := 0.0
							for c := 0; c < f.S; c++ {
								sum += cur.At(b, j*f.S*f.T+c*f.T+d) * wm[((j*f.T+d)*f.S+c)*f.R+a]
							}
							next.Set(b, j*f.R*f.T+a*f.T+d, sum)
						}
					}
				}
			}
			cur = next
		}
		if d := debutMaxAbsDiff(cur, &want); d > 1e-12 {
			t.Errorf("%v: MatMul-layout forward differs by %g", chain, d)
		}
		dense, err := DensifyDeButChain(ws)
		if err != nil {
			t.Fatal(err)
		}
		if d := debutMaxAbsDiff(dense, debutDenseProduct(ws)); d > 1e-12 {
			t.Errorf("%v: DensifyDeButChain differs by %g", chain, d)
		}
	}
}

// Invariant 3: dense → W → twiddle → W → Wm → dense is the identity, zeros included.
func TestDeButLayoutRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	for _, f := range []DeButFactor{{4, 6, 2, 3, 1}, {12, 18, 2, 3, 2}, {24, 16, 3, 2, 4}} {
		w := debutRandomWeights(rng, DeButChain{f})[0]
		w.W[0], w.W[len(w.W)/2] = 0, 0
		dense := w.Dense()
		back, err := DeButWeightsFromDense(f, dense)
		if err != nil {
			t.Fatal(err)
		}
		tw, err := DeButWeightsFromTwiddle(f, back.Twiddle())
		if err != nil {
			t.Fatal(err)
		}
		if len(tw.W) != f.Params() {
			t.Fatalf("%v: twiddle length %d", f, len(tw.W))
		}
		wm := tw.MatMulWeight()
		rebuilt := mat.NewDense(f.P, f.Q, nil)
		for j := 0; j < f.Blocks(); j++ {
			for d := 0; d < f.T; d++ {
				for c := 0; c < f.S; c++ {
					for a := 0; a < f.R; a++ {
						rebuilt.Set(j*f.R*f.T+a*f.T+d, j*f.S*f.T+c*f.T+d, wm[((j*f.T+d)*f.S+c)*f.R+a])
					}
				}
			}
		}
		if !mat.Equal(rebuilt, dense) {
			t.Errorf("%v: layout round trip changed the matrix", f)
		}
		// The official twiddle offset formula: off + ((j·t+d)·r+a)·s+c.
		tws := w.Twiddle()
		if got := tws[((1*f.T+0)*f.R+1)*f.S+0]; f.Blocks() > 1 && got != dense.At(1*f.R*f.T+1*f.T, 1*f.S*f.T) {
			t.Errorf("%v: twiddle offset mismatch", f)
		}
	}
	bad := DeButFactor{4, 6, 2, 3, 1}
	m := bad.Support()
	m.Set(0, 5, 1)
	if _, err := DeButWeightsFromDense(bad, m); err == nil {
		t.Error("off-support nonzero accepted")
	}
}

// Invariant 4: the single-factor chain (m,n,m,n,1) with W = F is the original layer.
func TestDeButSingleFactorChain(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	f := debutRandomMatrix(rng, 7, 5)
	chain := DeButChain{{7, 5, 7, 5, 1}}
	w, err := DeButWeightsFromDense(chain[0], f)
	if err != nil {
		t.Fatal(err)
	}
	x := debutRandomMatrix(rng, 3, 5)
	got, err := ApplyDeButChain([]DeButWeights{w}, x)
	if err != nil {
		t.Fatal(err)
	}
	var want mat.Dense
	want.Mul(x, f.T())
	if d := debutMaxAbsDiff(got, &want); d > 1e-13 {
		t.Errorf("single-factor forward differs by %g", d)
	}
	var als DeBut
	if err := als.Fit(f, chain, &DeButOptions{Iterations: 1}); err != nil {
		t.Fatal(err)
	}
	if e := als.Errors()[0]; e > 1e-15 {
		t.Errorf("ALS on the dense chain leaves error %g", e)
	}
}

// Invariant 5: canonical chains are dense with exactly one path, and the product
// equals the closed-form path product.
func TestDeButCanonicalUniquePath(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	for _, chain := range []DeButChain{smallChain, toyChain, debutMustLine(t, lenetChainLines[0]), debutMustLine(t, lenetChainLines[2])} {
		if err := chain.CanonicalError(); err != nil {
			t.Fatal(err)
		}
		supports := make([]DeButWeights, len(chain))
		for k, f := range chain {
			supports[k] = DeButWeights{Factor: f, W: make([]float64, f.Params())}
			for i := range supports[k].W {
				supports[k].W[i] = 1
			}
		}
		count := debutDenseProduct(supports)
		m, n := chain.Rows(), chain.Cols()
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				if count.At(i, j) != 1 {
					t.Fatalf("%v: %v paths join output %d and input %d", chain, count.At(i, j), i, j)
				}
			}
		}
		ws := debutRandomWeights(rng, chain)
		prod := debutDenseProduct(ws)
		for i := 0; i < m; i++ {
			for j := 0; j < n; j++ {
				aDigits := debutMixedRadixDigits(i, chain, func(f DeButFactor) int { return f.R })
				cDigits := debutMixedRadixDigits(j, chain, func(f DeButFactor) int { return f.S })
				want := 1.0
				for k, f := range chain {
					blk, d := 0, 0
					for q := 0; q < k; q++ {
						blk = blk*chain[q].S + cDigits[q]
					}
					for q := k + 1; q < len(chain); q++ {
						d = d*chain[q].R + aDigits[q]
					}
					want *= ws[k].W[((blk*f.R+aDigits[k])*f.S+cDigits[k])*f.T+d]
				}
				if math.Abs(prod.At(i, j)-want) > 1e-12*math.Max(1, math.Abs(want)) {
					t.Fatalf("%v: entry (%d,%d) = %g, path product %g", chain, i, j, prod.At(i, j), want)
				}
			}
		}
	}
}

func debutMixedRadixDigits(v int, chain DeButChain, radix func(DeButFactor) int) []int {
	digits := make([]int, len(chain))
	for k := len(chain) - 1; k >= 0; k-- {
		digits[k] = v % radix(chain[k])
		v /= radix(chain[k])
	}
	return digits
}

// Invariant 6: the bipolar test.
func TestDeButBipolar(t *testing.T) {
	var dense []DeButChain
	for _, line := range append(append([]string{}, lenetChainLines...), vggConv8Line, vgg4608Line, resnetConv1B0, resnetConv2, resnetConv1B1) {
		dense = append(dense, debutMustLine(t, line))
	}
	for _, pair := range [][2]string{{bipolarSup, bipolarSub}, {matrixSup, matrixSub}} {
		c, err := ParseDeButSupSub(pair[0], pair[1])
		if err != nil {
			t.Fatal(err)
		}
		dense = append(dense, c)
	}
	dense = append(dense, DeButChain{{8, 8, 2, 2, 1}, {8, 8, 2, 2, 2}, {8, 8, 2, 2, 4}}) // bit-reversed butterfly
	for _, c := range dense {
		ok, err := c.IsDense()
		if err != nil || !ok {
			t.Errorf("%v: bipolar test says dense=%v err=%v, want dense", c, ok, err)
		}
	}
	// R_shapes order (input side first) in the spec; reverse to output side first.
	classDefault := DeButChain{{16, 16, 2, 2, 8}, {16, 16, 2, 2, 4}, {16, 48, 1, 3, 2}, {48, 72, 2, 3, 1}}
	for _, c := range []DeButChain{{{4, 4, 2, 2, 1}, {4, 6, 2, 3, 1}}, classDefault} {
		ok, err := c.IsDense()
		if err != nil || ok {
			t.Errorf("%v: bipolar test says dense=%v err=%v, want not dense", c, ok, err)
		}
	}
	// Cross-check against the integer product of supports on small chains.
	for _, c := range []DeButChain{{{4, 4, 2, 2, 1}, {4, 6, 2, 3, 1}}, smallChain, classDefault} {
		supports := make([]DeButWeights, len(c))
		for k, f := range c {
			supports[k] = DeButWeights{Factor: f, W: make([]float64, f.Params())}
			for i := range supports[k].W {
				supports[k].W[i] = 1
			}
		}
		prod := debutDenseProduct(supports)
		want := mat.Min(prod) > 0
		if got, _ := c.IsDense(); got != want {
			t.Errorf("%v: IsDense %v, support product says %v", c, got, want)
		}
	}
}

// Invariant 7: parameter counts and LC reproduce the paper.
func TestDeButCountsReproducePaper(t *testing.T) {
	fc1 := debutMustLine(t, lenetChainLines[1])
	if fc1.Params() != 7680 || math.Abs(fc1.LC()-0.85) > 5e-5 {
		t.Errorf("LeNet FC1: %d params LC %.4f, want 7680 / 85.00%%", fc1.Params(), fc1.LC()*100)
	}
	if fc1.String() != "128←(2,2,64)128←(2,2,32)128←(1,2,32)256←(2,2,16)256←(16,25,1)400" {
		t.Errorf("LeNet FC1 notation %s", fc1)
	}
	vgg := debutMustLine(t, vgg4608Line)
	sup, err := ParseDeButSupSub(bipolarSup, bipolarSub)
	if err != nil {
		t.Fatal(err)
	}
	if vgg.String() != sup.String() {
		t.Errorf("vgg.txt line %v differs from bipolar_test.sh chain %v", vgg, sup)
	}
	if vgg.Params() != 75776 || math.Abs(vgg.LC()-0.9679) > 5e-5 || vgg.MACs() != 75776 {
		t.Errorf("[512,4608]: %d params LC %.4f%%", vgg.Params(), vgg.LC()*100)
	}
	if c := debutMustLine(t, resnetConv2); c.Params() != 120832 || math.Abs(c.LC()-0.9488) > 5e-5 {
		t.Errorf("ResNet CONV5_2: %d params LC %.4f%%", c.Params(), c.LC()*100)
	}
	if c := debutMustLine(t, resnetConv1B0); c.Params() != 23552 || math.Abs(c.LC()-0.9551) > 5e-5 {
		t.Errorf("ResNet conv1 block 0: %d params LC %.4f%%", c.Params(), c.LC()*100)
	}
	if c := debutMustLine(t, resnetConv1B1); c.Params() != 110592 || math.Abs(c.LC()-0.8945) > 5e-5 {
		t.Errorf("ResNet conv1 blocks 1-2: %d params LC %.4f%%", c.Params(), c.LC()*100)
	}
	if c := debutMustLine(t, lenetChainLines[0]); math.Abs(c.LC()-0.5556) > 5e-5 {
		t.Errorf("LeNet CONV2 LC %.4f%%", c.LC()*100)
	}
	if c := debutMustLine(t, lenetChainLines[2]); c.Params() != 896 || math.Abs(c.LC()-0.8906) > 5e-5 {
		t.Errorf("LeNet FC2: %d params LC %.4f%%", c.Params(), c.LC()*100)
	}
	if c, _ := ParseDeButSupSub(matrixSup, matrixSub); c.Params() != 25600 || math.Abs(c.LC()-0.9756) > 5e-5 {
		t.Errorf("512×2048 chain: %d params LC %.4f%%", c.Params(), c.LC()*100)
	}
	// Model totals (weights swapped for chains; biases unchanged, ResNet adds DeBut biases).
	if got := 61482 - 128*400 + fc1.Params(); got != 17962 {
		t.Errorf("LeNet with DeBut FC1: %d params, want 17,962", got)
	}
	conv8 := debutMustLine(t, vggConv8Line)
	if got := 14991946 - 512*4608 + vgg.Params(); got != 12708426 {
		t.Errorf("VGG CONV13: %d params, want 12,708,426", got)
	}
	if got := 14991946 - 512*2304 + conv8.Params() - 5*(512*4608-vgg.Params()); got != 2432586 {
		t.Errorf("VGG CONV8-13: %d params, want 2,432,586", got)
	}
	const conv3Params = 24576 // resnet50.txt conv3 line, count quoted in the spec
	blocks := [][3]int{{debutMustLine(t, resnetConv1B0).Params(), debutMustLine(t, resnetConv2).Params(), conv3Params}}
	for b := 0; b < 2; b++ {
		blocks = append(blocks, [3]int{debutMustLine(t, resnetConv1B1).Params(), debutMustLine(t, resnetConv2).Params(), conv3Params})
	}
	total := 25557032
	for b, blk := range blocks {
		in1 := 2048
		if b == 0 {
			in1 = 1024
		}
		total += blk[0] + 512 - 512*in1
		total += blk[1] + 512 - 512*4608
		total += blk[2] + 2048 - 2048*512
	}
	if total != 13402152 {
		t.Errorf("ResNet-50 DeBut-bulging: %d params, want 13,402,152", total)
	}
}

// Invariant 8: exact recovery of a representable matrix.
func TestDeButALSExactness(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 8))
	for _, chain := range []DeButChain{toyChain, smallChain, debutMustLine(t, lenetChainLines[0])} {
		truth := debutRandomWeights(rng, chain)
		f := debutDenseProduct(truth)
		for k := range chain {
			init := make([]DeButWeights, len(chain))
			for q := range truth {
				init[q] = DeButWeights{Factor: chain[q], W: append([]float64(nil), truth[q].W...)}
			}
			for i := range init[k].W {
				init[k].W[i] = rng.Float64()
			}
			d := &DeBut{chain: chain, factors: make([][]float64, len(chain))}
			d.rows, d.cols = chain.Rows(), chain.Cols()
			for q, w := range init {
				d.factors[q] = w.W
			}
			als := newDebutALS(d, denseRowMajor(f), mat.Norm(f, 2))
			als.refresh()
			als.update(k)
			for i, v := range d.factors[k] {
				if math.Abs(v-truth[k].W[i]) > 1e-12*math.Max(1, math.Abs(truth[k].W[i])) {
					t.Fatalf("%v factor %d: entry %d recovered as %g, truth %g", chain, k, i, v, truth[k].W[i])
				}
			}
		}
	}
	truth := debutRandomWeights(rng, toyChain)
	f := debutDenseProduct(truth)
	for seed := uint64(1); seed <= 4; seed++ {
		var d DeBut
		if err := d.Fit(f, toyChain, &DeButOptions{Iterations: 6, Seed: seed, Tol: -1}); err != nil {
			t.Fatal(err)
		}
		errs := d.Errors()
		if last := errs[len(errs)-1]; last > 1e-10 {
			t.Errorf("seed %d: toy chain error %g after %d iterations (%v)", seed, last, len(errs), errs)
		}
	}
}

// Invariant 9: errors never increase between consecutive factor updates, and
// iterations alternate sweep direction with N updates each.
func TestDeButALSMonotone(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	cases := []DeButChain{debutMustLine(t, lenetChainLines[1]), debutMustLine(t, lenetChainLines[0]), toyChain, debutMustLine(t, lenetChainLines[2])}
	for _, chain := range cases {
		for _, uniform := range []bool{false, true} {
			f := debutRandomMatrix(rng, chain.Rows(), chain.Cols())
			if uniform {
				for i := 0; i < chain.Rows(); i++ {
					for j := 0; j < chain.Cols(); j++ {
						f.Set(i, j, rng.Float64())
					}
				}
			}
			var d DeBut
			const iters = 7
			if err := d.Fit(f, chain, &DeButOptions{Iterations: iters, Tol: -1, Seed: 3}); err != nil {
				t.Fatal(err)
			}
			ups := d.UpdateErrors()
			if len(ups) != iters*len(chain) || len(d.Errors()) != iters {
				t.Fatalf("%v: %d updates and %d iterations, want %d and %d", chain, len(ups), len(d.Errors()), iters*len(chain), iters)
			}
			prev := d.InitialError()
			for i, e := range ups {
				if e > prev*(1+1e-12) {
					t.Errorf("%v uniform=%v: update %d raised error %.17g → %.17g", chain, uniform, i, prev, e)
				}
				prev = e
			}
			// The reported error is the real error of the returned factors.
			approx, err := d.Dense()
			if err != nil {
				t.Fatal(err)
			}
			var diff mat.Dense
			diff.Sub(f, approx)
			real := mat.Norm(&diff, 2) / mat.Norm(f, 2)
			if last := ups[len(ups)-1]; math.Abs(real-last) > 1e-10 {
				t.Errorf("%v: reported error %g, real %g", chain, last, real)
			}
		}
	}
	// Spec §4.6: Gaussian 128×400 with the LeNet FC1 chain reaches about 0.907 after
	// 10 iterations (other seeds); ours must be in the same place, not above 1.
	f := debutRandomMatrix(rng, 128, 400)
	var d DeBut
	if err := d.Fit(f, debutMustLine(t, lenetChainLines[1]), &DeButOptions{Iterations: 10, Tol: -1, Seed: 1}); err != nil {
		t.Fatal(err)
	}
	if e := d.Errors()[9]; e < 0.89 || e > 0.92 {
		t.Errorf("LeNet FC1 Gaussian error after 10 iterations %g, spec reports 0.9072", e)
	}
}

// Invariant 10: the structured solve equals pinv(M_i)·vec(D_i) with the design
// matrix built explicitly from Kronecker columns.
func TestDeButSolverMatchesPseudoInverse(t *testing.T) {
	rng := rand.New(rand.NewPCG(10, 10))
	for _, chain := range []DeButChain{smallChain, toyChain, debutMustLine(t, lenetChainLines[0])} {
		f := debutRandomMatrix(rng, chain.Rows(), chain.Cols())
		start := debutRandomWeights(rng, chain)
		for k := range chain {
			d := &DeBut{chain: chain, factors: make([][]float64, len(chain)), rows: chain.Rows(), cols: chain.Cols()}
			for q, w := range start {
				d.factors[q] = append([]float64(nil), w.W...)
			}
			if k > 0 {
				for i := range d.factors[k-1] { // an unobservable unit: min-norm must give 0
					if i%7 == 0 {
						d.factors[k-1][i] = 0
					}
				}
			}
			weights := make([]DeButWeights, len(chain))
			for q := range chain {
				weights[q] = DeButWeights{Factor: chain[q], W: append([]float64(nil), d.factors[q]...)}
			}
			als := newDebutALS(d, denseRowMajor(f), mat.Norm(f, 2))
			als.refresh()
			als.update(k)

			fac := chain[k]
			m, n := chain.Rows(), chain.Cols()
			a := debutIdentityOr(weights[:k], m)
			c := debutIdentityOr(weights[k+1:], fac.Q)
			nb, r, s, tt := fac.Blocks(), fac.R, fac.S, fac.T
			w := n / nb
			for blk := 0; blk < nb; blk++ {
				design := mat.NewDense(m*w, r*s*tt, nil)
				for aa := 0; aa < r; aa++ {
					for cc := 0; cc < s; cc++ {
						for dd := 0; dd < tt; dd++ {
							col := (aa*s+cc)*tt + dd
							for i := 0; i < m; i++ {
								for j := 0; j < w; j++ {
									design.Set(i*w+j, col, a.At(i, blk*r*tt+aa*tt+dd)*c.At(blk*s*tt+cc*tt+dd, blk*w+j))
								}
							}
						}
					}
				}
				rhs := mat.NewVecDense(m*w, nil)
				for i := 0; i < m; i++ {
					for j := 0; j < w; j++ {
						rhs.SetVec(i*w+j, f.At(i, blk*w+j))
					}
				}
				want := debutPinvSolve(t, design, rhs)
				for u := 0; u < r*s*tt; u++ {
					got := d.factors[k][blk*r*s*tt+u]
					if math.Abs(got-want.AtVec(u)) > 1e-9*math.Max(1, math.Abs(want.AtVec(u))) {
						t.Fatalf("%v factor %d block %d unit %d: %g, pinv gives %g", chain, k, blk, u, got, want.AtVec(u))
					}
				}
			}
		}
	}
}

func debutIdentityOr(ws []DeButWeights, size int) *mat.Dense {
	if len(ws) > 0 {
		return debutDenseProduct(ws)
	}
	eye := mat.NewDense(size, size, nil)
	for i := 0; i < size; i++ {
		eye.Set(i, i, 1)
	}
	return eye
}

func debutPinvSolve(t *testing.T, a *mat.Dense, b *mat.VecDense) *mat.VecDense {
	t.Helper()
	var svd mat.SVD
	if !svd.Factorize(a, mat.SVDThin) {
		t.Fatal("SVD failed")
	}
	var u, v mat.Dense
	svd.UTo(&u)
	svd.VTo(&v)
	vals := svd.Values(nil)
	_, cols := a.Dims()
	out := mat.NewVecDense(cols, nil)
	var utb mat.VecDense
	utb.MulVec(u.T(), b)
	for i, sv := range vals {
		if sv <= 1e-10*vals[0] {
			continue
		}
		col := v.ColView(i)
		out.AddScaledVec(out, utb.AtVec(i)/sv, col)
	}
	return out
}

// Invariant 11: monotonic/bulging classification.
func TestDeButShape(t *testing.T) {
	if s := debutMustLine(t, lenetChainLines[0]).Shape(); s != DeButBulging {
		t.Errorf("LeNet CONV2 (72→96→48→16→16) classified %v", s)
	}
	for _, line := range []string{vggConv8Line, vgg4608Line, lenetChainLines[1], lenetChainLines[2]} {
		if s := debutMustLine(t, line).Shape(); s != DeButMonotonic {
			t.Errorf("%v classified %v", debutMustLine(t, line), s)
		}
	}
	if s := debutMustLine(t, resnetConv2).Shape(); s != DeButBulging {
		t.Errorf("ResNet conv2 (4608→8192→…→512) classified %v", s)
	}
	dip, err := CanonicalDeButChain([]int{4, 1}, []int{1, 4})
	if err != nil {
		t.Fatal(err)
	}
	if s := dip.Shape(); s != DeButNonMonotonic {
		t.Errorf("%v (4→1→4) classified %v", dip, s)
	}
}

func TestDeButParsing(t *testing.T) {
	c, err := ParseDeButSupSub("4,4, 4 6", "2 2 2 2 3 1")
	if err != nil || c.String() != "4←(2,2,2)4←(2,3,1)6" {
		t.Errorf("sup/sub parse: %v %v", c, err)
	}
	sup, sub := c.SupSub()
	if len(sup) != 4 || len(sub) != 6 || sup[3] != 6 || sub[4] != 3 {
		t.Errorf("SupSub round trip: %v %v", sup, sub)
	}
	bad := []struct{ sup, sub string }{
		{"4 4 4", "2 2 2"},           // odd sup
		{"4 4 4 6", "2 2 2 2 3"},     // partial triple
		{"4 4 4 6", "2 2 2"},         // count mismatch
		{"4 4 5 6", "2 2 2 2 3 1"},   // sizes do not chain
		{"4 4 4 x", "2 2 2 2 3 1"},   // not a number
		{"4 4 4 6", "2 2 3 2 3 1"},   // invalid factor
		{"", ""},                     // empty
		{"4 6 4 6", "2 2 2 2 3 1"},   // q_0 != p_1
		{"4 4 4 6", "2 2 2 2 3 0"},   // zero t
		{"-4 4 4 6", "2 2 2 2 3 1"},  // negative size
		{"4 4 4 6", "2 2 2 2 3 1 1"}, // trailing number
	}
	for _, b := range bad {
		if _, err := ParseDeButSupSub(b.sup, b.sub); err == nil {
			t.Errorf("accepted --sup %q --sub %q", b.sup, b.sub)
		}
	}
	if _, err := ParseDeButChainLine("96 72 4 3 1 48 96 1 2"); err == nil {
		t.Error("accepted a partial group of 5")
	}
	if _, err := ParseDeButChainLine(""); err == nil {
		t.Error("accepted an empty line")
	}
	if err := (DeButChain{{8, 8, 2, 2, 1}, {8, 8, 2, 2, 2}, {8, 8, 2, 2, 4}}).CanonicalError(); err == nil {
		t.Error("bit-reversed butterfly reported canonical")
	}
}

func TestDeButDegenerateInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 11))
	var d DeBut
	f := debutRandomMatrix(rng, 4, 6)
	if err := d.Fit(debutRandomMatrix(rng, 4, 5), smallChain, nil); err == nil || !strings.Contains(err.Error(), "4×5") {
		t.Errorf("size mismatch: %v", err)
	}
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		g := mat.DenseCopyOf(f)
		g.Set(2, 3, bad)
		if err := d.Fit(g, smallChain, nil); err == nil || !strings.Contains(err.Error(), "(2,3)") {
			t.Errorf("entry %g: %v", bad, err)
		}
	}
	if err := d.Fit(mat.NewDense(4, 6, nil), smallChain, nil); err == nil || !strings.Contains(err.Error(), "zeros") {
		t.Errorf("zero matrix: %v", err)
	}
	if err := d.Fit(mat.NewDense(8, 8, nil), DeButChain{{8, 8, 2, 2, 1}, {8, 8, 2, 2, 2}, {8, 8, 2, 2, 4}}, nil); err == nil || !strings.Contains(err.Error(), "canonical") {
		t.Errorf("non-canonical chain: %v", err)
	}
	if err := d.Fit(f, nil, nil); err == nil {
		t.Error("empty chain accepted")
	}
	if err := d.Fit(f, smallChain, &DeButOptions{Iterations: -1}); err == nil {
		t.Error("negative iterations accepted")
	}
	if err := d.Fit(f, smallChain, &DeButOptions{Init: debutRandomWeights(rng, toyChain)}); err == nil {
		t.Error("init for another chain accepted")
	}
	nanInit := debutRandomWeights(rng, smallChain)
	nanInit[1].W[2] = math.NaN()
	if err := d.Fit(f, smallChain, &DeButOptions{Init: nanInit}); err == nil {
		t.Error("NaN init accepted")
	}
	if _, err := ApplyDeButChain(debutRandomWeights(rng, smallChain), debutRandomMatrix(rng, 2, 5)); err == nil {
		t.Error("apply with wrong input width accepted")
	}
	short := debutRandomWeights(rng, smallChain)
	short[1].W = short[1].W[:3]
	if _, err := DensifyDeButChain(short); err == nil {
		t.Error("short weight vector accepted")
	}
}

func TestDeButDeterministicAndEarlyStop(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 12))
	chain := debutMustLine(t, lenetChainLines[2])
	f := debutRandomMatrix(rng, chain.Rows(), chain.Cols())
	var a, b DeBut
	if err := a.Fit(f, chain, &DeButOptions{Iterations: 4, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	if err := b.Fit(f, chain, &DeButOptions{Iterations: 4, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	da, _ := a.Dense()
	db, _ := b.Dense()
	if !mat.Equal(da, db) {
		t.Error("same seed gave different factors")
	}
	var unfitted DeBut
	if _, err := unfitted.Dense(); err == nil {
		t.Error("Dense before Fit did not fail")
	}
	var c DeBut
	if err := c.Fit(f, chain, &DeButOptions{Iterations: 200, Tol: 1e-3, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	errs := c.Errors()
	if len(errs) == 200 {
		t.Fatal("Tol never stopped the iteration")
	}
	last, prev := errs[len(errs)-1], errs[len(errs)-2]
	if math.Abs(prev-last) > 1e-3*prev {
		t.Errorf("stopped at relative change %g > tol", math.Abs(prev-last)/prev)
	}
}

func TestDesignDeButChains(t *testing.T) {
	for _, tc := range []struct {
		m, n  int
		ratio float64
	}{{512, 4608, 0.032}, {128, 400, 0.15}, {64, 128, 0.1}, {7, 5, 0.5}, {1, 9, 0.5}, {512, 2048, 0.025}} {
		chains, err := DesignDeButChains(tc.m, tc.n, tc.ratio, 5)
		if err != nil {
			t.Fatal(err)
		}
		if len(chains) == 0 {
			t.Fatalf("%d×%d: no proposals", tc.m, tc.n)
		}
		best := math.Inf(1)
		for i, c := range chains {
			if c.Rows() != tc.m || c.Cols() != tc.n {
				t.Errorf("%d×%d: proposal %v has size %d×%d", tc.m, tc.n, c, c.Rows(), c.Cols())
			}
			if err := c.CanonicalError(); err != nil {
				t.Error(err)
			}
			if ok, err := c.IsDense(); !ok || err != nil {
				t.Errorf("%v not dense", c)
			}
			if c.Shape() != DeButMonotonic {
				t.Errorf("%v is %v, want monotonic", c, c.Shape())
			}
			dist := math.Abs(math.Log(float64(c.Params()) / float64(tc.m*tc.n) / tc.ratio))
			if i == 0 {
				best = dist
			} else if dist < best-1e-12 {
				t.Errorf("%d×%d: proposal %d (%v) is closer to the target than proposal 0", tc.m, tc.n, i, c)
			}
		}
	}
	if _, err := DesignDeButChains(0, 4, 0.5, 1); err == nil {
		t.Error("0×4 accepted")
	}
	if _, err := DesignDeButChains(4, 4, math.NaN(), 1); err == nil {
		t.Error("NaN ratio accepted")
	}
}

// BenchmarkDeButALSIteration times one ALS iteration on the 512×2048 chain of
// debut.md §4.6 (bench/debut/run.sh runs the full 20-iteration comparison).
func BenchmarkDeButALSIteration(b *testing.B) {
	chain, err := ParseDeButSupSub(matrixSup, matrixSub)
	if err != nil {
		b.Fatal(err)
	}
	f := debutRandomMatrix(rand.New(rand.NewPCG(1, 1)), chain.Rows(), chain.Cols())
	b.ResetTimer()
	for b.Loop() {
		var d DeBut
		if err := d.Fit(f, chain, &DeButOptions{Iterations: 1}); err != nil {
			b.Fatal(err)
		}
	}
}

// Factors whose norms are far apart get rescaled between iterations; the
// product, and so the error sequence, must not notice.
func TestDeButALSRebalance(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 13))
	chain := debutMustLine(t, lenetChainLines[1])
	f := debutRandomMatrix(rng, chain.Rows(), chain.Cols())
	init := debutRandomWeights(rng, chain)
	for i := range init[0].W {
		init[0].W[i] *= 1e5
	}
	for i := range init[3].W {
		init[3].W[i] *= 1e-5
	}
	var d DeBut
	if err := d.Fit(f, chain, &DeButOptions{Iterations: 4, Tol: -1, Init: init}); err != nil {
		t.Fatal(err)
	}
	norms := make([]float64, len(chain))
	for k, w := range d.Factors() {
		norms[k] = math.Sqrt(floatsDot(w.W, w.W))
	}
	if spread := slices.Max(norms) / slices.Min(norms); spread > rebalanceSpread {
		t.Errorf("factor norms still spread by %g", spread)
	}
	prev := d.InitialError()
	for i, e := range d.UpdateErrors() {
		if e > prev*(1+1e-12) {
			t.Errorf("update %d raised error %.17g → %.17g", i, prev, e)
		}
		prev = e
	}
	approx, err := d.Dense()
	if err != nil {
		t.Fatal(err)
	}
	var diff mat.Dense
	diff.Sub(f, approx)
	if real := mat.Norm(&diff, 2) / mat.Norm(f, 2); math.Abs(real-prev) > 1e-10 {
		t.Errorf("reported error %g, real %g", prev, real)
	}
}

// Training moves a factor by steps that do not scale with it, so Fit hands
// out the chain with every factor at the same norm, product unchanged.
func TestDeButFitLeavesEqualFactorNorms(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 17))
	for _, line := range lenetChainLines {
		chain := debutMustLine(t, line)
		f := debutRandomMatrix(rng, chain.Rows(), chain.Cols())
		var d DeBut
		if err := d.Fit(f, chain, &DeButOptions{Iterations: 6, Seed: 3}); err != nil {
			t.Fatal(err)
		}
		norms := make([]float64, len(chain))
		for k, w := range d.Factors() {
			norms[k] = math.Sqrt(floatsDot(w.W, w.W))
		}
		if spread := slices.Max(norms)/slices.Min(norms) - 1; spread > 1e-12 {
			t.Errorf("%s: factor norms %v differ by %g", line, norms, spread)
		}
		approx, err := d.Dense()
		if err != nil {
			t.Fatal(err)
		}
		var diff mat.Dense
		diff.Sub(f, approx)
		errs := d.Errors()
		if real := mat.Norm(&diff, 2) / mat.Norm(f, 2); math.Abs(real-errs[len(errs)-1]) > 1e-10 {
			t.Errorf("%s: last reported error %g, balanced product's %g", line, errs[len(errs)-1], real)
		}
	}
}
