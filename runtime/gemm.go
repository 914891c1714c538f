package runtime

import (
	"fmt"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Gemm and MatMul, both on the backend's sgemm.

func init() {
	registerForward(compileGemm, "Gemm")
	registerFused(compileGemmAct, "Gemm")
	registerForward(simple(matMul), "MatMul")
}

func compileGemm(n *graph.Node, opset int64) (kernelFunc, error) {
	return compileGemmAct(n, opset, activation{})
}

// compileGemmAct is Gemm followed by a fused activation.
func compileGemmAct(n *graph.Node, _ int64, act activation) (kernelFunc, error) {
	alpha := n.AttrFloat("alpha", 1)
	beta := n.AttrFloat("beta", 1)
	transA := n.AttrInt("transA", 0) != 0
	transB := n.AttrInt("transB", 0) != 0
	return func(c *execContext, in, out []*Tensor) error {
		a, b := in[0], in[1]
		if a.DType != graph.Float32 || b.DType != graph.Float32 {
			return fmt.Errorf("dtype %s is %w", a.DType, ErrUnsupported)
		}
		if len(a.Shape) != 2 || len(b.Shape) != 2 {
			return fmt.Errorf("A %v and B %v must be matrices", a.Shape, b.Shape)
		}
		m, k := a.Shape[0], a.Shape[1]
		if transA {
			m, k = k, m
		}
		kb, nn := b.Shape[0], b.Shape[1]
		if transB {
			kb, nn = nn, kb
		}
		if k != kb {
			return fmt.Errorf("A %v and B %v do not multiply", a.Shape, b.Shape)
		}
		c.alloc(out[0], graph.Float32, m, nn)
		o := out[0].F32
		gemmBeta := float32(0)
		if len(in) > 2 && in[2] != nil && beta != 0 {
			bias := in[2]
			if _, err := broadcastShapes(bias.Shape, []int{m, nn}); err != nil || len(bias.Shape) > 2 {
				return fmt.Errorf("C %v does not broadcast to [%d %d]", bias.Shape, m, nn)
			}
			expandInto(o, []int{m, nn}, asFloat32(bias).F32, bias.Shape)
			gemmBeta = beta
		}
		c.backend.Sgemm(transA, transB, m, nn, k, alpha, a.F32, a.Shape[1], b.F32, b.Shape[1], gemmBeta, o, nn)
		if k == 0 && gemmBeta == 0 {
			clear(o)
		}
		act.apply(o, 0)
		return nil
	}, nil
}

// matMul is numpy matmul: 1-D operands are promoted, batch dims broadcast.
func matMul(c *execContext, in, out []*Tensor) error {
	a, b := in[0], in[1]
	if a.DType != graph.Float32 || b.DType != graph.Float32 {
		return fmt.Errorf("dtype %s × %s is not supported", a.DType, b.DType)
	}
	as, bs := a.Shape, b.Shape
	if len(as) == 0 || len(bs) == 0 {
		return fmt.Errorf("MatMul of a scalar")
	}
	if len(as) == 1 {
		as = []int{1, as[0]}
	}
	if len(bs) == 1 {
		bs = []int{bs[0], 1}
	}
	m, k := as[len(as)-2], as[len(as)-1]
	kb, n := bs[len(bs)-2], bs[len(bs)-1]
	if k != kb {
		return fmt.Errorf("shapes %v and %v do not multiply", a.Shape, b.Shape)
	}
	batch, err := broadcastShapes(as[:len(as)-2], bs[:len(bs)-2])
	if err != nil {
		return err
	}
	outShape := append(append([]int(nil), batch...), m, n)
	if len(a.Shape) == 1 {
		outShape = append(outShape[:len(outShape)-2], n)
	}
	if len(b.Shape) == 1 {
		outShape = outShape[:len(outShape)-1]
	}
	c.alloc(out[0], graph.Float32, outShape...)
	o := out[0].F32
	if k == 0 {
		clear(o)
		return nil
	}
	// Weights shared across the batch: one tall GEMM.
	if len(bs) == 2 && sameShape(batch, as[:len(as)-2]) {
		rows := shapeSize(batch) * m
		c.backend.Sgemm(false, false, rows, n, k, 1, a.F32, k, b.F32, n, 0, o, n)
		return nil
	}
	nb := shapeSize(batch)
	aIdx := batchOffsets(batch, as[:len(as)-2], m*k)
	bIdx := batchOffsets(batch, bs[:len(bs)-2], k*n)
	for i := 0; i < nb; i++ {
		c.backend.Sgemm(false, false, m, n, k, 1, a.F32[aIdx[i]:], k, b.F32[bIdx[i]:], n, 0, o[i*m*n:], n)
	}
	return nil
}

// batchOffsets gives, for each index of the broadcast batch, the element
// offset of the matching matrix in an operand with batch shape own.
func batchOffsets(batch, own []int, matrix int) []int {
	offs := make([]int, shapeSize(batch))
	idx := 0
	broadcastRuns(batch, [][]int{own}, func(o int, off, st []int, n int) {
		for i := 0; i < n; i++ {
			offs[idx] = (off[0] + i*st[0]) * matrix
			idx++
		}
	})
	if len(batch) == 0 {
		offs[0] = 0
	}
	return offs
}
