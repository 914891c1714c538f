package solvers

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func randomTensor(seed uint64, shape ...int) *Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	t := mustZeros(shape...)
	for i := range t.Data {
		t.Data[i] = rng.NormFloat64()
	}
	return t
}

func randomMatrix(seed uint64, r, c int) *mat.Dense {
	return mat.NewDense(r, c, randomTensor(seed, r, c).Data)
}

// withEachBackend runs f once per linear-algebra implementation available here.
func withEachBackend(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	backends := map[string]linalg{"gonum": gonumLinalg{}}
	if ob, err := loadOpenBLAS(); err == nil {
		backends["openblas"] = ob
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but libopenblas is not loadable: %v", err)
	}
	kernels()
	saved := kernelsImpl
	defer func() { kernelsImpl = saved }()
	for _, name := range []string{"gonum", "openblas"} {
		lin, ok := backends[name]
		if !ok {
			continue
		}
		kernelsImpl = lin
		t.Run(name, f)
	}
}

// numpy runs a Python snippet under /usr/bin/python3 with the given float64
// arrays available as a0, a1, … and returns the float64 values it prints with
// out(array). Missing numpy fails under CI=true and skips otherwise.
func numpy(t *testing.T, code string, arrays ...*Tensor) []float64 {
	t.Helper()
	if err := exec.Command("/usr/bin/python3", "-c", "import numpy").Run(); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and numpy under /usr/bin/python3 is unavailable: %v", err)
		}
		t.Skipf("numpy unavailable: %v", err)
	}
	dir := t.TempDir()
	var pre strings.Builder
	pre.WriteString("import numpy as np, sys\n")
	for i, a := range arrays {
		name := filepath.Join(dir, fmt.Sprintf("a%d.f64", i))
		var buf bytes.Buffer
		if err := binary.Write(&buf, binary.LittleEndian, a.Data); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&pre, "a%d = np.fromfile(%q, dtype='<f8').reshape(%s)\n", i, name, pyShape(a.Shape))
	}
	outName := filepath.Join(dir, "out.f64")
	fmt.Fprintf(&pre, "def out(x):\n    np.asarray(x, dtype='<f8').ravel().tofile(%q)\n", outName)
	cmd := exec.Command("/usr/bin/python3", "-c", pre.String()+code)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("numpy: %v\n%s", err, msg)
	}
	raw, err := os.ReadFile(outName)
	if err != nil {
		t.Fatal(err)
	}
	res := make([]float64, len(raw)/8)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, res); err != nil {
		t.Fatal(err)
	}
	return res
}

func pyShape(s []int) string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = fmt.Sprint(d)
	}
	return "(" + strings.Join(parts, ",") + ",)"
}

func maxAbsDiff(a, b []float64) float64 {
	var m float64
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

func TestUnfoldFoldModeProductAgainstNumpy(t *testing.T) {
	x := randomTensor(1, 3, 4, 5, 2)
	m := randomMatrix(7, 6, 5)
	var got []float64
	for mode := 0; mode < 4; mode++ {
		u, err := x.Unfold(mode)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, u.RawMatrix().Data...)
		back, err := Fold(u, mode, x.Shape)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(back.Data, x.Data); d != 0 {
			t.Errorf("fold(unfold) mode %d differs by %g", mode, d)
		}
		mm := mat.DenseCopyOf(m.Slice(0, 6, 0, x.Shape[mode]))
		y, err := x.ModeProduct(mode, mm, false)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, y.Data...)
		yt, err := x.ModeProduct(mode, mat.DenseCopyOf(mm.T()), true)
		if err != nil {
			t.Fatal(err)
		}
		if d := maxAbsDiff(yt.Data, y.Data); d > 1e-12 {
			t.Errorf("transposed mode-%d product differs by %g", mode, d)
		}
	}
	want := numpy(t, `
res = []
for mode in range(4):
    res.append(np.moveaxis(a0, mode, 0).reshape(a0.shape[mode], -1).ravel())
    m = a1[:, :a0.shape[mode]]
    res.append(np.moveaxis(np.tensordot(m, a0, axes=([1],[mode])), 0, mode).ravel())
out(np.concatenate(res))
`, x, TensorFromMatrix(m))
	if len(want) != len(got) {
		t.Fatalf("numpy gave %d values, we %d", len(want), len(got))
	}
	if d := maxAbsDiff(got, want); d > 1e-12 {
		t.Errorf("unfold / mode products differ from numpy by %g", d)
	}
}

func TestPermuteAndTensorizeAgainstNumpy(t *testing.T) {
	x := randomTensor(2, 2, 3, 4)
	p, err := x.Permute(2, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	w := randomMatrix(3, 12, 10)
	tz, err := TensorizeMatrix(w, []int{3, 4}, []int{5, 2})
	if err != nil {
		t.Fatal(err)
	}
	want := numpy(t, "out(np.concatenate([np.transpose(a0, (2,0,1)).ravel(), a1.reshape(3,4,5,2).transpose(0,2,1,3).ravel()]))", x, TensorFromMatrix(w))
	if d := maxAbsDiff(append(append([]float64(nil), p.Data...), tz.Data...), want); d != 0 {
		t.Errorf("permute / tensorize differ from numpy by %g", d)
	}
	back, err := MatrixFromTensorized(tz, []int{3, 4}, []int{5, 2})
	if err != nil {
		t.Fatal(err)
	}
	if !mat.Equal(back, w) {
		t.Error("MatrixFromTensorized does not invert TensorizeMatrix")
	}
	if _, err := x.Permute(0, 0, 1); err == nil {
		t.Error("bad permutation accepted")
	}
	if _, err := TensorizeMatrix(w, []int{3, 5}, []int{5, 2}); err == nil {
		t.Error("mode sizes that do not factor the matrix accepted")
	}
}

func TestBalancedFactors(t *testing.T) {
	for _, c := range []struct {
		n, d int
		want []int
	}{{4096, 2, []int{64, 64}}, {25088, 3, []int{32, 28, 28}}, {784, 2, []int{28, 28}}, {13, 2, []int{13, 1}}, {1000, 3, []int{10, 10, 10}}} {
		got, err := BalancedFactors(c.n, c.d)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("BalancedFactors(%d,%d) = %v, want %v", c.n, c.d, got, c.want)
		}
	}
	if _, err := BalancedFactors(0, 2); err == nil {
		t.Error("BalancedFactors(0, 2) gave no error")
	}
}

func TestShapeErrors(t *testing.T) {
	if _, err := NewTensor([]int{2, 0}, nil); err == nil {
		t.Error("zero dimension accepted")
	}
	if _, err := NewTensor([]int{2, 3}, make([]float64, 5)); err == nil {
		t.Error("wrong data length accepted")
	}
	x := randomTensor(4, 2, 3)
	if _, err := x.Unfold(2); err == nil {
		t.Error("mode out of range accepted")
	}
	if _, err := x.ModeProduct(1, randomMatrix(1, 2, 2), false); err == nil {
		t.Error("mismatched mode product accepted")
	}
}

// Every factorization either succeeds with a finite reconstruction of the
// right shape or returns an error on thin and tiny inputs; none panics.
func TestFactorizationsOnTinyShapes(t *testing.T) {
	shapes := [][]int{{1, 1}, {1, 5}, {5, 1}, {2, 1, 1, 1}, {1, 1, 3, 3}, {3, 1, 2}, {2, 3}}
	for i, shape := range shapes {
		x := randomTensor(uint64(200+i), shape...)
		check := func(name string, err error, rec *Tensor) {
			t.Helper()
			if err != nil {
				return
			}
			if fmt.Sprint(rec.Shape) != fmt.Sprint(shape) {
				t.Errorf("%s %v: reconstruction shape %v", name, shape, rec.Shape)
				return
			}
			for _, v := range rec.Data {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Errorf("%s %v: non-finite reconstruction", name, shape)
					return
				}
			}
		}
		for _, r := range []int{1, 2, 7} {
			var tk Tucker2
			err := tk.Factorize(x, Tucker2Options{RankOut: r, RankIn: r})
			if err == nil {
				check("Tucker2", err, tk.Reconstruct())
			}
			var c CP
			err = c.Factorize(x, CPOptions{Rank: r, MaxIter: 5})
			if err == nil {
				check("CP", err, c.Reconstruct())
			}
			var tt TT
			if err := tt.Factorize(x, TTOptions{MaxRank: r}); err == nil {
				check("TT", err, tt.Reconstruct())
			}
			var tr TR
			if err := tr.FactorizeALS(x, TROptions{MaxRank: r, MaxIter: 3}); err == nil {
				check("TR", err, tr.Reconstruct())
			}
			var h HT
			if err := h.Factorize(x, HTOptions{MaxRank: r}); err == nil {
				check("HT", err, h.Reconstruct())
			}
			if len(shape) == 2 {
				m := mat.NewDense(shape[0], shape[1], x.Data)
				var s SVD
				if err := s.Factorize(m, r); err == nil {
					check("SVD", err, TensorFromMatrix(s.Reconstruct()))
				}
				if err := s.FactorizeRandomized(m, r, RandomizedOptions{}); err == nil {
					check("randomized SVD", err, TensorFromMatrix(s.Reconstruct()))
				}
				if _, _, err := EVBMFRank(m, 1); err != nil {
					t.Errorf("EVBMF %v: %v", shape, err)
				}
			}
		}
	}
	if _, err := randomTensor(1, 2, 2).ModeProduct(0, nil, false); err == nil {
		t.Error("nil matrix in a mode product accepted")
	}
	var h HT
	if _, _, _, err := h.Tucker2Form(); err == nil {
		t.Error("Tucker2Form of an empty HT accepted")
	}
}
