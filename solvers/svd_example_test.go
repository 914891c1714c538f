package solvers_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/onnxcompress/onnxcompress/solvers"
	"gonum.org/v1/gonum/mat"
)

// An FC weight W (out×in) becomes Gemm(X, P, transB=1) → Gemm(·, Q, C, transB=1).
func ExampleSVD_Split() {
	rng := rand.New(rand.NewPCG(3, 4))
	w := mat.NewDense(64, 100, nil)
	for i := 0; i < 64; i++ {
		for j := 0; j < 100; j++ {
			w.Set(i, j, rng.NormFloat64())
		}
	}
	ranks, _ := solvers.RankForRatio(solvers.SVDMatrix, []int{64, 100}, 0.25)
	var s solvers.SVD
	if err := s.Factorize(w, ranks[0]); err != nil {
		fmt.Println(err)
		return
	}
	q, p := s.Split()
	qr, qc := q.Dims()
	pr, pc := p.Dims()
	fmt.Printf("rank %d: Q %d×%d, P %d×%d\n", s.Rank(), qr, qc, pr, pc)
	// Output:
	// rank 9: Q 64×9, P 9×100
}
