package solvers

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"gonum.org/v1/gonum/mat"
)

// DimTree is a binary dimension tree for hierarchical Tucker: a leaf holds one
// mode, an inner node exactly two children. Rank caps the node's rank (0: use
// HTOptions.MaxRank / Epsilon); the root's rank is always 1.
type DimTree struct {
	Mode     int
	Children []*DimTree
	Rank     int
}

// BalancedDimTree splits modes 0…d−1 recursively in halves (the FC layout over
// tensorized modes).
func BalancedDimTree(d int) *DimTree {
	var build func(lo, hi int) *DimTree
	build = func(lo, hi int) *DimTree {
		if hi-lo == 1 {
			return &DimTree{Mode: lo}
		}
		mid := (lo + hi + 1) / 2
		return &DimTree{Children: []*DimTree{build(lo, mid), build(mid, hi)}}
	}
	return build(0, max(d, 1))
}

// ConvDimTree is {{T,S},{kH,kW}} for a T×S×kH×kW kernel, with the channel
// leaves capped at rankOut and rankIn and the spatial side kept exact.
func ConvDimTree(rankOut, rankIn int) *DimTree {
	return &DimTree{Children: []*DimTree{
		{Children: []*DimTree{{Mode: 0, Rank: rankOut}, {Mode: 1, Rank: rankIn}}},
		{Children: []*DimTree{{Mode: 2}, {Mode: 3}}},
	}}
}

// HT is a hierarchical Tucker decomposition (Grasedyck 2010): orthonormal leaf
// bases U_t (n_t×r_t) and transfer tensors B_t (r_left×r_right×r_t) so that
// U_t = (U_left ⊗ U_right)·B_t up to the root, whose B has r_t = 1.
type HT struct {
	root   *htNode
	shape  []int
	relErr float64
}

type htNode struct {
	modes       []int // in the order the node's row index runs (left modes, then right)
	left, right *htNode
	u           *mat.Dense // leaf basis
	b           *Tensor    // transfer tensor (inner nodes)
	orth        *mat.Dense // the node's own orthonormal SVD basis, until the parent is built
}

// HTOptions: each node's rank is the smallest with a discarded tail within
// δ = Epsilon·‖X‖/√(2d−3) (0: exact), capped by MaxRank and the node's Rank.
type HTOptions struct {
	Tree    *DimTree // nil: BalancedDimTree(d)
	MaxRank int
	Epsilon float64
}

// Factorize computes the HT-SVD of x: every non-root node's basis is the
// leading left singular vectors of the matricization with that node's modes as
// rows, and transfer tensors project the children's bases onto it.
// ‖X − HT‖ ≤ √(2d−3)·(best HT error at these ranks).
func (h *HT) Factorize(x *Tensor, opts HTOptions) error {
	if x == nil || len(x.Shape) < 2 {
		return errors.New("solvers: HT needs a tensor with at least 2 modes")
	}
	if err := checkInput(fmt.Sprintf("HT of a %v tensor", x.Shape), x.Data); err != nil {
		return err
	}
	d := len(x.Shape)
	if opts.Epsilon < 0 || opts.MaxRank < 0 || math.IsNaN(opts.Epsilon) {
		return fmt.Errorf("solvers: HT epsilon %g / max rank %d must not be negative", opts.Epsilon, opts.MaxRank)
	}
	tree := opts.Tree
	if tree == nil {
		tree = BalancedDimTree(d)
	}
	if err := checkDimTree(tree, d); err != nil {
		return err
	}
	deltaSq := math.Pow(opts.Epsilon*x.Norm(), 2) / float64(2*d-3)
	var build func(t *DimTree, isRoot bool) (*htNode, error)
	build = func(t *DimTree, isRoot bool) (*htNode, error) {
		n := &htNode{}
		if len(t.Children) == 0 {
			n.modes = []int{t.Mode}
		} else {
			l, err := build(t.Children[0], false)
			if err != nil {
				return nil, err
			}
			r, err := build(t.Children[1], false)
			if err != nil {
				return nil, err
			}
			n.left, n.right = l, r
			n.modes = append(append([]int(nil), l.modes...), r.modes...)
		}
		if isRoot {
			// B_root = U_lᵀ · X^(l) · U_r, as r_l × r_r × 1.
			xm, rows, _ := matricize(x, n.modes)
			lrows := rowsOf(x.Shape, n.left.modes)
			xt, _ := NewTensor([]int{lrows, rows / lrows, 1}, xm)
			b, err := projectChildren(xt, n.left, n.right)
			if err != nil {
				return nil, err
			}
			n.b = b
			return n, nil
		}
		xm, rows, cols := matricize(x, n.modes)
		limit := opts.MaxRank
		if t.Rank > 0 && (limit == 0 || t.Rank < limit) {
			limit = t.Rank
		}
		var s SVD
		if err := s.Factorize(mat.NewDense(rows, cols, xm), min(rows, cols)); err != nil {
			return nil, err
		}
		rank := truncationRank(s.AllValues(), deltaSq, limit)
		_ = s.Truncate(rank)
		u := s.U()
		n.orth = u
		if n.left == nil {
			n.u = u
			return n, nil
		}
		lrows := rowsOf(x.Shape, n.left.modes)
		ut, _ := NewTensor([]int{lrows, rows / lrows, rank}, u.RawMatrix().Data)
		b, err := projectChildren(ut, n.left, n.right)
		if err != nil {
			return nil, err
		}
		n.b = b
		return n, nil
	}
	root, err := build(tree, true)
	if err != nil {
		return err
	}
	*h = HT{root: root, shape: append([]int(nil), x.Shape...)}
	h.relErr, _ = RelativeError(x, h.Reconstruct())
	return nil
}

func checkDimTree(t *DimTree, d int) error {
	seen := make([]bool, d)
	var walk func(t *DimTree) error
	walk = func(t *DimTree) error {
		if t == nil {
			return errors.New("solvers: HT dimension tree has a nil node")
		}
		switch len(t.Children) {
		case 0:
			if t.Mode < 0 || t.Mode >= d || seen[t.Mode] {
				return fmt.Errorf("solvers: HT dimension tree leaf mode %d invalid or repeated for %d modes", t.Mode, d)
			}
			seen[t.Mode] = true
			return nil
		case 2:
			if err := walk(t.Children[0]); err != nil {
				return err
			}
			return walk(t.Children[1])
		default:
			return fmt.Errorf("solvers: HT dimension tree node with %d children", len(t.Children))
		}
	}
	if err := walk(t); err != nil {
		return err
	}
	if len(t.Children) != 2 {
		return errors.New("solvers: HT dimension tree root must have two children")
	}
	for m, ok := range seen {
		if !ok {
			return fmt.Errorf("solvers: HT dimension tree misses mode %d", m)
		}
	}
	return nil
}

func rowsOf(shape, modes []int) int {
	p := 1
	for _, m := range modes {
		p *= shape[m]
	}
	return p
}

// matricize returns X with the given modes (in that order) as rows and the
// remaining modes (ascending) as columns.
func matricize(x *Tensor, modes []int) ([]float64, int, int) {
	in := make([]bool, len(x.Shape))
	perm := append([]int(nil), modes...)
	for _, m := range modes {
		in[m] = true
	}
	var rest []int
	for m := range x.Shape {
		if !in[m] {
			rest = append(rest, m)
		}
	}
	sort.Ints(rest)
	perm = append(perm, rest...)
	p, _ := x.Permute(perm...)
	rows := rowsOf(x.Shape, modes)
	return p.Data, rows, len(p.Data) / rows
}

// projectChildren returns t ×₀ U_lᵀ ×₁ U_rᵀ for t of shape (n_l, n_r, r), with
// U the children's own orthonormal SVD bases, so the result is a projection
// (Grasedyck's B_t = (U_l ⊗ U_r)ᵀ·U_t); the children no longer need them after.
func projectChildren(t *Tensor, l, r *htNode) (*Tensor, error) {
	a, err := t.ModeProduct(0, l.orth, true)
	if err != nil {
		return nil, err
	}
	b, err := a.ModeProduct(1, r.orth, true)
	l.orth, r.orth = nil, nil
	return b, err
}

// basis returns the node's full n_t × r_t basis (U for leaves,
// (U_l ⊗ U_r)·B for inner nodes).
func (n *htNode) basis() *mat.Dense {
	if n.left == nil {
		return n.u
	}
	a, _ := n.b.ModeProduct(0, n.left.basis(), false)
	c, _ := a.ModeProduct(1, n.right.basis(), false)
	rows := c.Shape[0] * c.Shape[1]
	return mat.NewDense(rows, c.Shape[2], c.Data)
}

// Reconstruct expands the tree into the dense tensor.
func (h *HT) Reconstruct() *Tensor {
	full := h.root.basis() // Π n × 1, modes in root order
	shape := make([]int, len(h.root.modes))
	for i, m := range h.root.modes {
		shape[i] = h.shape[m]
	}
	t := &Tensor{Shape: shape, Data: full.RawMatrix().Data}
	inv := make([]int, len(h.root.modes))
	for i, m := range h.root.modes {
		inv[m] = i
	}
	out, _ := t.Permute(inv...)
	return out
}

// RelError is the measured ‖X − HT‖/‖X‖.
func (h *HT) RelError() float64 { return h.relErr }

// Params counts leaf bases and transfer tensors.
func (h *HT) Params() int {
	var walk func(n *htNode) int
	walk = func(n *htNode) int {
		if n.left == nil {
			r, c := n.u.Dims()
			return r * c
		}
		return len(n.b.Data) + walk(n.left) + walk(n.right)
	}
	return walk(h.root)
}

// LeafBasis returns the basis of the leaf holding mode (not a copy).
func (h *HT) LeafBasis(mode int) (*mat.Dense, error) {
	var find func(n *htNode) *mat.Dense
	find = func(n *htNode) *mat.Dense {
		if n.left == nil {
			if n.modes[0] == mode {
				return n.u
			}
			return nil
		}
		if u := find(n.left); u != nil {
			return u
		}
		return find(n.right)
	}
	if u := find(h.root); u != nil {
		return u, nil
	}
	return nil, fmt.Errorf("solvers: HT has no leaf for mode %d", mode)
}

// Tucker2Form turns an HT over ConvDimTree's shape {{0,1},{2,3}} into
// Tucker-2-shaped factors: the spatial subtree is expanded into a dense core
// G(a,b,h,w) = Σ B_TS(a,b,c)·B_root(c,d)·U_hw((h,w),d), so
// W ≈ G ×₀ U_out ×₁ U_in and the ONNX form is 1×1 → kH×kW → 1×1.
func (h *HT) Tucker2Form() (core *Tensor, uOut, uIn *mat.Dense, err error) {
	root := h.root
	if root == nil || len(h.shape) != 4 || root.left == nil || root.left.left == nil || root.left.left.left != nil ||
		root.left.left.modes[0] != 0 || root.left.right.modes[0] != 1 || fmt.Sprint(root.right.modes) != "[2 3]" {
		return nil, nil, nil, errors.New("solvers: Tucker2Form needs an HT over the tree {{0,1},{2,3}} of a 4-way kernel")
	}
	ts := root.left
	uOut, uIn = ts.left.u, ts.right.u
	spatial := root.right.basis() // kH·kW × r_hw
	rT, rS, rTS := ts.b.Shape[0], ts.b.Shape[1], ts.b.Shape[2]
	rHW := root.b.Shape[1]
	bts := mat.NewDense(rT*rS, rTS, ts.b.Data)
	broot := mat.NewDense(rTS, rHW, root.b.Data)
	var tmp, g mat.Dense
	tmp.Mul(bts, broot)
	g.Mul(&tmp, spatial.T())
	core = &Tensor{Shape: []int{rT, rS, h.shape[2], h.shape[3]}, Data: g.RawMatrix().Data}
	return core, uOut, uIn, nil
}
