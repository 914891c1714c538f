package testmodels

import "github.com/onnxcompress/onnxcompress/graph"

// LeNet5 is LeNet-5 with ReLU and max-pooling on 28×28 inputs, the
// architecture of the bundled Fashion-MNIST model.
func LeNet5(seed uint64) *graph.Model {
	n := newNet("lenet5", seed)
	x := n.input("input", batched(1, 28, 28))
	x = n.maxPool(n.relu(n.conv("conv1", x, convSpec{In: 1, Out: 6, Kernel: square(5), Pads: []int64{2, 2, 2, 2}})), 2)
	x = n.maxPool(n.relu(n.conv("conv2", x, convSpec{In: 6, Out: 16, Kernel: square(5)})), 2)
	x = n.relu(n.gemm("fc1", n.flatten(x), 16*5*5, 120))
	x = n.relu(n.gemm("fc2", x, 120, 84))
	n.output(n.gemm("fc3", x, 84, 10), "logits", batched(10))
	return n.m
}

// VGGBN is a VGG-style stack of 3×3 conv + BatchNorm + ReLU on 32×32 inputs,
// with a two-layer fully connected classifier.
func VGGBN(seed uint64) *graph.Model {
	n := newNet("vgg_bn", seed)
	x := n.input("input", batched(3, 32, 32))
	same := []int64{1, 1, 1, 1}
	stage := func(name string, x *graph.Value, in, out int64) *graph.Value {
		x = n.relu(n.convBN(name+"a", x, convSpec{In: in, Out: out, Kernel: square(3), Pads: same}))
		x = n.relu(n.convBN(name+"b", x, convSpec{In: out, Out: out, Kernel: square(3), Pads: same}))
		return n.maxPool(x, 2)
	}
	x = stage("conv1", x, 3, 16)
	x = stage("conv2", x, 16, 32)
	x = n.relu(n.gemm("fc1", n.flatten(x), 32*8*8, 64))
	n.output(n.gemm("fc2", x, 64, 10), "logits", batched(10))
	return n.m
}

// residual adds the shortcut and applies ReLU.
func (n *net) residual(x, shortcut *graph.Value) *graph.Value {
	return n.relu(n.op("Add", []*graph.Value{x, shortcut}))
}

// basicBlock is ResNet's two 3×3 convs, with a strided 1×1 projection when
// the shape changes.
func (n *net) basicBlock(name string, x *graph.Value, in, out, stride int64) *graph.Value {
	same := []int64{1, 1, 1, 1}
	s := []int64{stride, stride}
	y := n.relu(n.convBN(name+".conv1", x, convSpec{In: in, Out: out, Kernel: square(3), Pads: same, Strides: s}))
	y = n.convBN(name+".conv2", y, convSpec{In: out, Out: out, Kernel: square(3), Pads: same})
	if stride != 1 || in != out {
		x = n.convBN(name+".downsample", x, convSpec{In: in, Out: out, Kernel: square(1), Strides: s})
	}
	return n.residual(y, x)
}

// bottleneckBlock is ResNet's 1×1 reduce, strided 3×3, 1×1 expand.
func (n *net) bottleneckBlock(name string, x *graph.Value, in, mid, out, stride int64) *graph.Value {
	s := []int64{stride, stride}
	y := n.relu(n.convBN(name+".conv1", x, convSpec{In: in, Out: mid, Kernel: square(1)}))
	y = n.relu(n.convBN(name+".conv2", y, convSpec{In: mid, Out: mid, Kernel: square(3), Pads: []int64{1, 1, 1, 1}, Strides: s}))
	y = n.convBN(name+".conv3", y, convSpec{In: mid, Out: out, Kernel: square(1)})
	if stride != 1 || in != out {
		x = n.convBN(name+".downsample", x, convSpec{In: in, Out: out, Kernel: square(1), Strides: s})
	}
	return n.residual(y, x)
}

func (n *net) resnetStem(x *graph.Value) *graph.Value {
	return n.relu(n.convBN("stem", x, convSpec{In: 3, Out: 16, Kernel: square(3), Pads: []int64{1, 1, 1, 1}}))
}

// ResNetBasic is a small ResNet of basic blocks on 32×32 inputs: an identity
// block, then a strided block with a projection shortcut.
func ResNetBasic(seed uint64) *graph.Model {
	n := newNet("resnet_basic", seed)
	x := n.resnetStem(n.input("input", batched(3, 32, 32)))
	x = n.basicBlock("layer1", x, 16, 16, 1)
	x = n.basicBlock("layer2", x, 16, 32, 2)
	n.output(n.classifierHead(x, 32, 10), "logits", batched(10))
	return n.m
}

// ResNetBottleneck is a small ResNet of bottleneck blocks on 32×32 inputs.
func ResNetBottleneck(seed uint64) *graph.Model {
	n := newNet("resnet_bottleneck", seed)
	x := n.resnetStem(n.input("input", batched(3, 32, 32)))
	x = n.bottleneckBlock("layer1", x, 16, 8, 32, 1)
	x = n.bottleneckBlock("layer2", x, 32, 16, 64, 2)
	n.output(n.classifierHead(x, 64, 10), "logits", batched(10))
	return n.m
}

// invertedResidual is MobileNetV2's block: 1×1 expand, 3×3 depthwise,
// linear 1×1 project, with the skip connection when shapes allow.
func (n *net) invertedResidual(name string, x *graph.Value, in, out, expand, stride int64) *graph.Value {
	hidden := in * expand
	y := n.relu6(n.convBN(name+".expand", x, convSpec{In: in, Out: hidden, Kernel: square(1)}))
	y = n.relu6(n.convBN(name+".depthwise", y, convSpec{In: hidden, Out: hidden, Kernel: square(3), Group: hidden,
		Pads: []int64{1, 1, 1, 1}, Strides: []int64{stride, stride}}))
	y = n.convBN(name+".project", y, convSpec{In: hidden, Out: out, Kernel: square(1)})
	if stride == 1 && in == out {
		y = n.op("Add", []*graph.Value{x, y})
	}
	return y
}

// MobileNetV2 is a small MobileNetV2-style net on 32×32 inputs.
func MobileNetV2(seed uint64) *graph.Model {
	n := newNet("mobilenet_v2", seed)
	x := n.input("input", batched(3, 32, 32))
	x = n.relu6(n.convBN("stem", x, convSpec{In: 3, Out: 16, Kernel: square(3), Pads: []int64{1, 1, 1, 1}, Strides: []int64{2, 2}}))
	x = n.invertedResidual("block1", x, 16, 16, 6, 1)
	x = n.invertedResidual("block2", x, 16, 24, 6, 2)
	x = n.invertedResidual("block3", x, 24, 24, 6, 1)
	x = n.relu6(n.convBN("head", x, convSpec{In: 24, Out: 64, Kernel: square(1)}))
	n.output(n.classifierHead(x, 64, 10), "logits", batched(10))
	return n.m
}

// MLP is three fully connected layers (Gemm) on 64 features.
func MLP(seed uint64) *graph.Model {
	n := newNet("mlp", seed)
	x := n.input("input", batched(64))
	x = n.relu(n.gemm("fc1", x, 64, 128))
	x = n.relu(n.gemm("fc2", x, 128, 64))
	n.output(n.gemm("fc3", x, 64, 10), "logits", batched(10))
	return n.m
}
