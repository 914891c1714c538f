package runtime

import "github.com/onnxcompress/onnxcompress/graph"

// Round backward is straight-through: the gradient passes unchanged. Round's
// true derivative is zero almost everywhere, which would stop all training
// through a fake quantizer (Round(x/s)·s, LCS's quantized regime); the
// straight-through estimator is what quantization-aware training uses.

func init() {
	registerBackward(func(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
		return &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			c.alloc(dx[0], graph.Float32, in[0].Shape...)
			copy(dx[0].F32, dy[0].F32)
			return nil
		}}, nil
	}, "Round")
}
