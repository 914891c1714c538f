package runtime

import (
	"fmt"
	"sort"

	"github.com/onnxcompress/onnxcompress/graph"
)

// TopK: the k largest (or smallest) values along an axis and their indices,
// ties broken by the lower index. K became an input in opset 10.

func init() {
	registerForward(compileTopK, "TopK")
}

func compileTopK(n *graph.Node, opset int64) (kernelFunc, error) {
	axisAttr := n.AttrInt("axis", -1)
	largest := n.AttrInt("largest", 1) != 0
	kAttr := n.AttrInt("k", 0)
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		if x.DType != graph.Float32 && x.DType != graph.Int64 {
			return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
		}
		k := kAttr
		if opset >= 10 {
			ks, err := in[1].ints("K")
			if err != nil || len(ks) != 1 {
				return fmt.Errorf("K must be one integer")
			}
			k = ks[0]
		}
		axis, err := normAxis(axisAttr, len(x.Shape))
		if err != nil {
			return err
		}
		dim := x.Shape[axis]
		if k < 0 || int(k) > dim {
			return fmt.Errorf("k %d out of range for axis of size %d", k, dim)
		}
		outer, inner := shapeSize(x.Shape[:axis]), shapeSize(x.Shape[axis+1:])
		shape := append([]int(nil), x.Shape...)
		shape[axis] = int(k)
		c.alloc(out[0], x.DType, shape...)
		c.alloc(out[1], graph.Int64, shape...)
		order := make([]int, dim)
		for o := 0; o < outer; o++ {
			for i := 0; i < inner; i++ {
				at := func(j int) float64 { return x.at((o*dim+j)*inner + i) }
				for j := range order {
					order[j] = j
				}
				sort.SliceStable(order, func(a, b int) bool {
					va, vb := at(order[a]), at(order[b])
					if largest {
						return va > vb
					}
					return va < vb
				})
				for j := 0; j < int(k); j++ {
					dst := (o*int(k)+j)*inner + i
					src := (o*dim+order[j])*inner + i
					if x.DType == graph.Float32 {
						out[0].F32[dst] = x.F32[src]
					} else {
						out[0].I64[dst] = x.I64[src]
					}
					out[1].I64[dst] = int64(order[j])
				}
			}
		}
		return nil
	}, nil
}
