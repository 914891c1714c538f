package runtime

import (
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Backward of element-wise activations. Those whose derivative is a function
// of the output (Relu, Sigmoid, Tanh) keep only the output; the others keep
// the input. At a kink the derivative is PyTorch's (Relu′(0) = 0, Clip
// passes the gradient at its bounds, HardSigmoid and HardSwish take the
// inner piece only strictly inside).

func init() {
	registerBackward(func(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
		return &gradOp{keepOut: true, grad: reluGrad}, nil
	}, "Relu")
	registerBackward(outputGrad(func(y float32) float32 { return y * (1 - y) }), "Sigmoid")
	registerBackward(outputGrad(func(y float32) float32 { return 1 - y*y }), "Tanh")
	registerBackward(outputGrad(func(y float32) float32 { return 0.5 / y }), "Sqrt")
	registerBackward(func(n *graph.Node, _ int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
		alpha := n.AttrFloat("alpha", 0.2)
		beta := n.AttrFloat("beta", 0.5)
		return inputGrad(func(x float32) float32 {
			if v := alpha*x + beta; v > 0 && v < 1 {
				return alpha
			}
			return 0
		}), nil
	}, "HardSigmoid")
	registerBackward(func(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
		return inputGrad(func(x float32) float32 {
			switch {
			case x < -3:
				return 0
			case x > 3:
				return 1
			}
			return x/3 + 0.5
		}), nil
	}, "HardSwish")
	registerBackward(func(n *graph.Node, _ int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
		alpha := n.AttrFloat("alpha", 0.01)
		return inputGrad(func(x float32) float32 {
			if x < 0 {
				return alpha
			}
			return 1
		}), nil
	}, "LeakyRelu")
	registerBackward(compileClipGrad, "Clip")
	registerBackward(passGradThrough, "Identity")
}

// passGradThrough hands the output gradient to the input unchanged.
func passGradThrough(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
	return &gradOp{grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		c.alloc(dx[0], graph.Float32, in[0].Shape...)
		copy(dx[0].F32, dy[0].F32)
		return nil
	}}, nil
}

// reluGrad passes the gradient where the output is positive. It runs after
// nearly every layer, on data whose signs a branch cannot predict, so it
// masks bits instead: Relu's output is +0 or positive (max never returns
// −0 here), and a positive float's bits are a positive int32.
func reluGrad(c *execContext, in, out, dy, dx []*Tensor) error {
	c.alloc(dx[0], graph.Float32, in[0].Shape...)
	y := out[0].F32
	reluMask(dx[0].F32[:len(y)], dy[0].F32, y)
	return nil
}

// reluMaskGo is reluMask without the vector unit.
func reluMaskGo(g, d, y []float32) {
	d, y = d[:len(g)], y[:len(g)]
	for i, v := range y {
		// All ones when v's bits are a positive int32 (−0 is not).
		b := int32(math.Float32bits(v))
		mask := uint32(-b>>31) &^ uint32(b>>31)
		g[i] = math.Float32frombits(math.Float32bits(d[i]) & mask)
	}
}

// outputGrad is the backward of y = f(x) with f′ written in terms of y.
func outputGrad(deriv func(y float32) float32) gradCompileFunc {
	return func(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
		return &gradOp{keepOut: true, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
			c.alloc(dx[0], graph.Float32, in[0].Shape...)
			y, d, g := out[0].F32, dy[0].F32, dx[0].F32
			for i := range g {
				g[i] = d[i] * deriv(y[i])
			}
			return nil
		}}, nil
	}
}

// inputGrad is the backward of y = f(x) with f′ written in terms of x.
func inputGrad(deriv func(x float32) float32) *gradOp {
	return &gradOp{keepIn: []int{0}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		c.alloc(dx[0], graph.Float32, in[0].Shape...)
		x, d, g := in[0].F32, dy[0].F32, dx[0].F32
		for i := range g {
			g[i] = d[i] * deriv(x[i])
		}
		return nil
	}}
}

func compileClipGrad(n *graph.Node, opset int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
	attrMin := n.AttrFloat("min", float32(math.Inf(-1)))
	attrMax := n.AttrFloat("max", float32(math.Inf(1)))
	return &gradOp{keepIn: []int{0}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		lo, hi := attrMin, attrMax
		if opset >= 11 {
			lo, hi = float32(math.Inf(-1)), float32(math.Inf(1))
			if len(in) > 1 && in[1] != nil {
				lo = float32(in[1].at(0))
			}
			if len(in) > 2 && in[2] != nil {
				hi = float32(in[2].at(0))
			}
		}
		for j := 1; j < len(dx); j++ {
			if dx[j] != nil {
				// Gradients of trainable bounds: the part clipped to each.
				c.allocZero(dx[j], graph.Float32, in[j].Shape...)
				for i, v := range in[0].F32 {
					if j == 1 && v < lo || j == 2 && v > hi {
						dx[j].F32[0] += dy[0].F32[i]
					}
				}
			}
		}
		if dx[0] == nil {
			return nil
		}
		c.alloc(dx[0], graph.Float32, in[0].Shape...)
		x, d, g := in[0].F32, dy[0].F32, dx[0].F32
		for i, v := range x {
			if v < lo || v > hi {
				g[i] = 0
			} else {
				g[i] = d[i]
			}
		}
		return nil
	}}, nil
}
