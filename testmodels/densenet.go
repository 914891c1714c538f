package testmodels

import "github.com/onnxcompress/onnxcompress/graph"

// DenseNet is a small pre-activation DenseNet on 32×32 inputs: a stem conv,
// a dense block of three layers (BN, ReLU, 3×3 conv of growth 8, each output
// concatenated to the block's features), a transition (BN, ReLU, 1×1 conv,
// average pooling), a second dense block and the classifier. Every conv's
// channels reach later layers through Concat, as in DenseNet-40.
func DenseNet(seed uint64) *graph.Model {
	n := newNet("densenet", seed)
	x := n.input("input", batched(3, 32, 32))
	same := []int64{1, 1, 1, 1}
	const growth = 8
	x = n.conv("stem", x, convSpec{In: 3, Out: 16, Kernel: square(3), Pads: same})
	block := func(name string, x *graph.Value, in int64) (*graph.Value, int64) {
		for i, suffix := range []string{".0", ".1", ".2"} {
			y := n.relu(n.bn(name+suffix+".bn", x, in))
			y = n.conv(name+suffix+".conv", y, convSpec{In: in, Out: growth, Kernel: square(3), Pads: same, NoBias: i == 1})
			x = n.op("Concat", []*graph.Value{x, y}, graph.IntAttr("axis", 1))
			in += growth
		}
		return x, in
	}
	x, c := block("block1", x, 16)
	x = n.relu(n.bn("transition.bn", x, c))
	x = n.conv("transition.conv", x, convSpec{In: c, Out: 20, Kernel: square(1)})
	x = n.op("AveragePool", []*graph.Value{x}, graph.IntsAttr("kernel_shape", 2, 2), graph.IntsAttr("strides", 2, 2))
	x, c = block("block2", x, 20)
	x = n.relu(n.bn("final.bn", x, c))
	n.output(n.classifierHead(x, c, 10), "logits", batched(10))
	return n.m
}
