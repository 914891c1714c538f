package solvers_test

import (
	"fmt"
	"math/rand/v2"

	"gonum.org/v1/gonum/mat"

	"github.com/onnxcompress/onnxcompress/solvers"
)

func ExampleDeBut_Fit() {
	// The LeNet FC1 chain of the paper's lenet.txt (input side first).
	chain, err := solvers.ParseDeButChainLine("256 400 16 25 1 256 256 2 2 16 128 256 1 2 32 128 128 2 2 32 128 128 2 2 64")
	if err != nil {
		panic(err)
	}
	fmt.Println(chain, chain.Params(), fmt.Sprintf("LC %.2f%%", 100*chain.LC()))

	rng := rand.New(rand.NewPCG(1, 2))
	w := mat.NewDense(128, 400, nil)
	for i := 0; i < 128; i++ {
		for j := 0; j < 400; j++ {
			w.Set(i, j, rng.NormFloat64())
		}
	}
	var d solvers.DeBut
	if err := d.Fit(w, chain, &solvers.DeButOptions{Iterations: 10, Seed: 806}); err != nil {
		panic(err)
	}
	errs := d.Errors()
	fmt.Printf("%d iterations, error below 0.92: %v\n", len(errs), errs[len(errs)-1] < 0.92)
	// Output:
	// 128←(2,2,64)128←(2,2,32)128←(1,2,32)256←(2,2,16)256←(16,25,1)400 7680 LC 85.00%
	// 10 iterations, error below 0.92: true
}
