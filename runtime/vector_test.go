package runtime

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The vector loops against plain loops, for every length around the
// 16-lane blocks (masked tails) and with NaNs, which must propagate.
func TestVectorLoops(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	nan := float32(math.NaN())
	same := func(a, b float32) bool { return a == b || (a != a && b != b) }
	for n := 0; n <= 50; n++ {
		a, b := randFloats(rng, 2*n+1), randFloats(rng, 2*n+1)
		if n > 3 {
			a[1], b[2], a[2*n-1] = nan, nan, nan
		}
		for _, relu := range []bool{false, true} {
			got := make([]float32, n+1)
			biasReluRows(got[:n], 0, a, 0, 1, n, 0.25, relu)
			for i := 0; i < n; i++ {
				want := a[i] + 0.25
				if relu && want < 0 {
					want = 0
				}
				if !same(got[i], want) {
					t.Fatalf("biasReluRows n=%d relu=%v [%d] = %v, want %v", n, relu, i, got[i], want)
				}
			}
			if got[n] != 0 {
				t.Fatalf("biasReluRows n=%d wrote past the end", n)
			}
		}
		got := make([]float32, n+1)
		maxRows(got[:n], 0, a, 0, b, 0, 1, n)
		for i := 0; i < n; i++ {
			want := max(a[i], b[i])
			if !same(got[i], want) {
				t.Fatalf("maxRows n=%d [%d] = %v, want %v", n, i, got[i], want)
			}
		}
		if got[n] != 0 {
			t.Fatalf("maxRows n=%d wrote past the end", n)
		}
		clear(got)
		pairMax(got[:n], a)
		for i := 0; i < n; i++ {
			want := max(a[2*i], a[2*i+1])
			if !same(got[i], want) {
				t.Fatalf("pairMax n=%d [%d] = %v, want %v", n, i, got[i], want)
			}
		}
		if got[n] != 0 {
			t.Fatalf("pairMax n=%d wrote past the end", n)
		}
	}
}

// Strided rows: each row of each operand where its stride puts it, and
// nothing written between the rows of dst.
func TestVectorRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const rows, n, sa, sb, sd = 3, 21, 25, 40, 23
	a, b := randFloats(rng, rows*sa), randFloats(rng, rows*sb)
	dst := make([]float32, rows*sd)
	maxRows(dst, sd, a, sa, b, sb, rows, n)
	for r := 0; r < rows; r++ {
		for i := 0; i < sd; i++ {
			want := float32(0)
			if i < n {
				want = max(a[r*sa+i], b[r*sb+i])
			}
			if dst[r*sd+i] != want {
				t.Fatalf("maxRows row %d [%d] = %v, want %v", r, i, dst[r*sd+i], want)
			}
		}
	}
	clear(dst)
	biasReluRows(dst, sd, a, sa, rows, n, -0.5, true)
	for r := 0; r < rows; r++ {
		for i := 0; i < sd; i++ {
			want := float32(0)
			if i < n {
				want = max(a[r*sa+i]-0.5, 0)
			}
			if dst[r*sd+i] != want {
				t.Fatalf("biasReluRows row %d [%d] = %v, want %v", r, i, dst[r*sd+i], want)
			}
		}
	}
}

// transpose16 against the definition, for every row count, width and
// column count, with strides that are not multiples of 16; nothing outside
// the n×width destination block changes.
func TestTranspose16(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const lds, ldd = 21, 19
	for rows := 0; rows <= 16; rows++ {
		for width := 1; width <= 16; width++ {
			for n := 0; n <= 16; n++ {
				src := randFloats(rng, 16*lds)
				dst := make([]float32, 17*ldd)
				for i := range dst {
					dst[i] = -1
				}
				transpose16(dst, ldd, src, lds, rows, width, n)
				if rows > 0 && n > 0 {
					plain := slices.Clone(dst)
					transpose16Go(plain, ldd, src, lds, rows, width, n)
					if !slices.Equal(plain, dst) {
						t.Fatalf("rows=%d width=%d n=%d: transpose16Go disagrees", rows, width, n)
					}
				}
				for j := 0; j < 17; j++ {
					for i := 0; i < ldd; i++ {
						want := float32(-1)
						if j < n && i < width {
							want = 0
							if i < rows {
								want = src[i*lds+j]
							}
						}
						if got := dst[j*ldd+i]; got != want {
							t.Fatalf("rows=%d width=%d n=%d: dst[%d][%d] = %v, want %v", rows, width, n, j, i, got, want)
						}
					}
				}
			}
		}
	}
}

// reluMask against its scalar definition for every length around the
// 16-lane blocks, with zeros (of both signs), NaNs and negatives in y.
func TestReluMask(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 9))
	for n := 0; n <= 50; n++ {
		y, d := randFloats(rng, n), randFloats(rng, n)
		for i := 0; i < n; i += 5 {
			y[i] = [...]float32{0, float32(math.Copysign(0, -1)), float32(math.NaN()), -1, 2}[i/5%5]
		}
		got, want := make([]float32, n+1), make([]float32, n)
		reluMask(got[:n], d, y)
		for i, v := range y {
			if v > 0 || v != v {
				want[i] = d[i]
			}
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("n=%d [%d] y=%v: got %v, want %v", n, i, y[i], got[i], want[i])
			}
		}
		if got[n] != 0 {
			t.Fatalf("n=%d wrote past the end", n)
		}
	}
}

// dotPartials (both paths) sums to the dot products, and adds to what the
// partial sums held.
func TestDotPartials(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 10))
	const n, lda = 48, 53
	a := randFloats(rng, 3*lda+n)
	var b [4][]float32
	for j := range b {
		b[j] = randFloats(rng, n)
	}
	for _, f := range []func(int, []float32, int, [4][]float32, []float32){dotPartials, dotPartialsGo} {
		partial := make([]float32, 256)
		for k := range partial {
			partial[k] = 1
		}
		f(n, a, lda, b, partial)
		for i := 0; i < 4; i++ {
			for j := 0; j < 4; j++ {
				var want, got float64 = 16, 0
				for q := 0; q < n; q++ {
					want += float64(a[i*lda+q]) * float64(b[j][q])
				}
				for _, v := range partial[(4*i+j)*16:][:16] {
					got += float64(v)
				}
				if math.Abs(got-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("dot %d,%d = %v, want %v", i, j, got, want)
				}
			}
		}
	}
}

// copyRows keeps every bit (−0, NaN payloads) for row lengths around the
// 16-float vector, writes only inside the rows and reads nothing past the
// last one.
func TestCopyRows(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	for _, n := range []int{1, 7, 16, 21, 32, 37} {
		const rows = 3
		ss, sd := n+3, n+5
		src := randFloats(rng, (rows-1)*ss+n)
		src[0] = float32(math.Copysign(0, -1))
		src[len(src)-1] = math.Float32frombits(0x7fc01234)
		dst := make([]float32, rows*sd)
		for i := range dst {
			dst[i] = -7
		}
		copyRows(dst, sd, src, ss, rows, n)
		for r := 0; r < rows; r++ {
			for i := 0; i < sd; i++ {
				want := math.Float32bits(-7)
				if i < n {
					want = math.Float32bits(src[r*ss+i])
				}
				if got := math.Float32bits(dst[r*sd+i]); got != want {
					t.Fatalf("n %d: row %d [%d] = %#x, want %#x", n, r, i, got, want)
				}
			}
		}
	}
}
