package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// The Winograd weight and bias gradients against their definition, summed
// in float64, on every backend's Sgemm: partial tiles (odd sizes),
// asymmetric pads, groups of images sharing the GEMMs with a shorter last
// one, and a leftover NaN in the scratch memory, which must not reach the
// result.
func TestWinogradWeightGradMatchesDefinition(t *testing.T) {
	if !hasAVX512 {
		t.Skip("the Winograd transforms need AVX-512")
	}
	rng := rand.New(rand.NewPCG(6, 6))
	for _, tc := range []struct {
		name             string
		nb, ch, m, h, wd int
		pads             []int64
	}{
		{"odd", 3, 16, 17, 7, 9, []int64{1, 1, 1, 1}},
		{"asym", 2, 16, 16, 6, 5, []int64{0, 1, 2, 0}},
		{"wide", 1, 20, 16, 5, 37, []int64{1, 1, 1, 1}},
		// 4 tiles an image: images share the columns, the last group shorter.
		{"groups", 300, 16, 16, 3, 4, []int64{1, 0, 1, 1}},
	} {
		win, err := newWindow(convAttrs{pads: tc.pads}, []int{tc.h, tc.wd}, []int{3, 3}, false)
		if err != nil {
			t.Fatal(err)
		}
		x := randFloats(rng, tc.nb*tc.ch*tc.h*tc.wd)
		dy := randFloats(rng, tc.nb*tc.m*win.outH*win.outW)
		want := make([]float64, tc.m*tc.ch*9)
		wantBias := make([]float64, tc.m)
		for i, v := range dy {
			wantBias[i/(win.outH*win.outW)%tc.m] += float64(v)
		}
		for n := 0; n < tc.nb; n++ {
			for o := 0; o < tc.m; o++ {
				for ci := 0; ci < tc.ch; ci++ {
					for k := 0; k < 9; k++ {
						var s float64
						for oh := 0; oh < win.outH; oh++ {
							ih := oh - win.padT + k/3
							if ih < 0 || ih >= tc.h {
								continue
							}
							for ow := 0; ow < win.outW; ow++ {
								iw := ow - win.padL + k%3
								if iw < 0 || iw >= tc.wd {
									continue
								}
								s += float64(dy[((n*tc.m+o)*win.outH+oh)*win.outW+ow]) * float64(x[((n*tc.ch+ci)*tc.h+ih)*tc.wd+iw])
							}
						}
						want[(o*tc.ch+ci)*9+k] += s
					}
				}
			}
		}
		for _, be := range testBackends(t) {
			c := &execContext{backend: be, threads: 1, pool: nanPool()}
			got := make([]float32, len(want))
			for i := range got {
				got[i] = 1 // the gradient is added
			}
			db := make([]float32, tc.m)
			winogradWeightGrad(c, win, tc.nb, tc.ch, tc.m, x, dy, got, db)
			g := make([]float64, len(got))
			for i, v := range got {
				g[i] = float64(v) - 1
			}
			if e := relL2(g, want); !(e <= 1e-5) {
				t.Errorf("%s on %s: relative L2 error %.3g vs the definition", tc.name, be.Name(), e)
			}
			gb := make([]float64, tc.m)
			for i, v := range db {
				gb[i] = float64(v)
			}
			if e := relL2(gb, wantBias); !(e <= 1e-5) {
				t.Errorf("%s on %s: bias gradient relative L2 error %.3g", tc.name, be.Name(), e)
			}
		}
	}
}

// nanPool is a pool whose free buffers, of every size up to 8 Mi floats,
// hold NaN, as scratch memory left over from other kernels may.
func nanPool() *pool {
	p := &pool{}
	for n := 16; n <= 8<<20; n *= 2 {
		for range 4 {
			b := make([]float32, n)
			for i := range b {
				b[i] = float32(math.NaN())
			}
			give(&p.f32, b)
		}
	}
	return p
}

// Without AVX-512 (the flag cleared, as on a CPU without it) the shapes that
// take the Winograd paths here fall back to im2col and the copies to plain
// loops, on OpenBLAS and on gonum: the gradients must still check.
func TestConvGradWithoutAVX512(t *testing.T) {
	saved := hasAVX512
	hasAVX512 = false
	defer func() { hasAVX512 = saved }()
	rng := rand.New(rand.NewPCG(3, 9))
	ins := []*Tensor{randTensor(rng, 2, 16, 9, 7), randTensor(rng, 16, 16, 3, 3), randTensor(rng, 16)}
	attrs := []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}
	for _, be := range sessionBackends(t) {
		t.Run(be, func(t *testing.T) {
			checkGrad(t, gradCase{op: "Conv", attrs: attrs, ins: ins, opts: TrainOptions{Backend: be}})
		})
	}
}
