package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/htmlreport"
	"github.com/onnxcompress/onnxcompress/internal/reference"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/rewrite"
)

func diffJSON(t *testing.T, wantCode int, args ...string) htmlreport.Document {
	t.Helper()
	stdout, stderr, code := runCLI(t, append([]string{"diff", "--json"}, args...)...)
	if code != wantCode {
		t.Fatalf("diff %v: exit %d, want %d: %s", args, code, wantCode, stderr)
	}
	var doc htmlreport.Document
	if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
		t.Fatalf("diff --json output: %v\n%s", err, stdout)
	}
	if doc.Schema != htmlreport.SchemaVersion {
		t.Fatalf("schema %q", doc.Schema)
	}
	return doc
}

func TestDiffOfAModelWithItselfIsExit0(t *testing.T) {
	lenet := bundledLeNet(t)
	doc := diffJSON(t, 0, lenet, lenet, "--probe", "2")
	if !doc.Identical || doc.Equivalent == nil || !*doc.Equivalent {
		t.Fatalf("identical %v equivalent %v", doc.Identical, doc.Equivalent)
	}
	for _, c := range doc.Structure.Changes {
		if c.Kind != graph.Unchanged {
			t.Errorf("%s change of %v", c.Kind, c.Old)
		}
	}
	if n := doc.Numeric; n.RelL2 != 0 || n.MaxAbs != 0 || n.Samples != 2 || n.Top1Agreement == nil || *n.Top1Agreement != 1 {
		t.Errorf("numeric %+v", n)
	}
	stdout, _, code := runCLI(t, "diff", lenet, lenet)
	if code != 0 || !strings.Contains(stdout, "identical") {
		t.Fatalf("exit %d:\n%s", code, stdout)
	}
}

func TestDiffIsDeterministic(t *testing.T) {
	lenet := bundledLeNet(t)
	small := filepath.Join(t.TempDir(), "cp.onnx")
	if _, stderr, code := runCLI(t, "compress", lenet, "-o", small, "--method", "cp", "--ratio", "0.5", "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var outs []string
	for i := 0; i < 2; i++ {
		stdout, stderr, code := runCLI(t, "diff", "--json", lenet, small, "--probe", "2")
		if code != 1 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		outs = append(outs, stdout)
	}
	if outs[0] != outs[1] {
		t.Fatal("two runs of the same diff print different JSON")
	}
}

func TestDiffBadInputIsExit2(t *testing.T) {
	lenet := bundledLeNet(t)
	for name, args := range map[string][]string{
		"one model":       {lenet},
		"missing file":    {lenet, filepath.Join(t.TempDir(), "absent.onnx")},
		"tol with no run": {lenet, lenet, "--tol", "0.1", "--probe", "0"},
		"negative probe":  {lenet, lenet, "--probe", "-1"},
	} {
		t.Run(name, func(t *testing.T) {
			_, stderr, code := runCLI(t, append([]string{"diff"}, args...)...)
			if code != exitBadInput || strings.Contains(stderr, "panic") {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
		})
	}
}

// compressReport is the part of compress --report the diff test checks.
type compressReport struct {
	Report rewrite.Report `json:"report"`
}

// Every method's output on the bundled LeNet: diff lists exactly the layers
// the compressor says it rewrote, with its params and MACs, totals equal to
// inspect's, and an output error equal to the one ONNX Runtime's outputs of
// both files give on the same probe.
func TestDiffOfEachMethodOnLeNet(t *testing.T) {
	reference.Require(t, reference.ORT)
	lenet := bundledLeNet(t)
	dir := t.TempDir()
	const seed = 5
	ortInputs := probeInputs(t, lenet, seed)
	jobs := []reference.ORTJob{{Model: lenet, Inputs: ortInputs}}
	docs := map[string]htmlreport.Document{}
	before := inspectJSON(t, lenet)
	for _, method := range rewrite.MethodNames() {
		out, report := filepath.Join(dir, method+".onnx"), filepath.Join(dir, method+".json")
		if _, stderr, code := runCLI(t, "compress", lenet, "-o", out, "--method", method, "--ratio", "0.5",
			"--report", report, "-q"); code != 0 {
			t.Errorf("compress --method %s: exit %d: %s", method, code, stderr)
			continue
		}
		var rep compressReport
		data, err := os.ReadFile(report)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(data, &rep); err != nil {
			t.Fatal(err)
		}
		doc := diffJSON(t, 1, lenet, out, "--probe", "1", "--seed", fmt.Sprint(seed))
		docs[method] = doc
		jobs = append(jobs, reference.ORTJob{Model: out, Inputs: ortInputs})
		t.Run(method+"/structure", func(t *testing.T) {
			checkDiffAgainstReport(t, doc, &rep.Report, before)
			after := inspectJSON(t, out)
			d := doc.Structure
			if d.Before.Params != before.Params || d.Before.MACs != before.MACs || d.After.Params != after.Params ||
				d.After.MACs != after.MACs || d.After.UniqueParams != after.UniqueParams {
				t.Errorf("totals %+v → %+v; inspect says %d/%d → %d/%d", d.Before, d.After,
					before.Params, before.MACs, after.Params, after.MACs)
			}
		})
	}
	results, err := reference.RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	if results[0].Err != nil {
		t.Fatal(results[0].Err)
	}
	want := results[0].Outputs["logits"]
	wantF, _ := want.Float32s()
	for i, job := range jobs[1:] {
		method := strings.TrimSuffix(filepath.Base(job.Model), ".onnx")
		res := results[i+1]
		t.Run(method+"/numbers", func(t *testing.T) {
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			got, _ := res.Outputs["logits"].Float32s()
			ortErr := reference.RelL2(got, wantF)
			n := docs[method].Numeric
			if n == nil || len(n.Outputs) != 1 {
				t.Fatalf("numeric %+v", n)
			}
			if math.Abs(float64(n.Outputs[0].RelL2)-ortErr) > 1e-4 {
				t.Errorf("diff says rel. L2 %.6g, ONNX Runtime outputs give %.6g", n.Outputs[0].RelL2, ortErr)
			}
			maxAbs := 0.0
			for k := range got {
				maxAbs = math.Max(maxAbs, math.Abs(float64(got[k])-float64(wantF[k])))
			}
			if math.Abs(float64(n.MaxAbs)-maxAbs) > 1e-3*math.Max(1, maxAbs) {
				t.Errorf("diff says max abs %.6g, ONNX Runtime outputs give %.6g", n.MaxAbs, maxAbs)
			}
		})
	}
}

func checkDiffAgainstReport(t *testing.T, doc htmlreport.Document, rep *rewrite.Report, orig inspectReport) {
	t.Helper()
	type cost struct{ Params, MACs int64 }
	origLayers := map[string]cost{}
	for _, l := range orig.Layers {
		origLayers[l.Name] = cost{l.Params, l.MACs}
	}
	rewritten := map[string]*rewrite.LayerReport{}
	var wantNames []string
	for _, l := range rep.Rewritten() {
		rewritten[l.Layer] = l
		wantNames = append(wantNames, l.Layer)
	}
	var gotNames []string
	var pb, pa, mb, ma int64
	for _, c := range doc.Structure.Changes {
		pb, pa, mb, ma = pb+c.ParamsBefore, pa+c.ParamsAfter, mb+c.MACsBefore, ma+c.MACsAfter
		switch c.Kind {
		case graph.Unchanged:
			continue
		case graph.Modified:
			// Channel pruning also shrinks the next layer's weight, which
			// the rewrite names after itself.
			touched := false
			for _, det := range c.Details {
				for name, l := range rewritten {
					touched = touched || strings.Contains(det, "("+name+"/"+l.Method+"/")
				}
			}
			if !touched {
				t.Errorf("modified %s, which no rewrite touched: %v", c.Old[0].Name, c.Details)
			}
			continue
		case graph.Replaced:
		default:
			t.Errorf("unexpected %s change %v → %v", c.Kind, c.Old, c.New)
			continue
		}
		if c.Match != graph.ByProvenance || len(c.Old) != 1 {
			t.Errorf("replaced %v matched by %s", c.Old, c.Match)
			continue
		}
		name := c.Old[0].Name
		gotNames = append(gotNames, name)
		l := rewritten[name]
		if l == nil {
			continue
		}
		// Before is the original layer as inspect sees it (compress's own
		// "before" may already count an earlier rewrite's pruning of its
		// inputs); after is what compress says the new nodes cost.
		o := origLayers[name]
		if c.Method != l.Method || c.ParamsBefore != o.Params || c.ParamsAfter != l.ParamsAfter ||
			c.MACsBefore != o.MACs || c.MACsAfter != l.MACsAfter {
			t.Errorf("%s: %s params %d→%d MACs %d→%d; inspect and compress say %s %d→%d, %d→%d", name, c.Method,
				c.ParamsBefore, c.ParamsAfter, c.MACsBefore, c.MACsAfter, l.Method, o.Params, l.ParamsAfter, o.MACs, l.MACsAfter)
		}
		if len(c.New) != len(l.NewNodes) {
			t.Errorf("%s: %d new nodes, compress emitted %d", name, len(c.New), len(l.NewNodes))
		}
		for _, n := range c.New {
			for _, o := range n.Outputs {
				if o.Shape == "" {
					t.Errorf("%s: new node %s output %s has no shape", name, n.Name, o.Name)
				}
			}
		}
	}
	sort.Strings(gotNames)
	sort.Strings(wantNames)
	if strings.Join(gotNames, ",") != strings.Join(wantNames, ",") {
		t.Errorf("replaced %v, compress rewrote %v", gotNames, wantNames)
	}
	d := doc.Structure
	if pb != d.Before.Params || pa != d.After.Params || mb != d.Before.MACs || ma != d.After.MACs {
		t.Errorf("rows sum to params %d→%d MACs %d→%d; totals %+v → %+v", pb, pa, mb, ma, d.Before, d.After)
	}
}

// editedLeNet writes a copy of the bundled LeNet with edit applied.
func editedLeNet(t *testing.T, name string, edit func(m *graph.Model)) string {
	t.Helper()
	m, err := onnx.Read(bundledLeNet(t))
	if err != nil {
		t.Fatal(err)
	}
	edit(m)
	path := filepath.Join(t.TempDir(), name)
	if err := onnx.Write(path, m); err != nil {
		t.Fatal(err)
	}
	return path
}

func nodeNamed(t *testing.T, m *graph.Model, name string) *graph.Node {
	t.Helper()
	for _, n := range m.Graph.Nodes {
		if n.Name == name {
			return n
		}
	}
	t.Fatalf("no node %s", name)
	return nil
}

// Two models that differ by one layer, not made by onnxcompress: the
// diff pairs the rest by name, or by structure when names are gone.
func TestDiffOfModelsDifferingByOneLayer(t *testing.T) {
	lenet := bundledLeNet(t)
	swapped := editedLeNet(t, "swapped.onnx", func(m *graph.Model) { nodeNamed(t, m, "/Relu_2").OpType = "Sigmoid" })
	doc := diffJSON(t, 1, lenet, swapped)
	checkOnlyChange(t, doc, graph.Replaced, graph.ByName, "/Relu_2", "Sigmoid")
	if *doc.Equivalent || doc.Numeric.RelL2 == 0 {
		t.Errorf("Relu → Sigmoid left the outputs equal: %+v", doc.Numeric)
	}

	// No node names and every internal value renamed: only structure
	// is left to pair the nodes.
	anonymous := func(m *graph.Model, prefix string) {
		for i, n := range m.Graph.Nodes {
			n.Name = ""
			for _, v := range n.Outputs {
				if v.Name != "logits" {
					v.Name = fmt.Sprintf("%s%d", prefix, i)
				}
			}
		}
	}
	a := editedLeNet(t, "a.onnx", func(m *graph.Model) { anonymous(m, "t") })
	b := editedLeNet(t, "b.onnx", func(m *graph.Model) {
		w := nodeNamed(t, m, "/fc2/Gemm").Inputs[1].Const
		w.Raw[3] ^= 0x80 // flip the sign of one weight
		anonymous(m, "u")
	})
	doc = diffJSON(t, 1, a, b)
	checkOnlyChange(t, doc, graph.Modified, graph.ByStructure, "Gemm→t9", "Gemm")
	if det := strings.Join(doc.Structure.Changes[9].Details, ";"); !strings.Contains(det, "1 of 10080 values differ") {
		t.Errorf("details %q", det)
	}

	// A layer inserted between two others.
	inserted := editedLeNet(t, "inserted.onnx", func(m *graph.Model) {
		relu := nodeNamed(t, m, "/Relu_3")
		mid := &graph.Value{Name: "extra_out"}
		extra := &graph.Node{Name: "extra", OpType: "Sigmoid", Inputs: []*graph.Value{relu.Outputs[0]}, Outputs: []*graph.Value{mid}}
		fc3 := nodeNamed(t, m, "/fc3/Gemm")
		fc3.Inputs[0] = mid
		m.Graph.Nodes = append(m.Graph.Nodes[:11], append([]*graph.Node{extra}, m.Graph.Nodes[11:]...)...)
	})
	doc = diffJSON(t, 1, lenet, inserted)
	checkOnlyChange(t, doc, graph.Added, "", "extra", "Sigmoid")
}

// Outputs of other shapes cannot be compared: their error is null in JSON
// (not finite) and the models are not equivalent.
func TestDiffOfOutputsWithOtherShapes(t *testing.T) {
	lenet := bundledLeNet(t)
	five := editedLeNet(t, "five.onnx", func(m *graph.Model) {
		fc3 := nodeNamed(t, m, "/fc3/Gemm")
		fc3.Inputs[1].Const = graph.NewFloat32("fc3.weight", []int64{5, 84}, make([]float32, 5*84))
		fc3.Inputs[2].Const = graph.NewFloat32("fc3.bias", []int64{5}, make([]float32, 5))
		fc3.Inputs[1].Type, fc3.Inputs[2].Type = nil, nil
		m.Graph.Outputs[0].Type.Shape[1] = graph.Dim{Value: 5}
	})
	stdout, stderr, code := runCLI(t, "diff", "--json", lenet, five)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `"rel_l2": null`) {
		t.Errorf("JSON lacks a null rel_l2:\n%s", stdout)
	}
}

// An op this tool's runtime cannot run does not hide the structural diff
// unless numbers were asked for.
func TestDiffWithoutRunnableModelStillDiffs(t *testing.T) {
	lenet := bundledLeNet(t)
	custom := editedLeNet(t, "custom.onnx", func(m *graph.Model) {
		n := nodeNamed(t, m, "/Relu_2")
		n.Domain = "com.example"
		m.Opsets = append(m.Opsets, graph.OpsetImport{Domain: "com.example", Version: 1})
	})
	doc := diffJSON(t, 1, lenet, custom)
	if doc.Numeric != nil || doc.NumericSkipped == "" {
		t.Fatalf("numeric %+v, skipped %q", doc.Numeric, doc.NumericSkipped)
	}
	checkOnlyChange(t, doc, graph.Replaced, graph.ByName, "/Relu_2", "com.example.Relu")
	if _, stderr, code := runCLI(t, "diff", lenet, custom, "--probe", "1"); code != exitBadInput || !strings.Contains(stderr, "Relu_2") {
		t.Fatalf("explicit --probe: exit %d, %q", code, stderr)
	}
}

// checkOnlyChange asserts that exactly one change is not Unchanged, of kind
// and match, about the node called name, now of op newOp.
func checkOnlyChange(t *testing.T, doc htmlreport.Document, kind graph.ChangeKind, match graph.MatchKind, name, newOp string) {
	t.Helper()
	var others []string
	found := false
	for _, c := range doc.Structure.Changes {
		if c.Kind == graph.Unchanged {
			continue
		}
		ref := c.New
		if len(c.Old) > 0 {
			ref = c.Old
		}
		if c.Kind == kind && c.Match == match && len(ref) == 1 && ref[0].Name == name && len(c.New) == 1 && c.New[0].Op == newOp {
			found = true
			continue
		}
		others = append(others, fmt.Sprintf("%s/%s %v→%v", c.Kind, c.Match, c.Old, c.New))
	}
	if !found || len(others) > 0 {
		t.Errorf("want only %s by %q of %s (%s); found %v, others %v", kind, match, name, newOp, found, others)
	}
}

// Two exports of the same torchvision architecture with other random
// weights: every node pairs by name; exactly the layers with weights (convs,
// the classifier) are modified.
func TestDiffOfTwoTorchvisionExports(t *testing.T) {
	reference.Require(t, reference.Torch)
	dir := t.TempDir()
	var paths []string
	for _, seed := range []string{"0", "1"} {
		p := filepath.Join(dir, "squeezenet_"+seed+".onnx")
		out, err := exec.Command(reference.Python, filepath.Join(reference.RepoRoot(), "internal", "reference", "export_torchvision.py"),
			"squeezenet1_0", p, seed).CombinedOutput()
		if err != nil {
			t.Fatalf("export: %v: %s", err, out)
		}
		paths = append(paths, p)
	}
	doc := diffJSON(t, 1, paths[0], paths[1], "--probe", "0")
	weighted := inspectJSON(t, paths[0]).Layers
	if n := doc.Structure.Count(graph.Modified); n != len(weighted) {
		t.Errorf("%d modified nodes, want the %d weighted layers", n, len(weighted))
	}
	for _, c := range doc.Structure.Changes {
		if c.Match != graph.ByName {
			t.Errorf("%s %v matched by %q, want name", c.Kind, c.Old, c.Match)
		}
		if c.Kind != graph.Unchanged && c.Kind != graph.Modified {
			t.Errorf("%s %v → %v", c.Kind, c.Old, c.New)
		}
	}
	if doc.Structure.Before != doc.Structure.After {
		t.Errorf("totals %+v vs %+v", doc.Structure.Before, doc.Structure.After)
	}
}

// --tol alone decides the status: a structural change that computes the
// same function is equivalent, a lossy one is not.
func TestDiffTolDecidesByNumbersOnly(t *testing.T) {
	lenet := bundledLeNet(t)
	same := editedLeNet(t, "identity.onnx", func(m *graph.Model) {
		fc3 := nodeNamed(t, m, "/fc3/Gemm")
		mid := &graph.Value{Name: "copy"}
		id := &graph.Node{Name: "copy", OpType: "Identity", Inputs: []*graph.Value{fc3.Inputs[0]}, Outputs: []*graph.Value{mid}}
		fc3.Inputs[0] = mid
		m.Graph.Nodes = append(m.Graph.Nodes[:11], append([]*graph.Node{id}, m.Graph.Nodes[11:]...)...)
	})
	doc := diffJSON(t, 1, lenet, same, "--probe", "2")
	if doc.Identical || doc.Structure.Count(graph.Added) != 1 || doc.Numeric.RelL2 != 0 || !*doc.Equivalent {
		t.Fatalf("identical %v, %d added, rel. L2 %g", doc.Identical, doc.Structure.Count(graph.Added), doc.Numeric.RelL2)
	}
	diffJSON(t, 0, lenet, same, "--probe", "2", "--tol", "1e-6")
	worse := filepath.Join(t.TempDir(), "rank8.onnx")
	if _, stderr, code := runCLI(t, "compress", lenet, "-o", worse, "--method", "svd", "--rank", "8", "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	doc = diffJSON(t, 1, lenet, worse, "--probe", "2", "--tol", "1e-6")
	if *doc.Equivalent {
		t.Fatalf("rank-8 svd equivalent within 1e-6: %+v", doc.Numeric)
	}
}

func TestDiffOnData(t *testing.T) {
	reference.Require(t, reference.FashionMNIST)
	lenet := bundledLeNet(t)
	out := filepath.Join(t.TempDir(), "svd.onnx")
	if _, stderr, code := runCLI(t, "compress", lenet, "-o", out, "--method", "svd", "--ratio", "0.5", "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	data := []string{"--data", reference.FashionMNISTDir, "--mean", "0.286", "--std", "0.353", "--limit", "500"}
	doc := diffJSON(t, 1, append([]string{lenet, out}, data...)...)
	n := doc.Numeric
	if n.Source != "data" || n.Samples != 500 || n.AccuracyA == nil || n.AccuracyB == nil || n.Top1Agreement == nil {
		t.Fatalf("numeric %+v", n)
	}
	// eval on the same samples must give the same accuracies.
	for _, c := range []struct {
		path string
		acc  float64
	}{{lenet, *n.AccuracyA}, {out, *n.AccuracyB}} {
		stdout, stderr, code := runCLI(t, append([]string{"eval", c.path, "--json"}, data...)...)
		if code != 0 {
			t.Fatalf("eval: exit %d: %s", code, stderr)
		}
		var res struct{ Accuracy float64 }
		if err := json.Unmarshal([]byte(stdout), &res); err != nil {
			t.Fatal(err)
		}
		if res.Accuracy != c.acc {
			t.Errorf("%s: diff says accuracy %g, eval %g", c.path, c.acc, res.Accuracy)
		}
	}
	if *n.Top1Agreement <= 0.5 || *n.Top1Agreement > 1 {
		t.Errorf("top-1 agreement %g", *n.Top1Agreement)
	}
}

var errNoChromium = errors.New("chromium not found (apt-get install chromium)")

// chromium finds Debian's headless browser; under CI=true its absence fails
// the test, otherwise it skips.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true and %v", errNoChromium)
	}
	t.Skip(errNoChromium)
	return ""
}

func chromiumArgs(profile string, extra ...string) []string {
	return append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--user-data-dir=" + profile}, extra...)
}

// The HTML report renders in a real browser: the page loads offline, its
// DOM holds the charts and the table, and a screenshot is taken.
func TestDiffHTMLRendersInChromium(t *testing.T) {
	browser := chromium(t)
	lenet := bundledLeNet(t)
	dir := t.TempDir()
	small := filepath.Join(dir, "tucker.onnx")
	if _, stderr, code := runCLI(t, "compress", lenet, "-o", small, "--method", "tucker", "--ratio", "0.5", "-q"); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	replaced := diffJSON(t, 1, lenet, small, "--probe", "0").Structure.Count(graph.Replaced)
	if replaced == 0 {
		t.Fatal("tucker replaced nothing")
	}
	page := filepath.Join(dir, "report.html")
	if _, stderr, code := runCLI(t, "diff", lenet, small, "--html", page, "--probe", "2"); code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, banned := range []string{"http://", "https://", "<script", "<link"} {
		if strings.Contains(strings.ReplaceAll(string(html), "http://www.w3.org/2000/svg", ""), banned) {
			t.Errorf("the page is not self-contained: it holds %q", banned)
		}
	}
	url := "file://" + page
	dom, err := exec.Command(browser, chromiumArgs(filepath.Join(dir, "profile-dom"), "--dump-dom", url)...).Output()
	if err != nil {
		t.Fatalf("chromium --dump-dom: %v", err)
	}
	text := string(dom)
	if n := strings.Count(text, "<svg"); n != 3+replaced { // params, MACs, error + one per region
		t.Errorf("%d svg elements in the rendered DOM, want %d", n, 3+replaced)
	}
	for _, want := range []string{`id="changes"`, `id="charts"`, "<rect", "/conv2/Conv", "replaced", "Replaced regions", `class="bar"`} {
		if !strings.Contains(text, want) {
			t.Errorf("rendered DOM lacks %q", want)
		}
	}
	if rows := strings.Count(text, "<tr class="); rows != 12 { // one per LeNet node pair
		t.Errorf("%d table rows, want 12", rows)
	}
	shot := filepath.Join(dir, "shot.png")
	if out, err := exec.Command(browser, chromiumArgs(filepath.Join(dir, "profile-shot"),
		"--window-size=1200,2400", "--screenshot="+shot, url)...).CombinedOutput(); err != nil {
		t.Fatalf("chromium --screenshot: %v: %s", err, out)
	}
	png, err := os.ReadFile(shot)
	if err != nil || len(png) < 20000 || string(png[1:4]) != "PNG" {
		t.Fatalf("screenshot: %d bytes, %v", len(png), err)
	}
	if dst := os.Getenv("ONNXCOMPRESS_DIFF_SCREENSHOT"); dst != "" {
		os.WriteFile(dst, png, 0o644)
	}
}
