package runtime

import (
	"math/rand/v2"
	"testing"
)

// The Winograd path against the direct one on shapes with partial tiles,
// asymmetric pads, several K blocks and batches (images sharing the GEMMs), whatever useWinograd would
// pick for them (TestConvAgainstTorch checks shapes that take it against
// PyTorch).
func TestWinogradMatchesDirect(t *testing.T) {
	if !hasAVX512 {
		t.Skip("the Winograd path needs the AVX-512 micro-kernel")
	}
	rng := rand.New(rand.NewPCG(4, 4))
	for _, tc := range []struct {
		name             string
		nb, ch, m, h, wd int
		pads             []int64
		act              activation
	}{
		{"odd", 2, 20, 18, 9, 7, []int64{1, 1, 1, 1}, activation{kind: "Relu"}},
		{"asym", 1, 16, 16, 6, 11, []int64{0, 1, 2, 0}, activation{}},
		{"deep", 1, 300, 30, 6, 6, []int64{1, 1, 1, 1}, activation{kind: "LeakyRelu", alpha: 0.1}},
		{"tiny", 1, 17, 13, 3, 3, []int64{0, 0, 0, 0}, activation{}},
		// 16 tiles an image: two images share each GEMM, the last alone.
		{"batched", 5, 32, 24, 7, 7, []int64{1, 1, 1, 1}, activation{kind: "Relu"}},
		// Through a backend's Sgemm, 32 images a group, the last one 8.
		{"sgemm-groups", 40, 32, 24, 7, 7, []int64{1, 1, 1, 1}, activation{}},
	} {
		win, err := newWindow(convAttrs{pads: tc.pads}, []int{tc.h, tc.wd}, []int{3, 3}, false)
		if err != nil {
			t.Fatal(err)
		}
		x := randFloats(rng, tc.nb*tc.ch*tc.h*tc.wd)
		wt := randFloats(rng, tc.m*tc.ch*9)
		bias := randFloats(rng, tc.m)
		size := tc.nb * tc.m * win.outH * win.outW
		c := &execContext{backend: &goBLAS{threads: 1, asm: true}, threads: 1, pool: &pool{}}
		want := make([]float32, size)
		conv2D(c, win, 1, tc.nb, tc.ch, tc.m, x, wt, bias, want, tc.act, nil)
		// Every backend: the micro-kernel's, gonum's and OpenBLAS's GEMMs.
		for _, be := range testBackends(t) {
			c := &execContext{backend: be, threads: 1, pool: &pool{}}
			got := make([]float32, size)
			convWinograd(c, win, tc.nb, tc.ch, tc.m, x, wt, bias, got, tc.act, nil)
			// The contract with ONNX Runtime is 1e-4 relative L2; the
			// transforms must stay well inside it.
			g, w := NewFloat32Tensor([]int{size}, got).Float64s(), NewFloat32Tensor([]int{size}, want).Float64s()
			if e := relL2(g, w); e > 1e-6 {
				t.Errorf("%s on %s: relative L2 error %.3g vs the direct convolution", tc.name, be.Name(), e)
			}
		}
	}
}
