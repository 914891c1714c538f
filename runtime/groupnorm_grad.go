package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// InstanceNormalization backward. Each (sample, channel) row of x is
// normalised by its own statistics, x̂ = (x − μ)/σ, y = γ·x̂ + β, so per
// row dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)), and dγ = Σ dy·x̂,
// dβ = Σ dy over samples and positions. GroupNorm at opsets below 18 is
// Reshape → InstanceNormalization → Reshape → Mul → Add, which trains
// through this kernel.

func init() {
	registerBackward(compileInstanceNormGrad, "InstanceNormalization")
}

func compileInstanceNormGrad(n *graph.Node, _ int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	return &gradOp{keepIn: []int{0, 1}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		x, scale := in[0], in[1]
		if x.DType != graph.Float32 || len(x.Shape) < 3 {
			return fmt.Errorf("X %s%v: %w", x.DType, x.Shape, ErrUnsupported)
		}
		nb, ch := x.Shape[0], x.Shape[1]
		hw := shapeSize(x.Shape[2:])
		if scale.Len() != ch {
			return fmt.Errorf("scale %v must hold %d channels", scale.Shape, ch)
		}
		d := dy[0].F32
		rows := nb * ch
		mean, invStd := make([]float64, rows), make([]float64, rows)
		sumDy, sumDyXhat := make([]float64, rows), make([]float64, rows)
		c.parallel(rows, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				src, g := x.F32[p*hw:(p+1)*hw], d[p*hw:(p+1)*hw]
				var s, ss float64
				for _, v := range src {
					s += float64(v)
				}
				mu := s / float64(hw)
				for _, v := range src {
					ss += (float64(v) - mu) * (float64(v) - mu)
				}
				inv := 1 / math.Sqrt(ss/float64(hw)+eps)
				var sd, sdx float64
				for i, v := range src {
					sd += float64(g[i])
					sdx += float64(g[i]) * (float64(v) - mu) * inv
				}
				mean[p], invStd[p], sumDy[p], sumDyXhat[p] = mu, inv, sd, sdx
			}
		})
		if dx[1] != nil {
			c.allocZero(dx[1], graph.Float32, in[1].Shape...)
			for p := 0; p < rows; p++ {
				dx[1].F32[p%ch] += float32(sumDyXhat[p])
			}
		}
		if dx[2] != nil {
			c.allocZero(dx[2], graph.Float32, in[2].Shape...)
			for p := 0; p < rows; p++ {
				dx[2].F32[p%ch] += float32(sumDy[p])
			}
		}
		if dx[0] == nil {
			return nil
		}
		c.alloc(dx[0], graph.Float32, x.Shape...)
		c.parallel(rows, func(lo, hi int) {
			for p := lo; p < hi; p++ {
				k := float64(scale.F32[p%ch]) * invStd[p]
				mDy, mDyXhat := sumDy[p]/float64(hw), sumDyXhat[p]/float64(hw)
				src, g, out := x.F32[p*hw:(p+1)*hw], d[p*hw:(p+1)*hw], dx[0].F32[p*hw:(p+1)*hw]
				for i, v := range src {
					xhat := (float64(v) - mean[p]) * invStd[p]
					out[i] = float32(k * (float64(g[i]) - mDy - xhat*mDyXhat))
				}
			}
		})
		return nil
	}}, nil
}
