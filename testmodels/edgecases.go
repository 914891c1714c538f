package testmodels

import "github.com/onnxcompress/onnxcompress/graph"

// singleConv is a model of one convolution from input [N, c.In, spatial…].
func singleConv(name string, seed uint64, c convSpec, spatial, outSpatial []int64) *graph.Model {
	n := newNet(name, seed)
	x := n.input("input", batched(append([]int64{c.In}, spatial...)...))
	n.output(n.conv("conv", x, c), "output", batched(append([]int64{c.Out}, outSpatial...)...))
	return n.m
}

// EdgeConvNoBias is a Conv with no bias input.
func EdgeConvNoBias(seed uint64) *graph.Model {
	return singleConv("edge_conv_nobias", seed, convSpec{In: 3, Out: 4, Kernel: square(3), NoBias: true},
		[]int64{8, 8}, []int64{6, 6})
}

// EdgeConvGroups is a grouped (not depthwise) Conv, group 2.
func EdgeConvGroups(seed uint64) *graph.Model {
	return singleConv("edge_conv_groups", seed, convSpec{In: 4, Out: 6, Kernel: square(3), Group: 2, Pads: []int64{1, 1, 1, 1}},
		[]int64{8, 8}, []int64{8, 8})
}

// EdgeConvDilation is a dilated Conv (dilation 2, padding 2).
func EdgeConvDilation(seed uint64) *graph.Model {
	return singleConv("edge_conv_dilation", seed, convSpec{In: 3, Out: 4, Kernel: square(3), Dilations: []int64{2, 2}, Pads: []int64{2, 2, 2, 2}},
		[]int64{10, 10}, []int64{10, 10})
}

// EdgeConvAsymPads pads top 1, left 0, bottom 2, right 1.
func EdgeConvAsymPads(seed uint64) *graph.Model {
	return singleConv("edge_conv_asym_pads", seed, convSpec{In: 3, Out: 4, Kernel: square(3), Pads: []int64{1, 0, 2, 1}},
		[]int64{8, 8}, []int64{9, 7})
}

// autoPadConv has odd total padding on both axes (kernel 2 stride 2 on 9
// rows, kernel 4 on 8 columns), so SAME_UPPER and SAME_LOWER differ.
func autoPadConv(name, mode string, seed uint64) *graph.Model {
	return singleConv(name, seed, convSpec{In: 3, Out: 4, Kernel: []int64{2, 4}, Strides: []int64{2, 1}, AutoPad: mode},
		[]int64{9, 8}, []int64{5, 8})
}

// EdgeConvSameUpper is a Conv with auto_pad SAME_UPPER (extra padding at the end).
func EdgeConvSameUpper(seed uint64) *graph.Model {
	return autoPadConv("edge_conv_same_upper", "SAME_UPPER", seed)
}

// EdgeConvSameLower is a Conv with auto_pad SAME_LOWER (extra padding at the start).
func EdgeConvSameLower(seed uint64) *graph.Model {
	return autoPadConv("edge_conv_same_lower", "SAME_LOWER", seed)
}

// EdgeConvStrides has different strides per axis (2 and 3).
func EdgeConvStrides(seed uint64) *graph.Model {
	return singleConv("edge_conv_strides", seed, convSpec{In: 3, Out: 4, Kernel: square(3), Strides: []int64{2, 3}, Pads: []int64{1, 1, 1, 1}},
		[]int64{11, 11}, []int64{6, 4})
}

// EdgeConv1D is a one-dimensional Conv on [N, 4, 16].
func EdgeConv1D(seed uint64) *graph.Model {
	return singleConv("edge_conv1d", seed, convSpec{In: 4, Out: 6, Kernel: []int64{3}, Pads: []int64{1, 1}},
		[]int64{16}, []int64{16})
}

// EdgeGemmTrans is Gemm with transA, transB, alpha 0.5, beta 2 and a
// broadcast bias: the input is [16, N], features first.
func EdgeGemmTrans(seed uint64) *graph.Model {
	n := newNet("edge_gemm_trans", seed)
	x := n.input("input", graph.Shape{{Value: 16}, {Param: BatchParam}})
	w := n.heWeight("fc.weight", 16, 10, 16)
	y := n.b.Op("Gemm", "fc", []*graph.Value{x, w, n.bias("fc.bias", 10)},
		graph.FloatAttr("alpha", 0.5), graph.FloatAttr("beta", 2), graph.IntAttr("transA", 1), graph.IntAttr("transB", 1))
	n.output(y, "output", batched(10))
	return n.m
}

// EdgeMatMulND multiplies a 4-D input by a batched 3-D weight, a 2-D weight,
// and a 2-D weight on the left.
func EdgeMatMulND(seed uint64) *graph.Model {
	n := newNet("edge_matmul_nd", seed)
	x := n.input("input", batched(3, 4, 8))
	x = n.b.Op("MatMul", "batched", []*graph.Value{x, n.heWeight("batched.weight", 8, 3, 8, 5)}) // [N,3,4,5]
	x = n.b.Op("MatMul", "right", []*graph.Value{x, n.heWeight("right.weight", 5, 5, 6)})        // [N,3,4,6]
	x = n.b.Op("MatMul", "left", []*graph.Value{n.heWeight("left.weight", 4, 4, 4), x})          // [N,3,4,6]
	n.output(x, "output", batched(3, 4, 6))
	return n.m
}

// EdgeSharedWeight applies one weight and bias in two Conv nodes.
func EdgeSharedWeight(seed uint64) *graph.Model {
	n := newNet("edge_shared_weight", seed)
	x := n.input("input", batched(8, 10, 10))
	w := n.heWeight("shared.weight", 8*9, 8, 8, 3, 3)
	b := n.bias("shared.bias", 8)
	attrs := convSpec{Kernel: square(3), Pads: []int64{1, 1, 1, 1}}.attrs()
	x = n.relu(n.b.Op("Conv", "conv1", []*graph.Value{x, w, b}, attrs...))
	x = n.b.Op("Conv", "conv2", []*graph.Value{x, w, b}, attrs...)
	n.output(x, "output", batched(8, 10, 10))
	return n.m
}

// EdgeConvBN is a Conv with bias followed by BatchNormalization.
func EdgeConvBN(seed uint64) *graph.Model {
	n := newNet("edge_conv_bn", seed)
	x := n.input("input", batched(3, 8, 8))
	x = n.bn("bn", n.conv("conv", x, convSpec{In: 3, Out: 8, Kernel: square(3), Pads: []int64{1, 1, 1, 1}}), 8)
	n.output(x, "output", batched(8, 8, 8))
	return n.m
}

// EdgeWeightsInConstant keeps Conv and Gemm weights in Constant nodes, as
// some exporters (PaddleOCR's) do, instead of initializers.
func EdgeWeightsInConstant(seed uint64) *graph.Model {
	n := newNet("edge_weights_in_constant", seed)
	constant := func(name string, t *graph.Tensor) *graph.Value {
		return n.b.Op("Constant", name, nil, graph.TensorAttr("value", t))
	}
	x := n.input("input", batched(3, 8, 8))
	w := constant("conv.weight", n.heTensor(27, 4, 3, 3, 3))
	b := constant("conv.bias", n.biasTensor(4))
	x = n.relu(n.b.Op("Conv", "conv", []*graph.Value{x, w, b}, convSpec{Kernel: square(3)}.attrs()...)) // [N,4,6,6]
	fw := constant("fc.weight", n.heTensor(144, 10, 144))
	fb := constant("fc.bias", n.biasTensor(10))
	x = n.b.Op("Gemm", "fc", []*graph.Value{n.flatten(x), fw, fb}, graph.IntAttr("transB", 1))
	n.output(x, "output", batched(10))
	return n.m
}

// EdgeWeightsBehindIdentity routes a Conv's weight and bias through Identity
// nodes, as torch.onnx does when it deduplicates equal initializers.
func EdgeWeightsBehindIdentity(seed uint64) *graph.Model {
	n := newNet("edge_weights_behind_identity", seed)
	x := n.input("input", batched(3, 8, 8))
	w := n.b.Op("Identity", "conv.weight_identity", []*graph.Value{n.heWeight("conv.weight", 27, 4, 3, 3, 3)})
	b := n.b.Op("Identity", "conv.bias_identity", []*graph.Value{n.bias("conv.bias", 4)})
	x = n.b.Op("Conv", "conv", []*graph.Value{x, w, b}, convSpec{Kernel: square(3), Pads: []int64{1, 1, 1, 1}}.attrs()...)
	n.output(x, "output", batched(4, 8, 8))
	return n.m
}
