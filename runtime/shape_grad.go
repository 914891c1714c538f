package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Backward of data-movement ops. Ops that only reinterpret the shape
// (Reshape, Flatten, Squeeze, Unsqueeze) copy the gradient back. Ops that
// move elements around (Transpose, Concat, Split, Slice, Pad, Expand, Tile)
// need no backward of their own: the forward kernel run on element indices
// instead of values tells where each output element came from, and the
// gradient is scattered back along that map (summed where an element was
// read twice, dropped where the output was padding). Dropout in training
// mode keeps its scaled mask for the backward.

func init() {
	registerBackward(reshapeGrad, "Reshape", "Flatten", "Squeeze", "Unsqueeze")
	registerBackward(movementGrad(0), "Transpose", "Slice", "Split", "Expand", "Tile")
	registerBackward(movementGrad(-1), "Concat")
	registerBackward(compileDropoutGrad, "Dropout")
}

func reshapeGrad(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
	return &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		c.alloc(dx[0], graph.Float32, in[0].Shape...)
		copy(dx[0].F32, dy[0].F32)
		return nil
	}}, nil
}

// indexBase offsets element indices so padding the forward writes (any
// small value) never passes for an index.
const indexBase = int64(1) << 40

// movementGrad builds the index-map backward for an op moving the elements
// of input moved (-1: of every input) into its outputs.
func movementGrad(moved int) gradCompileFunc {
	return func(_ *graph.Node, _ int64, fwd kernelFunc, _ trainMode) (*gradOp, error) {
		return &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			idxIn := append([]*Tensor(nil), in...)
			starts := make([]int64, len(in))
			next := indexBase
			for j, t := range in {
				if t == nil || moved >= 0 && j != moved {
					continue
				}
				if t.DType != graph.Float32 {
					return fmt.Errorf("input %d is %s: %w", j, t.DType, ErrUnsupported)
				}
				idx := &Tensor{}
				c.pool.fill(idx, graph.Int64, t.Shape)
				c.temps = append(c.temps, idx)
				starts[j] = next
				for e := range idx.I64 {
					idx.I64[e] = next + int64(e)
				}
				next += int64(len(idx.I64))
				idxIn[j] = idx
			}
			idxOut := make([]*Tensor, len(out))
			for o := range idxOut {
				idxOut[o] = &Tensor{}
				c.temps = append(c.temps, idxOut[o])
			}
			if err := fwd(c, idxIn, idxOut); err != nil {
				return err
			}
			for j, g := range dx {
				if g != nil {
					c.allocZero(g, graph.Float32, in[j].Shape...)
				}
			}
			for o, d := range dy {
				if d == nil {
					continue
				}
				for e, v := range idxOut[o].I64 {
					if v < indexBase {
						continue
					}
					j := len(starts) - 1
					for j > 0 && (starts[j] == 0 || starts[j] > v) {
						j--
					}
					if dx[j] != nil {
						dx[j].F32[v-starts[j]] += d.F32[e]
					}
				}
			}
			return nil
		}}, nil
	}
}

func compileDropoutGrad(n *graph.Node, opset int64, fwd kernelFunc, mode trainMode) (*gradOp, error) {
	attrRatio := float64(n.AttrFloat("ratio", 0.5))
	var scale []float32 // per element: 0 or 1/(1−ratio) in training, nil otherwise
	op := &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		c.alloc(dx[0], graph.Float32, in[0].Shape...)
		copy(dx[0].F32, dy[0].F32)
		if scale != nil {
			for i, s := range scale {
				dx[0].F32[i] *= s
			}
		}
		return nil
	}}
	if !mode.dropout {
		return op, nil
	}
	rng := mode.rng
	op.train = func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		if x.DType != graph.Float32 {
			return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
		}
		ratio := attrRatio
		if opset >= 12 {
			ratio = 0.5
			if len(in) > 1 && in[1] != nil && in[1].Len() > 0 {
				ratio = in[1].at(0)
			}
		}
		if !(ratio >= 0 && ratio < 1) {
			return fmt.Errorf("ratio %v is not in [0, 1)", ratio)
		}
		scale = append(scale[:0], make([]float32, x.Len())...)
		keep := float32(1 / (1 - ratio))
		c.alloc(out[0], graph.Float32, x.Shape...)
		for i, v := range x.F32 {
			if rng.Float64() >= ratio {
				scale[i] = keep
			}
			out[0].F32[i] = v * scale[i]
		}
		if len(out) > 1 {
			c.alloc(out[1], graph.Bool, x.Shape...)
			for i, s := range scale {
				out[1].U8[i] = 0
				if s != 0 {
					out[1].U8[i] = 1
				}
			}
		}
		return nil
	}
	return op, nil
}
