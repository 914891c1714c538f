package runtime

import (
	"fmt"
	"math"

	"github.com/onnxcompress/onnxcompress/graph"
)

// BatchNormalization backward. Frozen (inference statistics) it is an
// affine map per channel: dx = dy·γ/σ, dγ = Σ dy·x̂, dβ = Σ dy. In training
// mode the forward normalises with the batch's statistics, updates the
// running ones in place (momentum m: running = m·running + (1−m)·batch, the
// variance unbiased as PyTorch keeps it), and the backward also flows
// through the batch mean and variance:
// dx = γ/σ·(dy − mean(dy) − x̂·mean(dy·x̂)).

func init() {
	registerBackward(compileBatchNormGrad, "BatchNormalization")
}

func compileBatchNormGrad(n *graph.Node, _ int64, _ kernelFunc, mode trainMode) (*gradOp, error) {
	eps := float64(n.AttrFloat("epsilon", 1e-5))
	momentum := float64(n.AttrFloat("momentum", 0.9))
	training := mode.batchNormTraining
	// Per channel: the mean and 1/σ the last forward normalised with.
	var mean, invStd []float64
	stats := func(in []*Tensor) error {
		x := in[0]
		if x.DType != graph.Float32 || len(x.Shape) < 2 {
			return fmt.Errorf("X %s%v: %w", x.DType, x.Shape, ErrUnsupported)
		}
		ch := x.Shape[1]
		for _, p := range in[1:5] {
			if p == nil || p.DType != graph.Float32 || p.Len() != ch {
				return fmt.Errorf("parameters must hold %d floats", ch)
			}
		}
		mean, invStd = make([]float64, ch), make([]float64, ch)
		if !training {
			for ci := range mean {
				mean[ci] = float64(in[3].F32[ci])
				invStd[ci] = 1 / math.Sqrt(float64(in[4].F32[ci])+eps)
			}
			return nil
		}
		hw := shapeSize(x.Shape[2:])
		count := float64(x.Shape[0] * hw)
		for ci := 0; ci < ch; ci++ {
			var s, ss float64
			for b := 0; b < x.Shape[0]; b++ {
				for _, v := range x.F32[(b*ch+ci)*hw : (b*ch+ci+1)*hw] {
					s += float64(v)
				}
			}
			mu := s / count
			for b := 0; b < x.Shape[0]; b++ {
				for _, v := range x.F32[(b*ch+ci)*hw : (b*ch+ci+1)*hw] {
					ss += (float64(v) - mu) * (float64(v) - mu)
				}
			}
			mean[ci], invStd[ci] = mu, 1/math.Sqrt(ss/count+eps)
			unbiased := ss / math.Max(count-1, 1)
			in[3].F32[ci] = float32(momentum*float64(in[3].F32[ci]) + (1-momentum)*mu)
			in[4].F32[ci] = float32(momentum*float64(in[4].F32[ci]) + (1-momentum)*unbiased)
		}
		return nil
	}
	op := &gradOp{keepIn: []int{0, 1, 3, 4}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		x, scale := in[0], in[1]
		ch := x.Shape[1]
		hw := shapeSize(x.Shape[2:])
		nb := x.Shape[0]
		if !training {
			if err := stats(in); err != nil {
				return err
			}
		} else if len(mean) != ch {
			return fmt.Errorf("backward before a training forward")
		}
		d := dy[0].F32
		sumDy, sumDyXhat := make([]float64, ch), make([]float64, ch)
		for b := 0; b < nb; b++ {
			for ci := 0; ci < ch; ci++ {
				base := (b*ch + ci) * hw
				for i, v := range x.F32[base : base+hw] {
					g := float64(d[base+i])
					sumDy[ci] += g
					sumDyXhat[ci] += g * (float64(v) - mean[ci]) * invStd[ci]
				}
			}
		}
		if dx[1] != nil {
			c.alloc(dx[1], graph.Float32, in[1].Shape...)
			for ci := range sumDyXhat {
				dx[1].F32[ci] = float32(sumDyXhat[ci])
			}
		}
		if dx[2] != nil {
			c.alloc(dx[2], graph.Float32, in[2].Shape...)
			for ci := range sumDy {
				dx[2].F32[ci] = float32(sumDy[ci])
			}
		}
		for j := 3; j < len(dx); j++ {
			if dx[j] != nil {
				// Statistics are not trained; frozen mode reads them, so
				// their gradient is defined but nobody asks for it.
				c.allocZero(dx[j], graph.Float32, in[j].Shape...)
			}
		}
		if dx[0] == nil {
			return nil
		}
		c.alloc(dx[0], graph.Float32, x.Shape...)
		count := float64(nb * hw)
		for b := 0; b < nb; b++ {
			for ci := 0; ci < ch; ci++ {
				base := (b*ch + ci) * hw
				k := float64(scale.F32[ci]) * invStd[ci]
				g := dx[0].F32[base : base+hw]
				if !training {
					for i := range g {
						g[i] = float32(k * float64(d[base+i]))
					}
					continue
				}
				mDy, mDyXhat := sumDy[ci]/count, sumDyXhat[ci]/count
				for i, v := range x.F32[base : base+hw] {
					xhat := (float64(v) - mean[ci]) * invStd[ci]
					g[i] = float32(k * (float64(d[base+i]) - mDy - xhat*mDyXhat))
				}
			}
		}
		return nil
	}}
	if training {
		op.train = func(c *execContext, in, out []*Tensor) error {
			if err := stats(in); err != nil {
				return err
			}
			x := in[0]
			ch := x.Shape[1]
			hw := shapeSize(x.Shape[2:])
			c.alloc(out[0], graph.Float32, x.Shape...)
			for p := 0; p < x.Shape[0]*ch; p++ {
				ci := p % ch
				a := float64(in[1].F32[ci]) * invStd[ci]
				b := float64(in[2].F32[ci]) - mean[ci]*a
				src, dst := x.F32[p*hw:(p+1)*hw], out[0].F32[p*hw:(p+1)*hw]
				for i, v := range src {
					dst[i] = float32(float64(v)*a + b)
				}
			}
			return nil
		}
	}
	return op, nil
}
