package solvers

import (
	"fmt"
	"math"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestTTFullRankReconstructs(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		x := randomTensor(81, 4, 5, 3, 6)
		var tt TT
		if err := tt.Factorize(x, TTOptions{}); err != nil {
			t.Fatal(err)
		}
		if e, _ := RelativeError(x, tt.Reconstruct()); e > 1e-10 {
			t.Errorf("exact TT error %g", e)
		}
		if got := tt.Ranks(); got[0] != 1 || got[4] != 1 || got[1] != 4 || got[2] != 18 || got[3] != 6 {
			t.Errorf("full TT ranks %v, want [1 4 18 6 1]", got)
		}
	})
}

func TestTTEpsilonBoundAndReportedError(t *testing.T) {
	// A tensor with fast-decaying structure so that truncation bites.
	x := lowRankCP(82, 6, 6, 7, 8, 5)
	noise := randomTensor(83, 6, 7, 8, 5)
	for i := range x.Data {
		x.Data[i] += 0.01 * noise.Data[i]
	}
	for _, eps := range []float64{0.3, 0.1, 0.01} {
		var tt TT
		if err := tt.Factorize(x, TTOptions{Epsilon: eps}); err != nil {
			t.Fatal(err)
		}
		e, _ := RelativeError(x, tt.Reconstruct())
		if e > eps {
			t.Errorf("ε=%g: error %g above the bound", eps, e)
		}
		if math.Abs(e-tt.RelError()) > 1e-10 {
			t.Errorf("ε=%g: reported %g, measured %g", eps, tt.RelError(), e)
		}
	}
	var capped TT
	if err := capped.Factorize(x, TTOptions{MaxRank: 2}); err != nil {
		t.Fatal(err)
	}
	for _, r := range capped.Ranks() {
		if r > 2 {
			t.Errorf("max rank 2 gave ranks %v", capped.Ranks())
		}
	}
	p, _ := FactorParams(TTUniform, x.Shape, []int{2})
	if capped.Params() != p {
		t.Errorf("TT params %d, FactorParams says %d", capped.Params(), p)
	}
}

func TestTTMatrixRoundTrip(t *testing.T) {
	w := randomMatrix(84, 12, 20)
	var tm TTMatrix
	if err := tm.Factorize(w, []int{3, 4}, []int{5, 4}, TTOptions{}); err != nil {
		t.Fatal(err)
	}
	var d mat.Dense
	d.Sub(w, tm.Reconstruct())
	if e := mat.Norm(&d, 2) / mat.Norm(w, 2); e > 1e-10 {
		t.Errorf("exact TT-matrix error %g", e)
	}
	cores := tm.Cores()
	if len(cores) != 2 || cores[0].Shape[1] != 3 || cores[0].Shape[2] != 5 || cores[1].Shape[1] != 4 || cores[1].Shape[2] != 4 {
		t.Errorf("core shapes %v %v", cores[0].Shape, cores[1].Shape)
	}
	// Each core applied as (r, m, n, r') contraction must reproduce W·x.
	var trunc TTMatrix
	if err := trunc.Factorize(w, []int{3, 4}, []int{5, 4}, TTOptions{MaxRank: 3}); err != nil {
		t.Fatal(err)
	}
	var d2 mat.Dense
	d2.Sub(w, trunc.Reconstruct())
	if e := mat.Norm(&d2, 2) / mat.Norm(w, 2); math.Abs(e-trunc.RelError()) > 1e-10 {
		t.Errorf("truncated TT-matrix: measured %g, reported %g", e, trunc.RelError())
	}
	if err := tm.Factorize(w, []int{3, 5}, []int{5, 4}, TTOptions{}); err == nil {
		t.Error("mode sizes that do not factor W accepted")
	}
}

func TestTTMatrixBalanced(t *testing.T) {
	w := randomMatrix(86, 64, 90)
	var tm TTMatrix
	if err := tm.FactorizeBalanced(w, 3, TTOptions{MaxRank: 4}); err != nil {
		t.Fatal(err)
	}
	out, in := tm.Modes()
	if fmt.Sprint(out) != "[4 4 4]" || fmt.Sprint(in) != "[6 5 3]" {
		t.Errorf("modes %v × %v", out, in)
	}
	var d mat.Dense
	d.Sub(w, tm.Reconstruct())
	if e := mat.Norm(&d, 2) / mat.Norm(w, 2); math.Abs(e-tm.RelError()) > 1e-10 {
		t.Errorf("measured %g, reported %g", e, tm.RelError())
	}
}

func TestTTDegenerateInputs(t *testing.T) {
	var tt TT
	if err := tt.Factorize(mustZeros(3, 4, 5), TTOptions{}); err == nil {
		t.Error("zero tensor accepted")
	}
	x := randomTensor(85, 3, 4, 5)
	x.Data[7] = math.NaN()
	if err := tt.Factorize(x, TTOptions{}); err == nil {
		t.Error("NaN accepted")
	}
	if err := tt.Factorize(randomTensor(1, 3, 4), TTOptions{Epsilon: -1}); err == nil {
		t.Error("negative epsilon accepted")
	}
	if err := tt.Factorize(randomTensor(1, 3, 4, 5), TTOptions{MaxRanks: []int{2}}); err == nil {
		t.Error("wrong number of bond ranks accepted")
	}
}
