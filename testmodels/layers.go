package testmodels

import (
	"math"
	"math/rand/v2"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Versions every builder emits: opset 13 with IR 8, which python-onnx 1.12's
// checker and ONNX Runtime both accept.
const (
	Opset     = 13
	IRVersion = 8
)

// BatchParam is the symbolic batch dimension on inputs and outputs.
const BatchParam = "N"

// rngStream separates these weights' PCG stream from other users of a seed.
const rngStream = 0x7465_7374_6d6f_646c

// net builds one model: a builder over a fresh graph plus the seeded RNG that
// draws its weights, in the order the layers are added.
type net struct {
	m   *graph.Model
	b   *graph.Builder
	rng *rand.Rand
}

func newNet(name string, seed uint64) *net {
	g := &graph.Graph{Name: name}
	m := &graph.Model{
		IRVersion:    IRVersion,
		Opsets:       []graph.OpsetImport{{Domain: "", Version: Opset}},
		ProducerName: "onnxcompress-testmodels",
		Graph:        g,
	}
	return &net{m: m, b: graph.NewBuilder(g), rng: rand.New(rand.NewPCG(seed, rngStream))}
}

// batched is the shape [N, dims...].
func batched(dims ...int64) graph.Shape {
	return append(graph.Shape{{Param: BatchParam}}, graph.KnownShape(dims...)...)
}

func (n *net) input(name string, shape graph.Shape) *graph.Value {
	return n.b.Input(name, graph.Float32, shape)
}

// output declares v, renamed to name, as a float32 graph output of shape.
func (n *net) output(v *graph.Value, name string, shape graph.Shape) {
	v.Name = n.b.Name(name)
	v.Type = &graph.ValueType{Elem: graph.Float32, HasShape: true, Shape: shape}
	n.b.Output(v)
}

// normal draws count values of N(0, std²).
func (n *net) normal(count int64, std float64) []float32 {
	out := make([]float32, count)
	for i := range out {
		out[i] = float32(n.rng.NormFloat64() * std)
	}
	return out
}

// uniform draws count values of U(lo, hi).
func (n *net) uniform(count int64, lo, hi float64) []float32 {
	out := make([]float32, count)
	for i := range out {
		out[i] = float32(lo + (hi-lo)*n.rng.Float64())
	}
	return out
}

func product(dims []int64) int64 {
	p := int64(1)
	for _, d := range dims {
		p *= d
	}
	return p
}

// heTensor is a weight with He scale sqrt(2/fanIn), which keeps ReLU
// activations O(1) through depth.
func (n *net) heTensor(fanIn int64, dims ...int64) *graph.Tensor {
	return graph.NewFloat32("", dims, n.normal(product(dims), math.Sqrt(2/float64(fanIn))))
}

func (n *net) heWeight(name string, fanIn int64, dims ...int64) *graph.Value {
	return n.b.Const(name, n.heTensor(fanIn, dims...))
}

func (n *net) biasTensor(size int64) *graph.Tensor {
	return graph.NewFloat32("", []int64{size}, n.normal(size, 0.1))
}

func (n *net) bias(name string, size int64) *graph.Value { return n.b.Const(name, n.biasTensor(size)) }

func (n *net) scalar(name string, v float32) *graph.Value {
	return n.b.Const(name, graph.NewFloat32("", nil, []float32{v}))
}

func (n *net) ints(name string, v ...int64) *graph.Value {
	return n.b.Const(name, graph.NewInt64("", []int64{int64(len(v))}, v))
}

func (n *net) op(opType string, inputs []*graph.Value, attrs ...*graph.Attr) *graph.Value {
	return n.b.Op(opType, "", inputs, attrs...)
}

func (n *net) relu(x *graph.Value) *graph.Value { return n.op("Relu", []*graph.Value{x}) }

// relu6 is Clip(x, 0, 6), as torch exports ReLU6 at opset ≥ 11.
func (n *net) relu6(x *graph.Value) *graph.Value {
	return n.op("Clip", []*graph.Value{x, n.scalar("relu6_min", 0), n.scalar("relu6_max", 6)})
}

// convSpec describes one convolution; zero fields take ONNX defaults.
type convSpec struct {
	In, Out   int64
	Kernel    []int64
	Group     int64
	Strides   []int64
	Pads      []int64
	Dilations []int64
	AutoPad   string
	NoBias    bool
}

// square is a k×k kernel.
func square(k int64) []int64 { return []int64{k, k} }

// conv adds a Conv layer with He-initialised weight [Out, In/Group, kernel…].
func (n *net) conv(name string, x *graph.Value, c convSpec) *graph.Value {
	group := max(c.Group, 1)
	dims := append([]int64{c.Out, c.In / group}, c.Kernel...)
	inputs := []*graph.Value{x, n.heWeight(name+".weight", c.In/group*product(c.Kernel), dims...)}
	if !c.NoBias {
		inputs = append(inputs, n.bias(name+".bias", c.Out))
	}
	return n.b.Op("Conv", name, inputs, c.attrs()...)
}

func (c convSpec) attrs() []*graph.Attr {
	var attrs []*graph.Attr
	if c.AutoPad != "" {
		attrs = append(attrs, graph.StringAttr("auto_pad", c.AutoPad))
	}
	if c.Dilations != nil {
		attrs = append(attrs, graph.IntsAttr("dilations", c.Dilations...))
	}
	if c.Group > 1 {
		attrs = append(attrs, graph.IntAttr("group", c.Group))
	}
	attrs = append(attrs, graph.IntsAttr("kernel_shape", c.Kernel...))
	if c.Pads != nil {
		attrs = append(attrs, graph.IntsAttr("pads", c.Pads...))
	}
	if c.Strides != nil {
		attrs = append(attrs, graph.IntsAttr("strides", c.Strides...))
	}
	return attrs
}

// bn adds inference-mode BatchNormalization with random but plausible
// statistics, so folding it into a conv is a real change.
func (n *net) bn(name string, x *graph.Value, channels int64) *graph.Value {
	scale := n.b.Const(name+".weight", graph.NewFloat32("", []int64{channels}, n.uniform(channels, 0.5, 1.5)))
	shift := n.b.Const(name+".bias", graph.NewFloat32("", []int64{channels}, n.normal(channels, 0.1)))
	mean := n.b.Const(name+".running_mean", graph.NewFloat32("", []int64{channels}, n.normal(channels, 0.1)))
	variance := n.b.Const(name+".running_var", graph.NewFloat32("", []int64{channels}, n.uniform(channels, 0.5, 1.5)))
	return n.b.Op("BatchNormalization", name, []*graph.Value{x, scale, shift, mean, variance},
		graph.FloatAttr("epsilon", 1e-5), graph.FloatAttr("momentum", 0.9))
}

// convBN is conv (without bias, as torchvision's models have it) then BN.
func (n *net) convBN(name string, x *graph.Value, c convSpec) *graph.Value {
	c.NoBias = true
	return n.bn(name+"_bn", n.conv(name, x, c), c.Out)
}

// gemm is a fully connected layer in torch's layout: Gemm(x, W[out,in], b, transB=1).
func (n *net) gemm(name string, x *graph.Value, in, out int64) *graph.Value {
	return n.b.Op("Gemm", name, []*graph.Value{x, n.heWeight(name+".weight", in, out, in), n.bias(name+".bias", out)},
		graph.FloatAttr("alpha", 1), graph.FloatAttr("beta", 1), graph.IntAttr("transB", 1))
}

// linear is x·W + b with MatMul and Add, as exporters emit for N-D inputs.
func (n *net) linear(name string, x *graph.Value, in, out int64) *graph.Value {
	y := n.b.Op("MatMul", name, []*graph.Value{x, n.heWeight(name+".weight", in, in, out)})
	return n.b.Op("Add", name+"_bias", []*graph.Value{y, n.bias(name+".bias", out)})
}

func (n *net) maxPool(x *graph.Value, k int64) *graph.Value {
	return n.op("MaxPool", []*graph.Value{x}, graph.IntsAttr("kernel_shape", k, k), graph.IntsAttr("strides", k, k))
}

func (n *net) flatten(x *graph.Value) *graph.Value {
	return n.op("Flatten", []*graph.Value{x}, graph.IntAttr("axis", 1))
}

// classifierHead is GlobalAveragePool, Flatten, Gemm to classes.
func (n *net) classifierHead(x *graph.Value, channels, classes int64) *graph.Value {
	return n.gemm("fc", n.flatten(n.op("GlobalAveragePool", []*graph.Value{x})), channels, classes)
}
