package rewrite

import (
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress/finetune"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/runtime"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

func randomImages(seed uint64, n, c, h, w int) *runtime.Tensor {
	rng := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n*c*h*w)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	return runtime.NewFloat32Tensor([]int{n, c, h, w}, x)
}

func runOnce(t *testing.T, m *graph.Model, x *runtime.Tensor) *runtime.Tensor {
	t.Helper()
	s, err := runtime.NewSession(m, runtime.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	out, err := s.Run(map[string]*runtime.Tensor{s.InputNames()[0]: x})
	if err != nil {
		t.Fatal(err)
	}
	return out[s.OutputNames()[0]]
}

// GroupNorm as written below opset 18 computes the textbook formula
// (evaluated here in float64 on a lone norm).
func TestSwapNormsGroupNormFormula(t *testing.T) {
	g := &graph.Graph{Name: "bn"}
	b := graph.NewBuilder(g)
	const c = 6
	x := b.Input("x", graph.Float32, graph.KnownShape(2, c, 3, 4))
	gamma, beta := make([]float32, c), make([]float32, c)
	for i := range gamma {
		gamma[i], beta[i] = 0.5+float32(i)/4, float32(i)-2
	}
	stat := func(name string, v float32) *graph.Value {
		d := make([]float32, c)
		for i := range d {
			d[i] = v
		}
		return b.Const(name, graph.NewFloat32("", []int64{c}, d))
	}
	y := b.Op("BatchNormalization", "bn", []*graph.Value{x, b.Const("g", graph.NewFloat32("", []int64{c}, gamma)),
		b.Const("b", graph.NewFloat32("", []int64{c}, beta)), stat("mean", 3), stat("var", 7)}, graph.FloatAttr("epsilon", 1e-3))
	b.Output(y)
	m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
	n, err := SwapNorms(m, "group", 4) // 6 channels: 3 groups of 2
	if err != nil || n != 1 {
		t.Fatalf("swapped %d: %v", n, err)
	}
	in := randomImages(3, 2, c, 3, 4)
	got := runOnce(t, m, in)
	const groups, per = 3, 2 * 12
	for s := 0; s < 2; s++ {
		for gr := 0; gr < groups; gr++ {
			base := (s*c + gr*2) * 12
			var mean, sq float64
			for i := 0; i < per; i++ {
				mean += float64(in.F32[base+i]) / per
			}
			for i := 0; i < per; i++ {
				sq += (float64(in.F32[base+i]) - mean) * (float64(in.F32[base+i]) - mean) / per
			}
			for i := 0; i < per; i++ {
				ch := gr*2 + i/12
				want := (float64(in.F32[base+i])-mean)/math.Sqrt(sq+1e-3)*float64(gamma[ch]) + float64(beta[ch])
				if d := math.Abs(float64(got.F32[base+i]) - want); d > 1e-5*math.Max(1, math.Abs(want)) {
					t.Fatalf("sample %d group %d element %d: %g, want %g", s, gr, i, got.F32[base+i], want)
				}
			}
		}
	}
}

// C.2.7 (no statistics: a batch equals its samples one at a time), ORT
// agreement, and training through the swapped norms.
func TestSwapNormsOnBNNetworks(t *testing.T) {
	dir := t.TempDir()
	for _, build := range []func(uint64) *graph.Model{testmodels.VGGBN, testmodels.ResNetBasic} {
		for _, kind := range []string{"group", "instance"} {
			m := build(1)
			bns := 0
			for _, n := range m.Graph.Nodes {
				if n.OpType == "BatchNormalization" {
					bns++
				}
			}
			n, err := SwapNorms(m, kind, 4)
			if err != nil || n != bns || n == 0 {
				t.Fatalf("%s %s: swapped %d of %d: %v", m.Graph.Name, kind, n, bns, err)
			}
			for _, node := range m.Graph.Nodes {
				if node.OpType == "BatchNormalization" {
					t.Fatalf("%s %s: %s left", m.Graph.Name, kind, node.Name)
				}
			}
			x := randomImages(5, 3, 3, 32, 32)
			batch := runOnce(t, m, x)
			per := batch.Len() / 3
			for s := 0; s < 3; s++ {
				one := runOnce(t, m, runtime.NewFloat32Tensor([]int{1, 3, 32, 32}, x.F32[s*3*32*32:(s+1)*3*32*32]))
				if e := reference.RelL2(one.F32, batch.F32[s*per:(s+1)*per]); e > 1e-6 {
					t.Errorf("%s %s: sample %d alone differs from the batch by %g", m.Graph.Name, kind, s, e)
				}
			}
			names, err := finetune.TrainableNames(m, "all")
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range names {
				if filepath.Base(name) == "gn_unit_scale" || filepath.Base(name) == "gn_zero_bias" {
					t.Errorf("%s is trainable", name)
				}
			}
			if _, err := runtime.NewTape(m, runtime.TrainOptions{Trainable: names}); err != nil {
				t.Errorf("%s %s: cannot train: %v", m.Graph.Name, kind, err)
			}
			if reference.Available(reference.ORT) == nil || os.Getenv("CI") == "true" {
				file := filepath.Join(dir, m.Graph.Name+kind+".onnx")
				if err := onnx.Write(file, m); err != nil {
					t.Fatal(err)
				}
				xg, _ := x.ToGraph("input")
				outs, err := reference.RunORT(file, map[string]*graph.Tensor{"input": xg}, 1)
				if err != nil {
					t.Fatal(err)
				}
				ort, _ := outs[m.Graph.Outputs[0].Name].Float32s()
				if e := reference.RelL2(batch.F32, ort); e > 1e-5 {
					t.Errorf("%s %s: ORT differs by %g", m.Graph.Name, kind, e)
				}
			}
		}
	}
	if _, err := SwapNorms(testmodels.VGGBN(1), "layer", 4); err == nil {
		t.Error("unknown norm accepted")
	}
}
