package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Gemm backward, Y = α·op(A)·op(B) + β·C: dA = α·dY·op(B)ᵀ (transposed back
// when transA), dB = α·op(A)ᵀ·dY (likewise), dC = β·dY summed over the axes C
// broadcasts along. MatMul backward accumulates each batch's dA = dY·Bᵀ and
// dB = Aᵀ·dY into the operand's own (possibly broadcast) matrix.

func init() {
	registerBackward(compileGemmGrad, "Gemm")
	registerBackward(func(*graph.Node, int64, kernelFunc, trainMode) (*gradOp, error) {
		return &gradOp{keepIn: []int{0, 1}, grad: matMulGrad}, nil
	}, "MatMul")
}

func compileGemmGrad(n *graph.Node, _ int64, _ kernelFunc, _ trainMode) (*gradOp, error) {
	alpha := n.AttrFloat("alpha", 1)
	beta := n.AttrFloat("beta", 1)
	transA := n.AttrInt("transA", 0) != 0
	transB := n.AttrInt("transB", 0) != 0
	return &gradOp{keepIn: []int{0, 1}, grad: func(c *execContext, in, out, dy, dx []*Tensor) error {
		a, b := in[0], in[1]
		m, k := a.Shape[0], a.Shape[1]
		if transA {
			m, k = k, m
		}
		nn := out[0].Shape[1]
		d := dy[0].F32
		if dx[0] != nil {
			c.alloc(dx[0], graph.Float32, a.Shape...)
			if transA {
				c.backend.Sgemm(transB, true, k, m, nn, alpha, b.F32, b.Shape[1], d, nn, 0, dx[0].F32, m)
			} else {
				c.backend.Sgemm(false, !transB, m, k, nn, alpha, d, nn, b.F32, b.Shape[1], 0, dx[0].F32, k)
			}
		}
		if dx[1] != nil {
			c.alloc(dx[1], graph.Float32, b.Shape...)
			if transB {
				c.backend.Sgemm(true, transA, nn, k, m, alpha, d, nn, a.F32, a.Shape[1], 0, dx[1].F32, k)
			} else {
				c.backend.Sgemm(!transA, false, k, nn, m, alpha, a.F32, a.Shape[1], d, nn, 0, dx[1].F32, nn)
			}
		}
		if len(dx) > 2 && dx[2] != nil {
			c.allocZero(dx[2], graph.Float32, in[2].Shape...)
			if beta != 0 {
				sumToShape(dx[2].F32, in[2].Shape, d, []int{m, nn}, beta)
			}
		}
		return nil
	}}, nil
}

// sumToShape adds scale·src (shape shape) into dst, summing over the axes
// along which dst's shape broadcasts to shape.
func sumToShape(dst []float32, dstShape []int, src []float32, shape []int, scale float32) {
	broadcastRuns(shape, [][]int{dstShape}, func(o int, offs, st []int, n int) {
		if st[0] == 0 {
			dst[offs[0]] += scale * sumF32(src[o:o+n])
			return
		}
		out := dst[offs[0] : offs[0]+n]
		for i, v := range src[o : o+n] {
			out[i] += scale * v
		}
	})
}

func matMulGrad(c *execContext, in, out, dy, dx []*Tensor) error {
	a, b := in[0], in[1]
	as, bs := a.Shape, b.Shape
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	n := bs[len(bs)-1]
	batch, err := broadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return err
	}
	if dy[0].Len() != shapeSize(batch)*m*n {
		return fmt.Errorf("dY %v does not match A %v × B %v", dy[0].Shape, a.Shape, b.Shape)
	}
	d := dy[0].F32
	nb := shapeSize(batch)
	aIdx := batchOffsets(batch, as[:len(as)-2], m*k)
	bIdx := batchOffsets(batch, bs[:len(bs)-2], k*n)
	if dx[0] != nil {
		c.allocZero(dx[0], graph.Float32, a.Shape...)
		for i := 0; i < nb; i++ {
			c.backend.Sgemm(false, true, m, k, n, 1, d[i*m*n:], n, b.F32[bIdx[i]:], n, 1, dx[0].F32[aIdx[i]:], k)
		}
	}
	if dx[1] != nil {
		c.allocZero(dx[1], graph.Float32, b.Shape...)
		for i := 0; i < nb; i++ {
			c.backend.Sgemm(true, false, k, n, m, 1, a.F32[aIdx[i]:], k, d[i*m*n:], n, 1, dx[1].F32[bIdx[i]:], n)
		}
	}
	return nil
}
