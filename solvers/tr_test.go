package solvers

import (
	"math"
	"testing"
)

func TestTRFullRankReconstructs(t *testing.T) {
	withEachBackend(t, func(t *testing.T) {
		for _, shape := range [][]int{{4, 5, 3, 6}, {6, 4}, {5, 4, 3}} {
			x := randomTensor(91, shape...)
			var tr TR
			if err := tr.Factorize(x, TROptions{}); err != nil {
				t.Fatal(err)
			}
			if e, _ := RelativeError(x, tr.Reconstruct()); e > 1e-10 {
				t.Errorf("%v: exact TR-SVD error %g (ranks %v)", shape, e, tr.Ranks())
			}
			if tr.Ranks()[0] < 2 && shape[0] == 4 {
				t.Errorf("%v: ring not closed through a real rank: %v", shape, tr.Ranks())
			}
		}
	})
}

func TestTRSVDReportedErrorAndALSImproves(t *testing.T) {
	x := lowRankCP(92, 4, 6, 7, 5, 4)
	noise := randomTensor(93, 6, 7, 5, 4)
	for i := range x.Data {
		x.Data[i] += 0.05 * noise.Data[i]
	}
	opts := TROptions{Ranks: []int{2, 2, 3, 3}, MaxIter: 30, Tol: -1}
	var svd TR
	if err := svd.Factorize(x, opts); err != nil {
		t.Fatal(err)
	}
	eSVD, _ := RelativeError(x, svd.Reconstruct())
	if math.Abs(eSVD-svd.RelError()) > 1e-10 {
		t.Errorf("TR-SVD reported %g, measured %g", svd.RelError(), eSVD)
	}
	for k, r := range svd.Ranks() {
		if r > opts.Ranks[k] {
			t.Errorf("rank %d is %d above its cap %d", k, r, opts.Ranks[k])
		}
	}
	var als TR
	if err := als.FactorizeALS(x, opts); err != nil {
		t.Fatal(err)
	}
	errs := als.Errors()
	if len(errs) != 1+30*4 {
		t.Fatalf("%d ALS errors", len(errs))
	}
	for i := 1; i < len(errs); i++ {
		if errs[i] > errs[i-1]*(1+1e-12) {
			t.Errorf("ALS update %d raised the error %.17g → %.17g", i, errs[i-1], errs[i])
		}
	}
	eALS, _ := RelativeError(x, als.Reconstruct())
	if math.Abs(eALS-errs[len(errs)-1]) > 1e-10 || eALS > eSVD {
		t.Errorf("ALS error %g (reported %g), TR-SVD %g", eALS, errs[len(errs)-1], eSVD)
	}
	t.Logf("TR-SVD %.5g → TR-ALS %.5g", eSVD, eALS)
}

func TestTRDegenerateInputs(t *testing.T) {
	var tr TR
	if err := tr.Factorize(mustZeros(3, 4, 5), TROptions{}); err == nil {
		t.Error("zero tensor accepted")
	}
	x := randomTensor(94, 3, 4, 5)
	x.Data[0] = math.Inf(1)
	if err := tr.FactorizeALS(x, TROptions{}); err == nil {
		t.Error("Inf accepted")
	}
	if err := tr.Factorize(randomTensor(1, 3, 4, 5), TROptions{Ranks: []int{2, 2}}); err == nil {
		t.Error("wrong number of ranks accepted")
	}
	if err := tr.Factorize(randomTensor(1, 7), TROptions{}); err == nil {
		t.Error("1-way tensor accepted")
	}
}
