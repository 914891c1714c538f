package runtime

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// naiveSgemm is the definition of GEMM, in float64, to check backends
// against; bound is the float32 rounding bound of each element, k·ε·Σ|terms|.
func naiveSgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) (out, bound []float32) {
	out = append([]float32(nil), c...)
	bound = make([]float32, len(c))
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s, abs float64
			for p := 0; p < k; p++ {
				var av, bv float32
				if transA {
					av = a[p*lda+i]
				} else {
					av = a[i*lda+p]
				}
				if transB {
					bv = b[j*ldb+p]
				} else {
					bv = b[p*ldb+j]
				}
				s += float64(av) * float64(bv)
				abs += math.Abs(float64(av) * float64(bv))
			}
			out[i*ldc+j] = float32(float64(alpha)*s + float64(beta)*float64(c[i*ldc+j]))
			bound[i*ldc+j] = float32(float64(k+2)*6e-8*(math.Abs(float64(alpha))*abs+math.Abs(float64(beta*c[i*ldc+j])))) + 1e-7
		}
	}
	return out, bound
}

func testBackends(t *testing.T) []Backend {
	bs := []Backend{&goBLAS{threads: 1}}
	if hasAVX512 {
		bs = append(bs, &goBLAS{threads: 1, asm: true}, &goBLAS{threads: 3, asm: true})
	}
	ob, err := loadOpenBLAS()
	switch {
	case err == nil:
		bs = append(bs, ob)
	case os.Getenv("CI") == "true":
		t.Fatalf("CI: OpenBLAS missing: %v", err)
	default:
		t.Logf("OpenBLAS not tested: %v", err)
	}
	return bs
}

func TestSgemmBackends(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, be := range testBackends(t) {
		for _, tc := range []struct {
			ta, tb  bool
			m, n, k int
		}{{false, false, 7, 5, 3}, {true, false, 4, 9, 6}, {false, true, 33, 17, 65}, {true, true, 2, 3, 4}, {false, false, 64, 70, 130},
			{false, false, 200, 2100, 300}, {true, true, 25, 40, 513}, {false, false, 3, 4, 0}, {false, false, 2, 10, 7752}} {
			lda, ldb := tc.k, tc.n
			if tc.ta {
				lda = tc.m
			}
			if tc.tb {
				ldb = tc.k
			}
			a := randFloats(rng, tc.m*tc.k)
			b := randFloats(rng, tc.k*tc.n)
			c := randFloats(rng, tc.m*tc.n)
			want, bound := naiveSgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 1.5, a, lda, b, ldb, 0.5, c, tc.n)
			be.Sgemm(tc.ta, tc.tb, tc.m, tc.n, tc.k, 1.5, a, lda, b, ldb, 0.5, c, tc.n)
			for i := range c {
				if d := math.Abs(float64(c[i] - want[i])); !(d <= float64(bound[i])) {
					t.Fatalf("%s %+v: element %d = %v, want %v ± %v", be.Name(), tc, i, c[i], want[i], bound[i])
				}
			}
		}
	}
}

func randFloats(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

func assertClose(t *testing.T, what string, got, want []float32, rtol, atol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		d := float64(got[i]) - float64(want[i])
		if d < 0 {
			d = -d
		}
		w := float64(want[i])
		if w < 0 {
			w = -w
		}
		if d > atol+rtol*w || got[i] != got[i] && want[i] == want[i] {
			t.Fatalf("%s: element %d = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// sessionBackends are the Options.Backend values this machine can run.
func sessionBackends(t *testing.T) []string {
	names := []string{"go"}
	for _, be := range testBackends(t) {
		if be.Name() == "cpu/openblas" {
			names = append(names, "openblas")
		}
	}
	return names
}
