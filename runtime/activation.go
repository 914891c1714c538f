package runtime

import (
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// activation is an element-wise function a producer kernel (Conv, Gemm)
// applies to its output while the output is still in cache, in place of a
// separate Relu/LeakyRelu/Clip node. The zero value is the identity.
type activation struct {
	kind   string // "", "Relu", "LeakyRelu", "Clip"
	alpha  float32
	lo, hi float32
}

// fusibleActivation returns the activation a node computes when it can be
// folded into its producer: Relu, LeakyRelu, and Clip with constant bounds.
func fusibleActivation(n *graph.Node, opset int64, constant func(*graph.Value) *Tensor) (activation, bool) {
	if !n.IsDefaultDomain() {
		return activation{}, false
	}
	switch n.OpType {
	case "Relu":
		return activation{kind: "Relu"}, true
	case "LeakyRelu":
		return activation{kind: "LeakyRelu", alpha: n.AttrFloat("alpha", 0.01)}, true
	case "Clip":
		a := activation{kind: "Clip", lo: float32(math.Inf(-1)), hi: float32(math.Inf(1))}
		if opset < 11 {
			a.lo, a.hi = n.AttrFloat("min", a.lo), n.AttrFloat("max", a.hi)
			return a, true
		}
		for i, bound := range []*float32{&a.lo, &a.hi} {
			v := n.Input(i + 1)
			if v == nil || v.Name == "" {
				continue
			}
			t := constant(v)
			if t == nil || t.DType != graph.Float32 || t.Len() != 1 {
				return activation{}, false
			}
			*bound = t.F32[0]
		}
		return a, true
	}
	return activation{}, false
}

// apply runs the activation over row in place, adding bias first.
func (a activation) apply(row []float32, bias float32) {
	switch a.kind {
	case "":
		if bias != 0 {
			biasReluRows(row, 0, row, 0, 1, len(row), bias, false)
		}
	case "Relu":
		biasReluRows(row, 0, row, 0, 1, len(row), bias, true)
	case "LeakyRelu":
		for i, v := range row {
			v += bias
			if v < 0 {
				v *= a.alpha
			}
			row[i] = v
		}
	case "Clip":
		for i, v := range row {
			row[i] = min(max(v+bias, a.lo), a.hi)
		}
	}
}

// biasActivate writes act(src + bias) into dst.
func (a activation) biasActivate(dst, src []float32, bias float32) {
	switch a.kind {
	case "", "Relu":
		biasReluRows(dst, 0, src, 0, 1, len(dst), bias, a.kind == "Relu")
	default:
		copy(dst, src)
		a.apply(dst, bias)
	}
}

// biasReluGo is biasRelu without vector instructions (tails, other CPUs).
func biasReluGo(dst, src []float32, bias float32, relu bool) {
	src = src[:len(dst)]
	if !relu {
		for i, v := range src {
			dst[i] = v + bias
		}
		return
	}
	for i, v := range src {
		dst[i] = max(v+bias, 0)
	}
}

// biasActivateRows is biasActivate over rows rows of n elements, row r of
// dst at r·dstStride and of src at r·srcStride.
func (a activation) biasActivateRows(dst []float32, dstStride int, src []float32, srcStride, rows, n int, bias float32) {
	if a.kind == "" || a.kind == "Relu" {
		biasReluRows(dst, dstStride, src, srcStride, rows, n, bias, a.kind == "Relu")
		return
	}
	for r := 0; r < rows; r++ {
		a.biasActivate(dst[r*dstStride:][:n], src[r*srcStride:][:n], bias)
	}
}
