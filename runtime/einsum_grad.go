package runtime

import (
	"fmt"
	"sort"
	"strings"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Einsum backward is itself an einsum: for Y = einsum("a,b->y", A, B),
// dA = einsum("y,b->a", dY, B) and dB = einsum("y,a->b", dY, A), run by the
// forward kernel. That holds when every index of the operand appears in the
// output or the other operand, once per operand; other equations (an index
// summed inside one operand, diagonals) are refused.

func init() {
	registerBackward(compileEinsumGrad, "Einsum")
}

func compileEinsumGrad(n *graph.Node, opset int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
	eq := strings.ReplaceAll(n.AttrString("equation", ""), " ", "")
	lhs, rhs, explicit := strings.Cut(eq, "->")
	terms := strings.Split(lhs, ",")
	if !explicit {
		rhs = implicitEinsumOutput(terms)
	}
	if len(terms) != len(n.Inputs) || len(terms) > 2 {
		return nil, fmt.Errorf("equation %q: gradients of %d operands are %w", eq, len(terms), ErrUnsupported)
	}
	kernels := make([]kernelFunc, len(terms))
	for j, term := range terms {
		others := rhs
		sources := rhs
		if len(terms) == 2 {
			others += terms[1-j]
			sources += "," + terms[1-j]
		}
		for k, r := range strings.ReplaceAll(term, "...", "") {
			if strings.ContainsRune(strings.ReplaceAll(term, "...", "")[k+1:], r) || !strings.ContainsRune(others, r) {
				return nil, fmt.Errorf("equation %q: the gradient of operand %d is %w", eq, j, ErrUnsupported)
			}
		}
		gn := &graph.Node{Name: n.Name + "_grad", OpType: "Einsum", Inputs: n.Inputs,
			Attrs: []*graph.Attr{graph.StringAttr("equation", sources+"->"+term)}}
		k, err := compileEinsum(gn, opset)
		if err != nil {
			return nil, err
		}
		kernels[j] = k
	}
	return &gradOp{keepIn: []int{0, 1}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		for j, g := range dx {
			if g == nil {
				continue
			}
			args := []*Tensor{dy[0]}
			if len(in) == 2 {
				args = append(args, in[1-j])
			}
			if err := kernels[j](c, args, []*Tensor{g}); err != nil {
				return err
			}
			if !sameShape(g.Shape, in[j].Shape) {
				return fmt.Errorf("operand %d %v is broadcast: its gradient is %w", j, in[j].Shape, ErrUnsupported)
			}
		}
		return nil
	}}, nil
}

// implicitEinsumOutput is the output of an equation without "->": the
// indices that appear once, in alphabetical order, after any ellipsis.
func implicitEinsumOutput(terms []string) string {
	count := map[rune]int{}
	ellipsis := false
	for _, t := range terms {
		ellipsis = ellipsis || strings.Contains(t, "...")
		for _, r := range strings.ReplaceAll(t, "...", "") {
			count[r]++
		}
	}
	var once []string
	for r, k := range count {
		if k == 1 {
			once = append(once, string(r))
		}
	}
	sort.Strings(once)
	out := strings.Join(once, "")
	if ellipsis {
		out = "..." + out
	}
	return out
}
