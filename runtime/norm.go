package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// BatchNormalization (inference), InstanceNormalization, LayerNormalization.

func init() {
	registerForward(compileBatchNorm, "BatchNormalization")
	registerForward(compileInstanceNorm, "InstanceNormalization")
	registerForward(compileLayerNorm, "LayerNormalization")
}

func compileBatchNorm(n *graph.Node, opset int64) (kernelFunc, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	if n.AttrInt("training_mode", 0) != 0 {
		return nil, fmt.Errorf("training_mode is %w", ErrUnsupported)
	}
	if opset < 9 && n.AttrInt("spatial", 1) == 0 {
		return nil, fmt.Errorf("spatial=0 is %w", ErrUnsupported)
	}
	if len(n.Outputs) > 1 {
		return nil, fmt.Errorf("training outputs (running mean/var) are %w", ErrUnsupported)
	}
	return func(c *execContext, in, out []*Tensor) error {
		x, scale, bias, mean, variance := in[0], in[1], in[2], in[3], in[4]
		if x.DType != graph.Float32 || len(x.Shape) < 2 {
			return fmt.Errorf("X %s%v: %w", x.DType, x.Shape, ErrUnsupported)
		}
		ch := x.Shape[1]
		for _, p := range []*Tensor{scale, bias, mean, variance} {
			if p.DType != graph.Float32 || p.Len() != ch {
				return fmt.Errorf("parameter %v does not hold %d channels", p.Shape, ch)
			}
		}
		c.alloc(out[0], graph.Float32, x.Shape...)
		hw := shapeSize(x.Shape[2:])
		planes := x.Shape[0] * ch
		c.parallel(planes, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				ci := p % ch
				a := float32(float64(scale.F32[ci]) / math.Sqrt(float64(variance.F32[ci])+eps))
				b := bias.F32[ci] - mean.F32[ci]*a
				src, dst := x.F32[p*hw:(p+1)*hw], out[0].F32[p*hw:(p+1)*hw]
				for i, v := range src {
					dst[i] = v*a + b
				}
			}
		})
		return nil
	}, nil
}

func compileInstanceNorm(n *graph.Node, _ int64) (kernelFunc, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	return func(c *execContext, in, out []*Tensor) error {
		x, scale, bias := in[0], in[1], in[2]
		if x.DType != graph.Float32 || len(x.Shape) < 3 {
			return fmt.Errorf("X %s%v: %w", x.DType, x.Shape, ErrUnsupported)
		}
		ch := x.Shape[1]
		if scale.Len() != ch || bias.Len() != ch {
			return fmt.Errorf("scale %v and B %v must hold %d channels", scale.Shape, bias.Shape, ch)
		}
		c.alloc(out[0], graph.Float32, x.Shape...)
		hw := shapeSize(x.Shape[2:])
		c.parallel(x.Shape[0]*ch, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				ci := p % ch
				normalizeRow(x.F32[p*hw:(p+1)*hw], out[0].F32[p*hw:(p+1)*hw], eps, func(i int, v float64) float32 {
					return float32(v*float64(scale.F32[ci]) + float64(bias.F32[ci]))
				})
			}
		})
		return nil
	}, nil
}

// normalizeRow writes affine((x-mean)/sqrt(var+eps)) of one row, computing
// statistics in float64, and returns the mean and 1/sqrt(var+eps).
func normalizeRow(src, dst []float32, eps float64, affine func(i int, v float64) float32) (mean, inv float64) {
	var sum, sq float64
	for _, v := range src {
		sum += float64(v)
	}
	mean = sum / float64(len(src))
	for _, v := range src {
		d := float64(v) - mean
		sq += d * d
	}
	inv = 1 / math.Sqrt(sq/float64(len(src))+eps)
	for i, v := range src {
		dst[i] = affine(i, (float64(v)-mean)*inv)
	}
	return mean, inv
}

func compileLayerNorm(n *graph.Node, _ int64) (kernelFunc, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	axisAttr := n.AttrInt("axis", -1)
	return func(c *execContext, in, out []*Tensor) error {
		x, scale := in[0], in[1]
		var bias *Tensor
		if len(in) > 2 {
			bias = in[2]
		}
		if x.DType != graph.Float32 {
			return fmt.Errorf("dtype %s is %w", x.DType, ErrUnsupported)
		}
		axis, err := normAxis(axisAttr, len(x.Shape))
		if err != nil {
			return err
		}
		norm := x.Shape[axis:]
		inner := shapeSize(norm)
		sc := make([]float32, inner)
		expandInto(sc, norm, scale.F32, scale.Shape)
		bs := make([]float32, inner)
		if bias != nil {
			expandInto(bs, norm, bias.F32, bias.Shape)
		}
		c.alloc(out[0], graph.Float32, x.Shape...)
		rows := shapeSize(x.Shape[:axis])
		statShape := append([]int(nil), x.Shape...)
		for i := axis; i < len(statShape); i++ {
			statShape[i] = 1
		}
		mean, invStd := make([]float32, rows), make([]float32, rows)
		c.parallel(rows, func(lo, hi int) {
			for r := lo; r < hi; r++ {
				m, inv := normalizeRow(x.F32[r*inner:(r+1)*inner], out[0].F32[r*inner:(r+1)*inner], eps, func(i int, v float64) float32 {
					return float32(v*float64(sc[i]) + float64(bs[i]))
				})
				mean[r], invStd[r] = float32(m), float32(inv)
			}
		})
		for k, stat := range [][]float32{mean, invStd} {
			if k+1 < len(out) {
				c.alloc(out[k+1], graph.Float32, statShape...)
				copy(out[k+1].F32, stat)
			}
		}
		return nil
	}, nil
}
