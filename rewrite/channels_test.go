package rewrite

import (
	"slices"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// The channel analysis finds what the graph's structure allows.
func TestChannelFlowFollowsStructure(t *testing.T) {
	m := pruneNet(1)
	if err := graph.InferShapes(m, nil); err != nil {
		t.Fatal(err)
	}
	idx := graph.NewIndex(m.Graph)
	byName := map[string]*Layer{}
	for _, l := range FindLayers(m.Graph) {
		byName[l.Node.Name] = l
	}
	a := hingeTrace(m.Graph, idx, byName["convA"])
	if a.blocked != "" || len(a.consumers) != 1 || a.consumers[0].node.Name != "convC" || a.consumers[0].offset != 4 || a.consumers[0].total != 10 {
		t.Errorf("convA flow: %+v", a)
	}
	c := hingeTrace(m.Graph, idx, byName["convC"])
	if c.blocked != "" || len(c.consumers) != 1 || c.consumers[0].spatial != 16 {
		t.Errorf("convC flow: %+v", c)
	}
	if fc := hingeTrace(m.Graph, idx, byName["fc"]); !strings.Contains(fc.blocked, "graph output") {
		t.Errorf("fc feeds the graph output, yet: %q", fc.blocked)
	}
	r := mustCase(t, "mobilenet_v2").Build(1)
	if err := graph.InferShapes(r, nil); err != nil {
		t.Fatal(err)
	}
	ridx := graph.NewIndex(r.Graph)
	for _, l := range FindLayers(r.Graph) {
		f := hingeTrace(r.Graph, ridx, l)
		switch {
		case strings.HasSuffix(l.Node.Name, ".expand") && (f.blocked != "" || len(f.consumers) != 1 ||
			f.consumers[0].node.Name != strings.TrimSuffix(l.Node.Name, ".expand")+".project"):
			t.Errorf("%s reaches its project conv through the depthwise one, yet: %+v", l.Node.Name, f)
		case l.Node.Name == "block3.project" && !strings.Contains(f.blocked, "residual coupling"):
			t.Errorf("%s feeds a residual Add, yet: %q", l.Node.Name, f.blocked)
		}
	}
}

// Gemm chains prune; the layer feeding the graph output does not; VGG's
// convs reach the next conv through BN, ReLU and pooling, and its last conv
// reaches fc1 through Flatten, 64 features per channel.
func TestChannelFlowGemmAndVGG(t *testing.T) {
	for _, c := range []struct {
		model, layer, consumer string
		spatial                int
		blocked                string
	}{
		{"mlp", "fc1", "fc2", 1, ""},
		{"mlp", "fc3", "", 0, "graph output"},
		{"vgg_bn", "conv1a", "conv1b", 1, ""},
		{"vgg_bn", "conv2b", "fc1", 64, ""},
		{"resnet_basic", "layer1.conv1", "layer1.conv2", 1, ""},
		{"resnet_basic", "layer1.conv2", "", 0, "residual coupling"},
		{"resnet_basic", "stem", "", 0, "residual coupling"},
		{"edge_shared_weight", "conv1", "conv2", 1, ""},
	} {
		m := mustCase(t, c.model).Build(1)
		if err := graph.InferShapes(m, nil); err != nil {
			t.Fatal(err)
		}
		idx := graph.NewIndex(m.Graph)
		var f *channelFlow
		for _, l := range FindLayers(m.Graph) {
			if l.Node.Name == c.layer {
				got := hingeTrace(m.Graph, idx, l)
				f = &got
			}
		}
		if f == nil {
			t.Fatalf("%s has no layer %s", c.model, c.layer)
		}
		if c.blocked != "" {
			if !strings.Contains(f.blocked, c.blocked) {
				t.Errorf("%s/%s: blocked %q, want %q", c.model, c.layer, f.blocked, c.blocked)
			}
			continue
		}
		if f.blocked != "" || len(f.consumers) != 1 || f.consumers[0].node.Name != c.consumer || f.consumers[0].spatial != c.spatial {
			t.Errorf("%s/%s: flow %+v (blocked %q), want consumer %s with %d features per channel", c.model, c.layer, f.consumers, f.blocked, c.consumer, c.spatial)
		}
	}
}

func TestChannelSliceAxisKeepsBytes(t *testing.T) {
	data := make([]float32, 2*3*2)
	for i := range data {
		data[i] = float32(i)
	}
	x := graph.NewFloat32("x", []int64{2, 3, 2}, data)
	got, err := sliceAxis(x, 1, []int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	vals, _ := got.Float32s()
	want := []float32{0, 1, 4, 5, 6, 7, 10, 11}
	if !equalInts(got.Dims, []int64{2, 2, 2}) || len(vals) != len(want) {
		t.Fatalf("dims %v values %v", got.Dims, vals)
	}
	for i := range want {
		if vals[i] != want[i] {
			t.Fatalf("values %v, want %v", vals, want)
		}
	}
	if _, err := sliceAxis(x, 1, []int{3}); err == nil {
		t.Error("index 3 of an axis of 3 accepted")
	}
	site := channelSite{offset: 2, total: 5, spatial: 2}
	if got := site.keptIndices(2, []int{1}); !slices.Equal(got, []int{0, 1, 2, 3, 6, 7, 8, 9}) {
		t.Errorf("kept features %v", got)
	}
}
