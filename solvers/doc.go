// Package solvers holds the numerics of onnxcompress on dense float64 data. It
// knows nothing of graphs: rewrites hand it a weight as a *mat.Dense or a
// row-major *Tensor and get factors back.
//
// Each factorization is a small type in the style of gonum's mat.SVD:
//
//	var tk solvers.Tucker2
//	if err := tk.Factorize(w, solvers.Tucker2Options{RankOut: 128, RankIn: 128}); err != nil { … }
//	core, uOut, uIn := tk.Core(), tk.UOut(), tk.UIn()
//	errs := tk.Errors() // after the HOSVD and each HOOI sweep
//
// Every factorization has Reconstruct so callers and tests can compare with the
// input, and errors (never panics) for rank < 1, all-zero input and NaN/Inf
// entries. Ranks above what a mode allows are clamped and the clamped ranks are
// visible through the accessors.
//
//   - SVD: exact truncated SVD (LQ, SVD of the small factor, only r vectors
//     lifted) and the randomized Halko–Martinsson–Tropp SVD; Split gives the
//     balanced FC factors Q = UΣ^½, P = Σ^½Vᵀ.
//   - Tucker2 (HOSVD + HOOI on modes out/in) and Tucker1 (one mode).
//   - CP: CP-ALS with SVD init, column normalisation into λ and a proximal ridge
//     that makes every factor update non-increasing in error (Errors lists them).
//   - TT (TT-SVD), TTMatrix (Novikov's TT for FC layers, FactorizeBalanced picks
//     the mode sizes), TR (TR-SVD, TR-ALS) and HT (HT-SVD over a DimTree;
//     Tucker2Form for conv kernels, BalancedDimTree over TensorizeMatrix for FC).
//   - Rank selection: EnergyRank, EVBMFRank and EVBMFTucker2Ranks (clamped),
//     RankForRatio / FactorParams (the closed forms of lowrank.md §3.11),
//     RoundRank.
//
// Dense kernels come from OpenBLAS (libopenblas.so.0, loaded at run time with
// purego) when present, else from gonum; Backend reports which. Setting
// ONNXCOMPRESS_NO_OPENBLAS=1 forces gonum. Results agree to rounding.
package solvers
