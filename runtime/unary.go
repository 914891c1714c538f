package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Element-wise unary math and activations. Each op maps one float32 to one
// float32; attributes are read once at compile time.

func init() {
	plain := map[string]func(x float64) float64{
		"Sqrt":       math.Sqrt,
		"Exp":        math.Exp,
		"Log":        math.Log,
		"Erf":        math.Erf,
		"Tanh":       math.Tanh,
		"Floor":      math.Floor,
		"Ceil":       math.Ceil,
		"Round":      math.RoundToEven,
		"Sin":        math.Sin,
		"Cos":        math.Cos,
		"Reciprocal": func(x float64) float64 { return 1 / x },
		"Tan":        math.Tan,
		"Asin":       math.Asin,
		"Acos":       math.Acos,
		"Atan":       math.Atan,
		"Sinh":       math.Sinh,
		"Cosh":       math.Cosh,
		"Asinh":      math.Asinh,
		"Acosh":      math.Acosh,
		"Atanh":      math.Atanh,
		"Sigmoid":    sigmoid,
		"Softplus":   func(x float64) float64 { return math.Log1p(math.Exp(-math.Abs(x))) + math.Max(x, 0) },
		"Softsign":   func(x float64) float64 { return x / (1 + math.Abs(x)) },
		"Sign": func(x float64) float64 {
			switch {
			case x > 0:
				return 1
			case x < 0:
				return -1
			}
			return x
		},
	}
	for op, f := range plain {
		registerForward(simple(unaryKernel(f)), op)
	}
	registerForward(simple(unaryKernel(nil)), "Relu")
	registerForward(compileSignAgnostic(func(x int64) int64 { return -x }, func(x float64) float64 { return -x }), "Neg")
	registerForward(compileSignAgnostic(func(x int64) int64 {
		if x < 0 {
			return -x
		}
		return x
	}, math.Abs), "Abs")
	registerForward(func(n *graph.Node, _ int64) (kernelFunc, error) {
		alpha := float64(n.AttrFloat("alpha", 0.01))
		return unaryKernel(func(x float64) float64 {
			if x < 0 {
				return alpha * x
			}
			return x
		}), nil
	}, "LeakyRelu")
	registerForward(func(n *graph.Node, _ int64) (kernelFunc, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		return unaryKernel(func(x float64) float64 {
			if x < 0 {
				return alpha * (math.Exp(x) - 1)
			}
			return x
		}), nil
	}, "Elu")
	registerForward(func(n *graph.Node, _ int64) (kernelFunc, error) {
		alpha := float64(n.AttrFloat("alpha", 1.67326319217681884765625))
		gamma := float64(n.AttrFloat("gamma", 1.05070102214813232421875))
		return unaryKernel(func(x float64) float64 {
			if x <= 0 {
				return gamma * (alpha*math.Exp(x) - alpha)
			}
			return gamma * x
		}), nil
	}, "Selu")
	registerForward(func(n *graph.Node, _ int64) (kernelFunc, error) {
		alpha := float64(n.AttrFloat("alpha", 0.2))
		beta := float64(n.AttrFloat("beta", 0.5))
		return unaryKernel(func(x float64) float64 { return math.Max(0, math.Min(1, alpha*x+beta)) }), nil
	}, "HardSigmoid")
	registerForward(simple(unaryKernel(func(x float64) float64 {
		return x * math.Max(0, math.Min(1, x/6+0.5))
	})), "HardSwish")
	registerForward(func(n *graph.Node, _ int64) (kernelFunc, error) {
		alpha := float64(n.AttrFloat("alpha", 1))
		return unaryKernel(func(x float64) float64 {
			if x > alpha {
				return x
			}
			return 0
		}), nil
	}, "ThresholdedRelu")
	registerForward(func(n *graph.Node, _ int64) (kernelFunc, error) {
		approx := n.AttrString("approximate", "none")
		if approx == "tanh" {
			return unaryKernel(func(x float64) float64 {
				return 0.5 * x * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x)))
			}), nil
		}
		return unaryKernel(func(x float64) float64 { return 0.5 * x * (1 + math.Erf(x/math.Sqrt2)) }), nil
	}, "Gelu")
	registerForward(compileClip, "Clip")
}

func sigmoid(x float64) float64 {
	if x >= 0 {
		return 1 / (1 + math.Exp(-x))
	}
	e := math.Exp(x)
	return e / (1 + e)
}

// unaryKernel applies f to every float32 element; nil f means Relu, which
// gets a vector loop because it follows most convolutions.
func unaryKernel(f func(float64) float64) kernelFunc {
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		if x.DType != graph.Float32 {
			return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
		}
		c.alloc(out[0], graph.Float32, x.Shape...)
		src, dst := x.F32, out[0].F32
		n := len(dst)
		chunks := n/16384 + 1
		c.parallel(chunks, func(lo, hi int) {
			s, e := lo*n/chunks, hi*n/chunks
			if f == nil {
				biasReluRows(dst[s:e], 0, src[s:e], 0, 1, e-s, 0, true)
				return
			}
			for i := s; i < e; i++ {
				dst[i] = float32(f(float64(src[i])))
			}
		})
		return nil
	}
}

// compileSignAgnostic builds ops defined on both floats and integers.
func compileSignAgnostic(fi func(int64) int64, ff func(float64) float64) compileFunc {
	fk := unaryKernel(ff)
	return simple(func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		switch x.DType {
		case graph.Int64:
			c.alloc(out[0], graph.Int64, x.Shape...)
			for i, v := range x.I64 {
				out[0].I64[i] = fi(v)
			}
			return nil
		case graph.Int8:
			c.alloc(out[0], graph.Int8, x.Shape...)
			for i, v := range x.I8 {
				out[0].I8[i] = int8(fi(int64(v)))
			}
			return nil
		}
		return fk(c, in, out)
	})
}

// compileClip: bounds are attributes before opset 11, optional inputs after.
func compileClip(n *graph.Node, opset int64) (kernelFunc, error) {
	attrMin := n.AttrFloat("min", float32(math.Inf(-1)))
	attrMax := n.AttrFloat("max", float32(math.Inf(1)))
	return func(c *execContext, in, out []*Tensor) error {
		x := in[0]
		lo, hi := float64(attrMin), float64(attrMax)
		if opset >= 11 {
			lo, hi = math.Inf(-1), math.Inf(1)
			if len(in) > 1 && in[1] != nil {
				lo = in[1].at(0)
			}
			if len(in) > 2 && in[2] != nil {
				hi = in[2].at(0)
			}
		}
		switch x.DType {
		case graph.Float32:
			c.alloc(out[0], graph.Float32, x.Shape...)
			l, h := float32(lo), float32(hi)
			for i, v := range x.F32 {
				if v < l {
					v = l
				}
				if v > h {
					v = h
				}
				out[0].F32[i] = v
			}
		case graph.Int64:
			c.alloc(out[0], graph.Int64, x.Shape...)
			l, h := int64(math.Max(lo, math.MinInt64)), int64(math.Min(hi, math.MaxInt64))
			for i, v := range x.I64 {
				out[0].I64[i] = min(max(v, l), h)
			}
		case graph.Int8:
			c.alloc(out[0], graph.Int8, x.Shape...)
			for i, v := range x.I8 {
				out[0].I8[i] = int8(math.Min(math.Max(float64(v), lo), hi))
			}
		case graph.Uint8:
			c.alloc(out[0], graph.Uint8, x.Shape...)
			for i, v := range x.U8 {
				out[0].U8[i] = uint8(math.Min(math.Max(float64(v), lo), hi))
			}
		default:
			return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
		}
		return nil
	}, nil
}
