package rewrite

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// lowRankCP returns groups stacked blocks of the given shape, each exactly
// Σ_{q<rank} a⁽⁰⁾_q ∘ a⁽¹⁾_q ∘ … with standard-normal factor entries.
func lowRankCP(rng *rand.Rand, rank, groups int, shape []int) []float32 {
	size := 1
	for _, n := range shape {
		size *= n
	}
	out := make([]float32, 0, groups*size)
	for g := 0; g < groups; g++ {
		factors := make([][]float64, len(shape))
		for m, n := range shape {
			factors[m] = make([]float64, n*rank)
			for i := range factors[m] {
				factors[m][i] = rng.NormFloat64()
			}
		}
		block := make([]float64, size)
		idx := make([]int, len(shape))
		for e := range block {
			for q := 0; q < rank; q++ {
				v := 1.0
				for m, i := range idx {
					v *= factors[m][i*rank+q]
				}
				block[e] += v
			}
			for m := len(idx) - 1; m >= 0; m-- {
				if idx[m]++; idx[m] < shape[m] {
					break
				}
				idx[m] = 0
			}
		}
		for _, v := range block {
			out = append(out, float32(v))
		}
	}
	return out
}

const cpExactRank = 3

// lowRankConvModel chains convs whose kernels are exactly rank cpExactRank in
// CP form, per group, under awkward windows: asymmetric pads, per-axis
// strides and dilations, auto_pad, groups, a padded strided 1×1; or a Conv1D.
func lowRankConvModel(oneD bool) *graph.Model {
	g := &graph.Graph{Name: "cp_low_rank"}
	m := &graph.Model{IRVersion: testmodels.IRVersion, Opsets: []graph.OpsetImport{{Domain: "", Version: testmodels.Opset}},
		ProducerName: "rewrite-test", Graph: g}
	b := graph.NewBuilder(g)
	rng := rand.New(rand.NewPCG(5, 6))
	type spec struct {
		out, in, group int64
		kernel         []int64
		attrs          []*graph.Attr
	}
	var specs []spec
	var x *graph.Value
	if oneD {
		x = b.Input("input", graph.Float32, graph.Shape{{Param: testmodels.BatchParam}, {Value: 6}, {Value: 16}})
		specs = []spec{
			{5, 6, 1, []int64{5}, []*graph.Attr{graph.IntsAttr("strides", 2), graph.IntsAttr("pads", 3, 1), graph.IntsAttr("dilations", 2)}},
			{6, 5, 1, []int64{3}, []*graph.Attr{graph.StringAttr("auto_pad", "SAME_LOWER")}},
		}
	} else {
		x = b.Input("input", graph.Float32, graph.Shape{{Param: testmodels.BatchParam}, {Value: 6}, {Value: 11}, {Value: 10}})
		specs = []spec{
			{8, 6, 1, []int64{3, 3}, []*graph.Attr{graph.IntsAttr("strides", 2, 1), graph.IntsAttr("pads", 1, 0, 2, 1), graph.IntsAttr("dilations", 1, 2)}},
			{6, 8, 2, []int64{2, 3}, []*graph.Attr{graph.StringAttr("auto_pad", "SAME_UPPER"), graph.IntsAttr("strides", 2, 2)}},
			{4, 6, 1, []int64{3, 1}, []*graph.Attr{graph.IntsAttr("pads", 1, 0, 1, 0)}},
			{5, 4, 1, []int64{1, 1}, []*graph.Attr{graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 0, 1, 1, 0)}},
		}
	}
	for i, s := range specs {
		shape := []int{int(s.out / s.group), int(s.in / s.group)}
		for _, k := range s.kernel {
			shape = append(shape, int(k))
		}
		dims := append([]int64{s.out, s.in / s.group}, s.kernel...)
		w := b.Const(fmt.Sprintf("conv%d.weight", i), graph.NewFloat32("", dims, lowRankCP(rng, cpExactRank, int(s.group), shape)))
		bias := make([]float32, s.out)
		for j := range bias {
			bias[j] = float32(rng.NormFloat64())
		}
		bv := b.Const(fmt.Sprintf("conv%d.bias", i), graph.NewFloat32("", []int64{s.out}, bias))
		attrs := append([]*graph.Attr{graph.IntsAttr("kernel_shape", s.kernel...), graph.IntAttr("group", s.group)}, s.attrs...)
		x = b.Op("Conv", fmt.Sprintf("conv%d", i), []*graph.Value{x, w, bv}, attrs...)
	}
	x.Name = "output"
	out := graph.Shape{{Param: testmodels.BatchParam}, {Value: 5}, {Value: 2}, {Value: 3}}
	if oneD {
		out = graph.Shape{{Param: testmodels.BatchParam}, {Value: 6}, {Value: 6}}
	}
	x.Type = &graph.ValueType{Elem: graph.Float32, HasShape: true, Shape: out}
	b.Output(x)
	return m
}

// CP at the kernel's true rank reproduces it: every conv of the constructed
// models, in each form, matches the original in ONNX Runtime to 1e-5.
func TestCPExactOnLowRankKernelsInORT(t *testing.T) {
	reference.Require(t, reference.ORT, reference.Checker)
	dir := t.TempDir()
	var files []string
	var jobs []reference.ORTJob
	var names []string
	for _, c := range []struct {
		oneD bool
		form string
	}{{false, cp4Way}, {false, cp3Way}, {true, cp3Way}} {
		name := fmt.Sprintf("conv%dd_%s", map[bool]int{false: 2, true: 1}[c.oneD], c.form)
		orig, m := lowRankConvModel(c.oneD), lowRankConvModel(c.oneD)
		var plan []LayerPlan
		for _, l := range FindLayers(m.Graph) {
			plan = append(plan, LayerPlan{Layer: l.Node.Name, Method: "cp", Form: c.form, Ranks: []int{cpExactRank}})
		}
		rep, err := Compress(m, Options{Plan: plan, Force: true})
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rep.Rewritten()) != len(plan) {
			t.Fatalf("%s: rewrote %d of %d convs: %+v", name, len(rep.Rewritten()), len(plan), rep.Layers)
		}
		for _, row := range rep.Rewritten() {
			if !(row.WeightError <= 1e-6) {
				t.Errorf("%s: %s weight error %.3g at the true rank", name, row.Layer, row.WeightError)
			}
		}
		a, b := filepath.Join(dir, name+".orig.onnx"), filepath.Join(dir, name+".cp.onnx")
		if err := onnx.Write(a, orig); err != nil {
			t.Fatal(err)
		}
		if err := onnx.Write(b, m); err != nil {
			t.Fatal(err)
		}
		channels := int64(6)
		spatial := []int64{11, 10}
		if c.oneD {
			spatial = []int64{16}
		}
		in := testmodels.Case{InputShapes: map[string][]int64{"input": append([]int64{2, channels}, spatial...)}}.RandomInputs(9)
		files = append(files, b)
		names = append(names, name)
		jobs = append(jobs, reference.ORTJob{Model: a, Inputs: in}, reference.ORTJob{Model: b, Inputs: in})
	}
	errs, err := reference.CheckModels(files...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("%s: ONNX checker: %v", names[i], e)
		}
	}
	res, err := reference.RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, name := range names {
		want, got := res[2*i], res[2*i+1]
		if want.Err != nil || got.Err != nil {
			t.Fatalf("%s: ORT: %v / %v", name, want.Err, got.Err)
		}
		wf, _ := want.Outputs["output"].Float32s()
		gf, _ := got.Outputs["output"].Float32s()
		if e := reference.RelL2(gf, wf); !(e <= 1e-5) {
			t.Errorf("%s: output relative L2 %.3g > 1e-5", name, e)
		}
	}
}

// Below the true rank the error is real, and CP-ALS never raises it from one
// factor update to the next.
func TestCPErrorsNeverIncrease(t *testing.T) {
	m := mustCase(t, "resnet_basic").Build(4)
	var checked int
	for _, l := range FindLayers(m.Graph) {
		if (cpMethod{}).Check(l) != nil || l.Conv.Kernel[0] != 3 {
			continue
		}
		for _, form := range cpForms(l) {
			cf, err := factorCP(l, form, 5)
			if err != nil {
				t.Fatal(err)
			}
			for g, c := range cf.cps {
				errs := c.Errors()
				if len(errs) < 2*len(cpModes(l, form)) {
					t.Errorf("%s %s: only %d updates recorded", l.Node.Name, form, len(errs))
				}
				for i := 1; i < len(errs); i++ {
					if errs[i] > errs[i-1]*(1+1e-12)+1e-15 {
						t.Errorf("%s %s group %d: update %d raised the error %.12g → %.12g", l.Node.Name, form, g, i, errs[i-1], errs[i])
						break
					}
				}
			}
			if !(cf.relErr > 0.05 && cf.relErr < 1) {
				t.Errorf("%s %s rank 5: relative error %.3g, want a real but bounded error for a random kernel", l.Node.Name, form, cf.relErr)
			}
			checked++
		}
		if checked >= 4 {
			break
		}
	}
	if checked == 0 {
		t.Fatal("resnet_basic has no 3×3 conv for cp")
	}
}

func TestCPRatioHonoured(t *testing.T) { checkRatioHonoured(t, "cp") }

func TestCPDeterministic(t *testing.T) { checkDeterministic(t, "cp", Target{Rank: 6}) }

func TestCPRefusesDepthwiseAndGemm(t *testing.T) { checkRefusals(t, "cp") }

// At a fixed rank the cheaper form wins: 4way for a 3×3 kernel, 3way for a
// 3×1 kernel (R(3+1) vs R·3) and for Conv1D, where 4way does not exist.
func TestCPPlanFormsAndRefusals(t *testing.T) {
	conv2d := FindLayers(lowRankConvModel(false).Graph)
	conv1d := FindLayers(lowRankConvModel(true).Graph)
	for _, c := range []struct {
		l    *Layer
		want string
	}{{conv2d[0], cp4Way}, {conv2d[2], cp3Way}, {conv1d[0], cp3Way}} {
		p, err := cpMethod{}.Plan(c.l, Target{Rank: 2})
		if err != nil {
			t.Fatal(err)
		}
		if p.Form != c.want || len(p.Ranks) != 1 || p.Ranks[0] != 2 {
			t.Errorf("%s kernel %v: plan %+v, want %s [2]", c.l.Node.Name, c.l.Conv.Kernel, p, c.want)
		}
	}
	p, err := cpMethod{}.Plan(conv1d[0], Target{Rank: 1000})
	if err != nil || p.Ranks[0] != 5*5 {
		t.Errorf("rank 1000 on a 5×6×5 kernel: plan %+v (%v), want rank 25 (the most any CP of it needs: the product of all modes but the largest)", p, err)
	}
	_, err = Compress(lowRankConvModel(true), Options{Plan: []LayerPlan{{Layer: conv1d[0].Node.Name, Method: "cp", Form: cp3Way, Ranks: []int{26}}}})
	if err == nil || !strings.Contains(err.Error(), "at most 25") {
		t.Errorf("rank 26 on a 5×6×5 kernel: want an error naming the limit, got %v", err)
	}
	m := lowRankConvModel(true)
	_, err = Compress(m, Options{Plan: []LayerPlan{{Layer: conv1d[0].Node.Name, Method: "cp", Form: cp4Way, Ranks: []int{2}}}})
	if err == nil || !strings.Contains(err.Error(), "no form") {
		t.Errorf("4way on a Conv1D: want an error naming the form, got %v", err)
	}
	rep, err := Compress(lowRankConvModel(false), Options{Method: "cp", Target: Target{Energy: 0.9}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rewritten()) != 0 || len(rep.Layers) == 0 || !strings.Contains(rep.Layers[0].Skipped, "energy") {
		t.Errorf("energy target: want every layer skipped with a reason, got %+v", rep.Layers)
	}
}

// The constructed low-rank kernels come out exact in this project's runtime.
func TestCPExactOnLowRankKernelsInOurRuntime(t *testing.T) {
	for _, c := range []struct {
		oneD   bool
		form   string
		shapes map[string][]int64
	}{
		{false, cp4Way, map[string][]int64{"input": {2, 6, 11, 10}}},
		{false, cp3Way, map[string][]int64{"input": {2, 6, 11, 10}}},
		{true, cp3Way, map[string][]int64{"input": {2, 6, 16}}},
	} {
		var plan []LayerPlan
		for _, l := range FindLayers(lowRankConvModel(c.oneD).Graph) {
			plan = append(plan, LayerPlan{Layer: l.Node.Name, Method: "cp", Form: c.form, Ranks: []int{cpExactRank}})
		}
		build := func() *graph.Model { return lowRankConvModel(c.oneD) }
		if e := measureInOurRuntime(t, build, plan, c.shapes); !(e <= 1e-5) {
			t.Errorf("1-D %v %s: output relative L2 %.3g > 1e-5", c.oneD, c.form, e)
		}
	}
}
