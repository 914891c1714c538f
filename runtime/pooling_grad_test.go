package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestGradMaxPool(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	// Distinct values: maxima never tie under a finite-difference step.
	x := func(shape ...int) *Tensor { return NewFloat32Tensor(shape, distinct(rng, shapeSize(shape))) }
	ks := func(v ...int64) *graph.Attr { return graph.IntsAttr("kernel_shape", v...) }
	checkGradCases(t, []namedGradCase{
		{"2x2", gradCase{op: "MaxPool", ins: []*Tensor{x(2, 2, 6, 6)}, attrs: []*graph.Attr{ks(2, 2), graph.IntsAttr("strides", 2, 2)}}},
		{"3x3-overlap-pads", gradCase{op: "MaxPool", ins: []*Tensor{x(1, 2, 5, 6)}, attrs: []*graph.Attr{ks(3, 3), graph.IntsAttr("strides", 2, 1), graph.IntsAttr("pads", 1, 1, 1, 1)}}},
		{"asymmetric-pads", gradCase{op: "MaxPool", ins: []*Tensor{x(1, 2, 5, 6)}, attrs: []*graph.Attr{ks(3, 2), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 0, 1, 1, 0)}}},
		{"ceil-dilation", gradCase{op: "MaxPool", ins: []*Tensor{x(1, 1, 7, 7)}, attrs: []*graph.Attr{ks(2, 2), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("dilations", 2, 1), graph.IntAttr("ceil_mode", 1)}}},
		{"same-upper", gradCase{op: "MaxPool", ins: []*Tensor{x(1, 2, 5, 5)}, attrs: []*graph.Attr{ks(2, 2), graph.IntsAttr("strides", 2, 2), graph.StringAttr("auto_pad", "SAME_UPPER")}}},
		{"1d", gradCase{op: "MaxPool", ins: []*Tensor{x(2, 2, 9)}, attrs: []*graph.Attr{ks(3), graph.IntsAttr("strides", 2)}}},
		{"default-strides", gradCase{op: "MaxPool", ins: []*Tensor{x(1, 2, 4, 4)}, attrs: []*graph.Attr{ks(2, 2)}}},
	})
}

func TestGradAveragePool(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 15))
	ks := func(v ...int64) *graph.Attr { return graph.IntsAttr("kernel_shape", v...) }
	checkGradCases(t, []namedGradCase{
		{"2x2", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 2, 2, 6, 6)}, attrs: []*graph.Attr{ks(2, 2), graph.IntsAttr("strides", 2, 2)}}},
		{"pads-exclude", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 1, 2, 5, 5)}, attrs: []*graph.Attr{ks(3, 3), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1)}}},
		{"pads-include-ceil", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 1, 2, 6, 5)}, attrs: []*graph.Attr{ks(3, 2), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 0, 1, 1), graph.IntAttr("count_include_pad", 1), graph.IntAttr("ceil_mode", 1)}}},
		{"same-upper", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 1, 2, 5, 5)}, attrs: []*graph.Attr{ks(2, 2), graph.IntsAttr("strides", 2, 2), graph.StringAttr("auto_pad", "SAME_UPPER")}}},
		{"1d", gradCase{op: "AveragePool", ins: []*Tensor{randTensor(rng, 2, 3, 7)}, attrs: []*graph.Attr{ks(3), graph.IntsAttr("strides", 2)}}},
	})
}

func TestGradGlobalAveragePool(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 16))
	checkGradCases(t, []namedGradCase{
		{"2d", gradCase{op: "GlobalAveragePool", ins: []*Tensor{randTensor(rng, 2, 3, 4, 5)}}},
		{"1d", gradCase{op: "GlobalAveragePool", ins: []*Tensor{randTensor(rng, 2, 3, 4)}}},
	})
}
