package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Pad: constant, reflect and edge modes. Pads became an input in opset 11
// and gained the axes input in 18.

func init() {
	registerForward(compilePad, "Pad")
}

func compilePad(n *graph.Node, opset int64) (kernelFunc, error) {
	mode := n.AttrString("mode", "constant")
	switch mode {
	case "constant", "reflect", "edge", "wrap":
	default:
		return nil, fmt.Errorf("mode %q is %w", mode, ErrUnsupported)
	}
	attrPads := n.AttrInts("pads", n.AttrInts("paddings", nil))
	attrValue := float64(n.AttrFloat("value", 0))
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		r := len(x.Shape)
		pads, value := attrPads, attrValue
		if opset >= 11 {
			var err error
			if pads, err = intsInput(in, 1, "pads"); err != nil {
				return err
			}
			if len(in) > 2 && in[2] != nil && in[2].Len() > 0 {
				value = in[2].at(0)
			}
			axes, err := intsInput(in, 3, "axes")
			if err != nil {
				return err
			}
			if axes != nil {
				full := make([]int64, 2*r)
				for i, a := range axes {
					ax, err := normAxis(a, r)
					if err != nil {
						return err
					}
					full[ax], full[r+ax] = pads[i], pads[len(axes)+i]
				}
				pads = full
			}
		}
		if len(pads) != 2*r {
			return fmt.Errorf("pads %v for rank %d", pads, r)
		}
		shape := make([]int, r)
		for i := range shape {
			shape[i] = x.Shape[i] + int(pads[i]) + int(pads[r+i])
			if shape[i] < 0 {
				return fmt.Errorf("pads %v shrink %v below zero", pads, x.Shape)
			}
			if mode != "constant" && x.Shape[i] == 0 && shape[i] > 0 {
				return fmt.Errorf("cannot %s-pad an empty axis", mode)
			}
		}
		total := shapeSize(shape)
		idx := c.tempI64(total)
		st := rowMajorStrides(x.Shape)
		pos := make([]int, r)
		for o := 0; o < total; o++ {
			src := 0
			for d := 0; d < r && src >= 0; d++ {
				p := pos[d] - int(pads[d])
				dim := x.Shape[d]
				if p < 0 || p >= dim {
					switch mode {
					case "constant":
						src = -1
						continue
					case "edge":
						p = max(0, min(p, dim-1))
					case "wrap":
						p = ((p % dim) + dim) % dim
					case "reflect":
						p = reflectIndex(p, dim)
					}
				}
				src += p * st[d]
			}
			idx[o] = int64(src)
			for d := r - 1; d >= 0; d-- {
				pos[d]++
				if pos[d] < shape[d] {
					break
				}
				pos[d] = 0
			}
		}
		takeIndexed(c, out[0], x, shape, idx, value)
		return nil
	}, nil
}

// reflectIndex mirrors p into [0, dim) without repeating the edge.
func reflectIndex(p, dim int) int {
	if dim == 1 {
		return 0
	}
	period := 2 * (dim - 1)
	p = ((p % period) + period) % period
	if p >= dim {
		p = period - p
	}
	return p
}

var _ = graph.Float32
