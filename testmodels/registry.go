package testmodels

import (
	"math/rand/v2"
	"sort"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Case is one test model and how to run it.
type Case struct {
	Name  string
	Build func(seed uint64) *graph.Model
	// InputShapes are concrete shapes to run the model with (batch 2 where
	// the model's batch dimension is symbolic).
	InputShapes map[string][]int64
	// Batch is the size InputShapes gives the symbolic dimension BatchParam.
	Batch int64
}

const caseBatch = 2

func image(c, h, w int64) map[string][]int64 {
	return map[string][]int64{"input": {caseBatch, c, h, w}}
}

// All lists every test model, classic networks first, then the edge cases.
func All() []Case {
	return []Case{
		{"lenet5", LeNet5, image(1, 28, 28), caseBatch},
		{"vgg_bn", VGGBN, image(3, 32, 32), caseBatch},
		{"resnet_basic", ResNetBasic, image(3, 32, 32), caseBatch},
		{"resnet_bottleneck", ResNetBottleneck, image(3, 32, 32), caseBatch},
		{"mobilenet_v2", MobileNetV2, image(3, 32, 32), caseBatch},
		{"mlp", MLP, map[string][]int64{"input": {caseBatch, 64}}, caseBatch},
		{"transformer", Transformer, map[string][]int64{"input": {caseBatch, tfSeq, tfModel}}, caseBatch},
		{"edge_conv_nobias", EdgeConvNoBias, image(3, 8, 8), caseBatch},
		{"edge_conv_groups", EdgeConvGroups, image(4, 8, 8), caseBatch},
		{"edge_conv_dilation", EdgeConvDilation, image(3, 10, 10), caseBatch},
		{"edge_conv_asym_pads", EdgeConvAsymPads, image(3, 8, 8), caseBatch},
		{"edge_conv_same_upper", EdgeConvSameUpper, image(3, 9, 8), caseBatch},
		{"edge_conv_same_lower", EdgeConvSameLower, image(3, 9, 8), caseBatch},
		{"edge_conv_strides", EdgeConvStrides, image(3, 11, 11), caseBatch},
		{"edge_conv1d", EdgeConv1D, map[string][]int64{"input": {caseBatch, 4, 16}}, caseBatch},
		{"edge_gemm_trans", EdgeGemmTrans, map[string][]int64{"input": {16, caseBatch}}, caseBatch},
		{"edge_matmul_nd", EdgeMatMulND, map[string][]int64{"input": {caseBatch, 3, 4, 8}}, caseBatch},
		{"edge_shared_weight", EdgeSharedWeight, image(8, 10, 10), caseBatch},
		{"edge_conv_bn", EdgeConvBN, image(3, 8, 8), caseBatch},
		{"edge_weights_in_constant", EdgeWeightsInConstant, image(3, 8, 8), caseBatch},
		{"edge_weights_behind_identity", EdgeWeightsBehindIdentity, image(3, 8, 8), caseBatch},
	}
}

// Lookup finds a case by name.
func Lookup(name string) (Case, bool) {
	for _, c := range All() {
		if c.Name == name {
			return c, true
		}
	}
	return Case{}, false
}

// RandomInputs draws standard-normal float32 inputs of InputShapes, in input
// name order, from a PCG seeded with seed.
func (c Case) RandomInputs(seed uint64) map[string]*graph.Tensor {
	rng := rand.New(rand.NewPCG(seed, rngStream+1))
	names := make([]string, 0, len(c.InputShapes))
	for name := range c.InputShapes {
		names = append(names, name)
	}
	sort.Strings(names)
	out := make(map[string]*graph.Tensor, len(names))
	for _, name := range names {
		dims := c.InputShapes[name]
		data := make([]float32, product(dims))
		for i := range data {
			data[i] = float32(rng.NormFloat64())
		}
		out[name] = graph.NewFloat32(name, dims, data)
	}
	return out
}

// OutputShape is the declared shape of an output with the batch dimension
// set to c.Batch; false when a dimension is neither known nor the batch.
func (c Case) OutputShape(out *graph.Value) ([]int64, bool) {
	if out.Type == nil || !out.Type.HasShape {
		return nil, false
	}
	dims := make([]int64, len(out.Type.Shape))
	for i, d := range out.Type.Shape {
		switch {
		case d.Param == BatchParam:
			dims[i] = c.Batch
		case d.Known():
			dims[i] = d.Value
		default:
			return nil, false
		}
	}
	return dims, true
}
