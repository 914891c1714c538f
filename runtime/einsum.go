package runtime

import (
	"fmt"
	"slices"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Einsum with one or two operands and no repeated index within an operand:
// indices only one operand has and the output lacks are summed first, then
// the operands are laid out as [batch, rows, contracted] and
// [batch, contracted, cols] for a batched GEMM.

func init() {
	registerForward(compileEinsum, "Einsum")
}

func compileEinsum(n *graph.Node, _ int64) (kernelFunc, error) {
	eq := strings.ReplaceAll(n.AttrString("equation", ""), " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if len(terms) > 2 || len(terms) != len(n.Inputs) {
		return nil, fmt.Errorf("equation %q with %d inputs: only one or two operands are %w", eq, len(n.Inputs), ErrUnsupported)
	}
	return func(c *execContext, in, out []*Tensor) error {
		labels := make([][]rune, len(terms))
		ellipsis := 0
		for i, t := range terms {
			if in[i].DType != graph.Float32 {
				return fmt.Errorf("dtype %s is %w", in[i].DType, ErrUnsupported)
			}
			l, e, err := expandEllipsis(t, len(in[i].Shape))
			if err != nil {
				return err
			}
			labels[i], ellipsis = l, max(ellipsis, e)
			seen := map[rune]bool{}
			for _, r := range l {
				if seen[r] {
					return fmt.Errorf("repeated index %q in %q (diagonals) is %w", r, t, ErrUnsupported)
				}
				seen[r] = true
			}
		}
		var outLabels []rune
		if explicit {
			var err error
			if outLabels, _, err = expandEllipsis(rhs, -1-ellipsis); err != nil {
				return err
			}
		} else {
			outLabels = implicitOutput(labels, ellipsis)
		}
		size := map[rune]int{}
		for i, l := range labels {
			for k, r := range l {
				if d, ok := size[r]; ok && d != in[i].Shape[k] {
					return fmt.Errorf("index %q has sizes %d and %d", r, d, in[i].Shape[k])
				}
				size[r] = in[i].Shape[k]
			}
		}
		ops := make([]*Tensor, len(in))
		for i := range in {
			keep := append(slices.Clone(outLabels), otherLabels(labels, i)...)
			ops[i], labels[i] = sumOut(in[i], labels[i], keep)
		}
		var res *Tensor
		var resLabels []rune
		if len(ops) == 1 {
			res, resLabels = ops[0], labels[0]
		} else {
			res, resLabels = contract(c, ops[0], labels[0], ops[1], labels[1], outLabels, size)
		}
		for _, r := range outLabels {
			if !slices.Contains(resLabels, r) {
				return fmt.Errorf("output index %q appears in no operand", r)
			}
		}
		final := permuteLabeled(res, resLabels, outLabels)
		copyTensor(c, out[0], final, final.Shape)
		return nil
	}, nil
}

// expandEllipsis turns a term into one label per axis, "..." becoming
// numbered labels for the broadcast axes (rank < 0: the output term, whose
// broadcast axes number -1-rank).
func expandEllipsis(term string, rank int) ([]rune, int, error) {
	before, after, has := strings.Cut(term, "...")
	named := len([]rune(before)) + len([]rune(after))
	if !has {
		if rank >= 0 && named != rank {
			return nil, 0, fmt.Errorf("term %q for rank %d", term, rank)
		}
		return []rune(before), 0, nil
	}
	e := rank - named
	if rank < 0 {
		e = -1 - rank
	}
	if e < 0 {
		return nil, 0, fmt.Errorf("term %q for rank %d", term, rank)
	}
	l := []rune(before)
	for i := 0; i < e; i++ {
		l = append(l, rune(0x10000+i))
	}
	return append(l, []rune(after)...), e, nil
}

// implicitOutput: broadcast axes, then the indices used once, alphabetically.
func implicitOutput(labels [][]rune, ellipsis int) []rune {
	count := map[rune]int{}
	for _, l := range labels {
		for _, r := range l {
			count[r]++
		}
	}
	var out []rune
	for i := 0; i < ellipsis; i++ {
		out = append(out, rune(0x10000+i))
	}
	var once []rune
	for r, k := range count {
		if k == 1 && r < 0x10000 {
			once = append(once, r)
		}
	}
	slices.Sort(once)
	return append(out, once...)
}

func otherLabels(labels [][]rune, i int) []rune {
	var out []rune
	for j, l := range labels {
		if j != i {
			out = append(out, l...)
		}
	}
	return out
}

// sumOut sums t over the axes whose labels are not in keep.
func sumOut(t *Tensor, labels, keep []rune) (*Tensor, []rune) {
	var kept []rune
	var axes []int64
	for i, r := range labels {
		if slices.Contains(keep, r) {
			kept = append(kept, r)
		} else {
			axes = append(axes, int64(i))
		}
	}
	if len(axes) == 0 {
		return t, labels
	}
	red, shape, _ := reducedShape(t.Shape, axes, false)
	outStrides := make([]int, len(t.Shape))
	acc := 1
	for i := len(t.Shape) - 1; i >= 0; i-- {
		if !red[i] {
			outStrides[i] = acc
			acc *= t.Shape[i]
		}
	}
	idx := make([]int64, t.Len())
	stridedIndex(idx, t.Shape, outStrides, 0)
	sum := make([]float64, shapeSize(shape))
	for i, o := range idx {
		sum[o] += float64(t.F32[i])
	}
	res := &Tensor{DType: graph.Float32, Shape: shape, F32: make([]float32, len(sum))}
	for i, v := range sum {
		res.F32[i] = float32(v)
	}
	return res, kept
}

// permuteLabeled transposes t from label order have to order want.
func permuteLabeled(t *Tensor, have, want []rune) *Tensor {
	if slices.Equal(have, want) {
		return t
	}
	st := rowMajorStrides(t.Shape)
	shape := make([]int, len(want))
	strides := make([]int, len(want))
	for i, r := range want {
		k := slices.Index(have, r)
		shape[i], strides[i] = t.Shape[k], st[k]
	}
	res := &Tensor{DType: graph.Float32, Shape: shape, F32: make([]float32, shapeSize(shape))}
	transposeF32(res.F32, t.F32, shape, strides)
	return res
}

// contract multiplies two labelled operands, summing the shared labels the
// output lacks; the result is labelled batch, rows (a only), cols (b only).
func contract(c *execContext, a *Tensor, la []rune, b *Tensor, lb []rune, outLabels []rune, size map[rune]int) (*Tensor, []rune) {
	var batch, rows, cols, inner []rune
	for _, r := range la {
		switch {
		case !slices.Contains(lb, r):
			rows = append(rows, r)
		case slices.Contains(outLabels, r):
			batch = append(batch, r)
		default:
			inner = append(inner, r)
		}
	}
	for _, r := range lb {
		if !slices.Contains(la, r) {
			cols = append(cols, r)
		}
	}
	prod := func(ls []rune) int {
		p := 1
		for _, r := range ls {
			p *= size[r]
		}
		return p
	}
	nb, m, k, nn := prod(batch), prod(rows), prod(inner), prod(cols)
	ap := permuteLabeled(a, la, concatRunes(batch, rows, inner))
	bp := permuteLabeled(b, lb, concatRunes(batch, inner, cols))
	resLabels := concatRunes(batch, rows, cols)
	shape := make([]int, len(resLabels))
	for i, r := range resLabels {
		shape[i] = size[r]
	}
	res := &Tensor{DType: graph.Float32, Shape: shape, F32: make([]float32, nb*m*nn)}
	if k == 0 {
		return res, resLabels
	}
	for i := 0; i < nb; i++ {
		c.backend.Sgemm(false, false, m, nn, k, 1, ap.F32[i*m*k:], k, bp.F32[i*k*nn:], nn, 0, res.F32[i*m*nn:], nn)
	}
	return res, resLabels
}

func concatRunes(parts ...[]rune) []rune {
	var out []rune
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
