package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Conv against torch.nn.functional.conv1d/conv2d (asymmetric pads applied
// with F.pad first), over groups, depthwise, dilation, strides and auto_pad.
func TestConvAgainstTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 1))
	type convCase struct {
		name         string
		x, w         []int
		group        int64
		strides, dil []int64
		pads         []int64 // ONNX order: begins, ends
		autoPad      string
		bias         bool
	}
	cases := []convCase{
		{name: "plain3x3", x: []int{2, 3, 9, 8}, w: []int{4, 3, 3, 3}, bias: true},
		{name: "pointwise", x: []int{1, 8, 5, 5}, w: []int{6, 8, 1, 1}, bias: true},
		{name: "strided_padded", x: []int{1, 4, 11, 10}, w: []int{5, 4, 3, 3}, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}},
		{name: "asym_pads", x: []int{1, 2, 7, 7}, w: []int{3, 2, 3, 2}, pads: []int64{0, 1, 2, 1}, bias: true},
		{name: "dilated", x: []int{1, 2, 12, 12}, w: []int{2, 2, 3, 3}, dil: []int64{2, 3}, pads: []int64{2, 1, 2, 1}},
		{name: "grouped", x: []int{2, 6, 8, 8}, w: []int{4, 3, 3, 3}, group: 2, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "depthwise", x: []int{2, 5, 9, 9}, w: []int{5, 1, 3, 3}, group: 5, strides: []int64{2, 2}, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "depthwise_mult", x: []int{1, 3, 6, 6}, w: []int{6, 1, 3, 3}, group: 3},
		{name: "depthwise_s1_wide", x: []int{2, 4, 7, 37}, w: []int{4, 1, 3, 5}, group: 4, pads: []int64{1, 2, 1, 2}, dil: []int64{1, 2}, bias: true},
		{name: "same_upper", x: []int{1, 3, 7, 6}, w: []int{2, 3, 4, 3}, strides: []int64{2, 2}, autoPad: "SAME_UPPER"},
		{name: "same_lower", x: []int{1, 3, 7, 6}, w: []int{2, 3, 4, 4}, autoPad: "SAME_LOWER"},
		{name: "valid", x: []int{1, 2, 6, 9}, w: []int{3, 2, 2, 4}, strides: []int64{1, 3}, autoPad: "VALID"},
		{name: "conv1d", x: []int{3, 4, 20}, w: []int{5, 4, 5}, strides: []int64{2}, pads: []int64{2, 1}, dil: []int64{2}, bias: true},
		// Stride 1 takes the shifted layout: several K blocks, a partial
		// row panel, a batch, 1-D, and a kernel as wide as LeNet's.
		{name: "deep_k_blocks", x: []int{2, 40, 9, 11}, w: []int{13, 40, 3, 3}, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "lenet_like", x: []int{3, 6, 14, 14}, w: []int{16, 6, 5, 5}, bias: true},
		{name: "conv1d_s1", x: []int{2, 4, 30}, w: []int{7, 4, 3}, pads: []int64{1, 2}, bias: true},
		// Winograd (see useWinograd): a batch, odd sizes, more than one K block.
		{name: "winograd", x: []int{2, 64, 29, 27}, w: []int{40, 64, 3, 3}, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "winograd_deep", x: []int{1, 300, 13, 13}, w: []int{30, 300, 3, 3}, pads: []int64{1, 1, 1, 1}, bias: true},
		{name: "wide_rows", x: []int{1, 3, 5, 70}, w: []int{2, 3, 2, 7}, pads: []int64{0, 3, 1, 3}, dil: []int64{2, 1}},
	}
	code := `
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
`
	ins := map[string]*Tensor{}
	var got []*Tensor
	// OpenBLAS takes other paths (shifted rows, im2col) than the default
	// micro-kernel backend; both must match.
	_, obErr := loadOpenBLAS()
	var gotOpenBLAS []*Tensor
	for i, tc := range cases {
		x, w := randTensor(rng, tc.x...), randTensor(rng, tc.w...)
		args := []*Tensor{x, w}
		var attrs []*graph.Attr
		if tc.group > 0 {
			attrs = append(attrs, graph.IntAttr("group", tc.group))
		}
		if tc.strides != nil {
			attrs = append(attrs, graph.IntsAttr("strides", tc.strides...))
		}
		if tc.dil != nil {
			attrs = append(attrs, graph.IntsAttr("dilations", tc.dil...))
		}
		if tc.pads != nil {
			attrs = append(attrs, graph.IntsAttr("pads", tc.pads...))
		}
		if tc.autoPad != "" {
			attrs = append(attrs, graph.StringAttr("auto_pad", tc.autoPad))
		}
		bName := "None"
		if tc.bias {
			b := randTensor(rng, tc.w[0])
			args = append(args, b)
			bName = fmt.Sprintf("torch.from_numpy(b%d)", i)
			ins[fmt.Sprintf("b%d", i)] = b
		}
		got = append(got, runNode(t, "Conv", 13, 1, attrs, args...)[0])
		if obErr == nil {
			y, err := tryNodeWith("openblas", "Conv", attrs, args...)
			if err != nil {
				t.Fatal(err)
			}
			gotOpenBLAS = append(gotOpenBLAS, y)
		}
		ins[fmt.Sprintf("x%d", i)], ins[fmt.Sprintf("w%d", i)] = x, w
		// Reference padding: explicit pads, or the SAME rule computed here
		// independently of the runtime.
		r := len(tc.x) - 2
		pads := make([]int64, 2*r)
		copy(pads, tc.pads)
		if tc.autoPad == "SAME_UPPER" || tc.autoPad == "SAME_LOWER" {
			for a := 0; a < r; a++ {
				s, d := int64(1), int64(1)
				if tc.strides != nil {
					s = tc.strides[a]
				}
				if tc.dil != nil {
					d = tc.dil[a]
				}
				in, k := int64(tc.x[2+a]), int64(tc.w[2+a])
				out := (in + s - 1) / s
				total := max(0, (out-1)*s+(k-1)*d+1-in)
				small, big := total/2, total-total/2
				if tc.autoPad == "SAME_UPPER" {
					pads[a], pads[r+a] = small, big
				} else {
					pads[a], pads[r+a] = big, small
				}
			}
		}
		// F.pad takes the last axis first: (left, right, top, bottom).
		fpad := "("
		for a := r - 1; a >= 0; a-- {
			fpad += fmt.Sprintf("%d,%d,", pads[a], pads[r+a])
		}
		fpad += ")"
		fn := "F.conv2d"
		if r == 1 {
			fn = "F.conv1d"
		}
		stride, dil := "1", "1"
		if tc.strides != nil {
			stride = fmt.Sprintf("%v", tupleOf(tc.strides))
		}
		if tc.dil != nil {
			dil = fmt.Sprintf("%v", tupleOf(tc.dil))
		}
		group := max(tc.group, 1)
		code += fmt.Sprintf("out['y%d'] = %s(F.pad(torch.from_numpy(x%d), %s), torch.from_numpy(w%d), %s, stride=%s, dilation=%s, groups=%d).numpy()\n",
			i, fn, i, fpad, i, bName, stride, dil, group)
	}
	want := pyRef(t, code, ins)
	for i, tc := range cases {
		expectClose(t, tc.name, got[i], want[fmt.Sprintf("y%d", i)], 1e-4, 1e-4)
		if obErr == nil {
			expectClose(t, tc.name+" (openblas)", gotOpenBLAS[i], want[fmt.Sprintf("y%d", i)], 1e-4, 1e-4)
		}
	}
}

func tupleOf(v []int64) string {
	s := "("
	for _, x := range v {
		s += fmt.Sprintf("%d,", x)
	}
	return s + ")"
}

func TestConvTransposeAgainstTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 2))
	x, w, b := randTensor(rng, 2, 4, 5, 6), randTensor(rng, 4, 3, 3, 3), randTensor(rng, 6)
	got := runNode(t, "ConvTranspose", 13, 1, []*graph.Attr{
		graph.IntAttr("group", 2), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1),
		graph.IntsAttr("output_padding", 1, 0), graph.IntsAttr("dilations", 1, 2),
	}, x, w, b)[0]
	want := pyRef(t, `
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
out['y'] = F.conv_transpose2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=2, padding=1, output_padding=(1,0), groups=2, dilation=(1,2)).numpy()
`, map[string]*Tensor{"x": x, "w": w, "b": b})
	expectClose(t, "ConvTranspose", got, want["y"], 1e-4, 1e-4)
}

// Constant weights take the pre-packed path; weights fed as inputs do not.
// Both must agree, for grouped convolutions too, and across runs.
func TestConvConstantWeightsMatchFedWeights(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 3))
	for _, be := range testBackends(t) {
		x, w := randTensor(rng, 2, 8, 9, 7), randTensor(rng, 12, 4, 3, 3)
		g := &graph.Graph{}
		b := graph.NewBuilder(g)
		xin := b.Input("x", graph.Float32, graph.KnownShape(2, 8, 9, 7))
		wt, err := w.ToGraph("w")
		if err != nil {
			t.Fatal(err)
		}
		b.Output(b.Op("Conv", "conv", []*graph.Value{xin, b.Const("w", wt)}, graph.IntAttr("group", 2), graph.IntsAttr("pads", 1, 0, 1, 2)))
		s, err := NewSession(model13(g), Options{Threads: 2, Backend: backendFlag(be)})
		if err != nil {
			t.Fatal(err)
		}
		fed, err := tryNodeWith(backendFlag(be), "Conv", []*graph.Attr{graph.IntAttr("group", 2), graph.IntsAttr("pads", 1, 0, 1, 2)}, x, w)
		if err != nil {
			t.Fatal(err)
		}
		for run := 0; run < 2; run++ {
			out, err := s.Run(map[string]*Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			expectClose(t, be.Name(), out[s.OutputNames()[0]], fed, 1e-6, 1e-6)
		}
	}
}

func backendFlag(be Backend) string {
	if be.Name() == "cpu/openblas" {
		return "openblas"
	}
	return "go"
}

// tryNodeWith runs one node on a chosen backend with every input fed.
func tryNodeWith(backend, op string, attrs []*graph.Attr, ins ...*Tensor) (*Tensor, error) {
	g := &graph.Graph{}
	b := graph.NewBuilder(g)
	feeds := map[string]*Tensor{}
	var vals []*graph.Value
	for i, in := range ins {
		shape := make([]int64, len(in.Shape))
		for k, d := range in.Shape {
			shape[k] = int64(d)
		}
		v := b.Input(fmt.Sprintf("x%d", i), in.DType, graph.KnownShape(shape...))
		feeds[v.Name] = in
		vals = append(vals, v)
	}
	b.Output(b.Op(op, op, vals, attrs...))
	s, err := NewSession(model13(g), Options{Threads: 2, Backend: backend})
	if err != nil {
		return nil, err
	}
	out, err := s.Run(feeds)
	if err != nil {
		return nil, err
	}
	return out[s.OutputNames()[0]], nil
}

// Splitting the work over threads changes no result of the Go backend: each
// output element is computed by the same code in the same order whatever the
// split. OpenBLAS splits its sums differently per thread count, so it only
// agrees to float32 rounding.
func TestThreadsGiveSameResults(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 9))
	x := randTensor(rng, 2, 16, 40, 36)
	w, err := randTensor(rng, 24, 16, 3, 3).ToGraph("w")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := randTensor(rng, 24*19*17, 10).ToGraph("fc")
	if err != nil {
		t.Fatal(err)
	}
	for _, be := range testBackends(t) {
		var outs []*Tensor
		for _, threads := range []int{1, 3} {
			g := &graph.Graph{}
			b := graph.NewBuilder(g)
			xin := b.Input("x", graph.Float32, graph.KnownShape(2, 16, 40, 36))
			conv := b.Op("Conv", "conv", []*graph.Value{xin, b.Const("w", w.Clone())}, graph.IntsAttr("pads", 1, 1, 1, 1))
			pool := b.Op("MaxPool", "pool", []*graph.Value{conv}, graph.IntsAttr("kernel_shape", 3, 3), graph.IntsAttr("strides", 2, 2))
			flat := b.Op("Flatten", "flat", []*graph.Value{pool})
			b.Output(b.Op("Gemm", "fc", []*graph.Value{flat, b.Const("fc", fc.Clone())}))
			b.Output(conv)
			s, err := NewSession(model13(g), Options{Threads: threads, Backend: backendFlag(be)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Run(map[string]*Tensor{"x": x})
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range s.OutputNames() {
				outs = append(outs, out[name])
			}
		}
		rtol, atol := 0.0, 0.0
		if be.Name() == "cpu/openblas" {
			// 144-term dot products of unit normals: rounding differences
			// of order 1e-5 absolute, whatever the result's size.
			rtol, atol = 1e-5, 1e-4
		}
		h := len(outs) / 2
		for i := h - 1; i >= 0; i-- {
			expectClose(t, fmt.Sprintf("%s output %d threads 1 vs 3", be.Name(), i), outs[h+i], outs[i], rtol, atol)
		}
	}
}
