package solvers_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/onnxcompress/onnxcompress/solvers"
)

// A conv kernel (T=16, S=8, 3×3) becomes 1×1 (U_inᵀ) → 3×3 (core) → 1×1 (U_out).
func ExampleTucker2() {
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]float64, 16*8*3*3)
	for i := range data {
		data[i] = rng.NormFloat64()
	}
	w, _ := solvers.NewTensor([]int{16, 8, 3, 3}, data)

	ranks, _ := solvers.RankForRatio(solvers.Tucker2Conv, w.Shape, 0.5)
	var tk solvers.Tucker2
	if err := tk.Factorize(w, solvers.Tucker2Options{RankOut: ranks[0], RankIn: ranks[1]}); err != nil {
		fmt.Println(err)
		return
	}
	r, c := tk.UOut().Dims()
	fmt.Println("U_out", r, c)
	r, c = tk.UIn().Dims()
	fmt.Println("U_in", r, c)
	fmt.Println("core", tk.Core().Shape)
	errs := tk.Errors()
	fmt.Println("HOOI did not raise the error:", errs[len(errs)-1] <= errs[0])
	// Output:
	// U_out 16 8
	// U_in 8 4
	// core [8 4 3 3]
	// HOOI did not raise the error: true
}
