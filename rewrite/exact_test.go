package rewrite

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

// lossless describes a method's lossless setting: for each layer, the plans
// to try (one compressed model per plan variant), or nil to use opts.
type lossless struct {
	method string
	// variants returns, per variant name, the plan for one layer; a layer
	// with no plan for a variant is left alone in that variant.
	variants func(l *Layer) map[string]LayerPlan
}

type exactJob struct {
	name     string
	original string
	rewired  string
	inputs   map[string]*graph.Tensor
	rewrites int
}

// checkExactInORT compresses every test model with every variant of the
// method's lossless setting, checks each file with the ONNX checker, and
// compares outputs with the original's in ONNX Runtime (≤1e-5 relative L2).
func checkExactInORT(t *testing.T, ll lossless) {
	reference.Require(t, reference.ORT, reference.Checker)
	dir := t.TempDir()
	var jobs []exactJob
	rewritten := map[string]int{}
	for _, c := range testmodels.All() {
		orig := filepath.Join(dir, c.Name+".onnx")
		if err := onnx.Write(orig, c.Build(7)); err != nil {
			t.Fatal(err)
		}
		probe := c.Build(7)
		variants := map[string][]LayerPlan{}
		for _, l := range FindLayers(probe.Graph) {
			for v, p := range ll.variants(l) {
				p.Layer, p.Method = l.Node.Name, ll.method
				variants[v] = append(variants[v], p)
			}
		}
		for v, plan := range variants {
			m := c.Build(7)
			rep, err := Compress(m, Options{Plan: plan, Force: true})
			if err != nil {
				t.Errorf("%s/%s: %v", c.Name, v, err)
				continue
			}
			out := filepath.Join(dir, fmt.Sprintf("%s.%s.%s.onnx", c.Name, ll.method, v))
			if err := onnx.Write(out, m); err != nil {
				t.Fatal(err)
			}
			n := len(rep.Rewritten())
			rewritten[v] += n
			jobs = append(jobs, exactJob{name: c.Name + "/" + v, original: orig, rewired: out, inputs: c.RandomInputs(3), rewrites: n})
		}
	}
	if len(jobs) == 0 {
		t.Fatalf("%s: no test model had a layer to rewrite", ll.method)
	}
	for v, n := range rewritten {
		if n == 0 {
			t.Errorf("variant %s rewrote no layer in any model", v)
		}
	}
	var files []string
	var ortJobs []reference.ORTJob
	for _, j := range jobs {
		files = append(files, j.rewired)
		ortJobs = append(ortJobs, reference.ORTJob{Model: j.original, Inputs: j.inputs}, reference.ORTJob{Model: j.rewired, Inputs: j.inputs})
	}
	errs, err := reference.CheckModels(files...)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range errs {
		if e != nil {
			t.Errorf("%s: ONNX checker: %v", jobs[i].name, e)
		}
	}
	res, err := reference.RunORTBatch(ortJobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, j := range jobs {
		want, got := res[2*i], res[2*i+1]
		if want.Err != nil || got.Err != nil {
			t.Errorf("%s: ORT: %v / %v", j.name, want.Err, got.Err)
			continue
		}
		for name, w := range want.Outputs {
			g := got.Outputs[name]
			if g == nil {
				t.Errorf("%s: output %s missing", j.name, name)
				continue
			}
			wf, _ := w.Float32s()
			gf, _ := g.Float32s()
			if e := reference.RelL2(gf, wf); !(e <= 1e-5) {
				t.Errorf("%s: output %s relative L2 %.3g > 1e-5 (%d layers rewritten)", j.name, name, e, j.rewrites)
			}
		}
	}
	if testing.Verbose() {
		t.Logf("%s: %d compressed models checked, rewrites per variant %v", ll.method, len(jobs), rewritten)
	}
	_ = os.RemoveAll(dir)
}
