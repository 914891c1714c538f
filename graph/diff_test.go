package graph_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/rewrite"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

func TestDiffOfAModelWithItselfIsIdentical(t *testing.T) {
	for _, c := range testmodels.All() {
		t.Run(c.Name, func(t *testing.T) {
			a, b := c.Build(3), c.Build(3)
			d := graph.Diff(a, b)
			if !d.Identical() {
				t.Fatalf("not identical: %s", describe(d))
			}
			if len(d.Changes) != len(a.Graph.Nodes) {
				t.Fatalf("%d changes for %d nodes", len(d.Changes), len(a.Graph.Nodes))
			}
			for i, ch := range d.Changes {
				if ch.Old[0].Node != a.Graph.Nodes[i] || ch.New[0].Node != b.Graph.Nodes[i] {
					t.Fatalf("change %d pairs %s with %s", i, ch.Old[0].Name, ch.New[0].Name)
				}
			}
			if d.Before != d.After {
				t.Fatalf("totals %+v vs %+v", d.Before, d.After)
			}
		})
	}
}

func TestDiffOfOtherWeightsIsModifiedNodes(t *testing.T) {
	a, b := testmodels.LeNet5(1), testmodels.LeNet5(2)
	d := graph.Diff(a, b)
	if d.Identical() {
		t.Fatal("models with other weights reported identical")
	}
	if n := d.Count(graph.Modified); n != 5 {
		t.Fatalf("%d modified nodes, want the 5 weighted layers: %s", n, describe(d))
	}
	for _, ch := range d.Changes {
		if ch.Kind == graph.Modified && !strings.Contains(strings.Join(ch.Details, ";"), "values differ") {
			t.Errorf("%s: details %q do not say the weights differ", ch.Old[0].Name, ch.Details)
		}
	}
}

// compressed rewrites LeNet-5 with rewrite.Compress and returns the
// original, the compressed model and the report.
func compressed(t *testing.T, method string) (*graph.Model, *graph.Model, *rewrite.Report) {
	t.Helper()
	orig, m := testmodels.LeNet5(7), testmodels.LeNet5(7)
	// Two small layers keep the slower methods quick.
	rep, err := rewrite.Compress(m, rewrite.Options{Method: method, Target: rewrite.Target{Ratio: 0.5}, Seed: 1,
		Layers: []string{"conv2*", "fc2*"}, InputShapes: map[string]graph.Shape{"input": graph.KnownShape(1, 1, 28, 28)}})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Rewritten()) == 0 {
		t.Fatalf("%s rewrote nothing", method)
	}
	return orig, m, rep
}

func TestDiffFindsExactlyTheRewrittenLayers(t *testing.T) {
	for _, method := range rewrite.MethodNames() {
		t.Run(method, func(t *testing.T) {
			orig, m, rep := compressed(t, method)
			d := graph.Diff(orig, m)
			checkAgainstReport(t, d, rep, graph.ByProvenance)
			checkRowsSumToTotals(t, d)
			if _, tot := graph.ModelCost(m); d.After.Params != tot.Params || d.After.MACs != tot.MACs {
				t.Errorf("after totals %+v, ModelCost says %+v", d.After, tot)
			}
		})
	}
}

// Without the metadata list, the doc_strings of the emitted nodes still say
// what they replace.
func TestDiffReadsProvenanceFromDocStrings(t *testing.T) {
	orig, m, rep := compressed(t, "svd")
	m.Metadata = nil
	d := graph.Diff(orig, m)
	checkAgainstReport(t, d, rep, graph.ByProvenance)
	for _, ch := range d.Changes {
		if ch.Kind == graph.Replaced && (ch.WeightError == nil || ch.Method != "svd") {
			t.Errorf("%s: method %q, weight error %v from the doc_string", ch.Old[0].Name, ch.Method, ch.WeightError)
		}
	}
}

func checkAgainstReport(t *testing.T, d *graph.ModelDiff, rep *rewrite.Report, match graph.MatchKind) {
	t.Helper()
	want := map[string]*rewrite.LayerReport{}
	for _, l := range rep.Rewritten() {
		want[l.Layer] = l
	}
	got := 0
	for _, ch := range d.Changes {
		switch ch.Kind {
		case graph.Unchanged:
			continue
		case graph.Replaced:
		case graph.Modified:
			// Channel pruning shrinks the next layer's weight too; that
			// weight is named after the rewrite that made it.
			if !madeByRewrite(ch, want) {
				t.Errorf("modified node %s not touched by a rewrite: %v", ch.Old[0].Name, ch.Details)
			}
			continue
		default:
			t.Errorf("unexpected %s change: %+v", ch.Kind, ch)
			continue
		}
		got++
		if len(ch.Old) != 1 {
			t.Errorf("replaced region with %d old nodes", len(ch.Old))
			continue
		}
		l := want[ch.Old[0].Name]
		if l == nil {
			t.Errorf("%s replaced, but the report did not rewrite it", ch.Old[0].Name)
			continue
		}
		if ch.Match != match {
			t.Errorf("%s matched by %s, want %s", l.Layer, ch.Match, match)
		}
		var names []string
		for _, n := range ch.New {
			names = append(names, n.Name)
		}
		if !reflect.DeepEqual(names, l.NewNodes) {
			t.Errorf("%s: new nodes %v, report says %v", l.Layer, names, l.NewNodes)
		}
		if ch.ParamsBefore != l.ParamsBefore || ch.ParamsAfter != l.ParamsAfter || ch.MACsBefore != l.MACsBefore || ch.MACsAfter != l.MACsAfter {
			t.Errorf("%s: params %d→%d MACs %d→%d, report says %d→%d, %d→%d", l.Layer, ch.ParamsBefore, ch.ParamsAfter,
				ch.MACsBefore, ch.MACsAfter, l.ParamsBefore, l.ParamsAfter, l.MACsBefore, l.MACsAfter)
		}
		if len(ch.Outputs) != 1 || ch.Outputs[0].A != l.Output || ch.Outputs[0].B != l.Output {
			t.Errorf("%s: outputs %v, want %s on both sides", l.Layer, ch.Outputs, l.Output)
		}
	}
	if got != len(want) {
		t.Errorf("%d replaced regions, the report rewrote %d layers", got, len(want))
	}
	for _, gc := range d.GraphChanges {
		if gc.What != "metadata "+graph.ProvenanceKey {
			t.Errorf("unexpected graph change %+v", gc)
		}
	}
}

func madeByRewrite(ch graph.NodeChange, rewritten map[string]*rewrite.LayerReport) bool {
	for _, det := range ch.Details {
		for layer, l := range rewritten {
			if strings.Contains(det, "("+layer+"/"+l.Method+"/") {
				return true
			}
		}
	}
	return false
}

func checkRowsSumToTotals(t *testing.T, d *graph.ModelDiff) {
	t.Helper()
	var pb, pa, mb, ma int64
	for _, ch := range d.Changes {
		pb, pa, mb, ma = pb+ch.ParamsBefore, pa+ch.ParamsAfter, mb+ch.MACsBefore, ma+ch.MACsAfter
	}
	if pb != d.Before.Params || pa != d.After.Params || mb != d.Before.MACs || ma != d.After.MACs {
		t.Errorf("rows sum to params %d→%d MACs %d→%d; totals %+v → %+v", pb, pa, mb, ma, d.Before, d.After)
	}
}

// chain builds input → ops… → output from op specs "Op" or "Op:name";
// weights (for Conv) come from seed. Node names stay empty unless given,
// and value names carry prefix, so only structure can pair two chains.
func chain(prefix string, seed float32, ops ...string) *graph.Model {
	g := &graph.Graph{Name: "chain"}
	m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}
	b := graph.NewBuilder(g)
	x := b.Input("x", graph.Float32, graph.KnownShape(1, 2, 4, 4))
	for i, spec := range ops {
		op, name, _ := strings.Cut(spec, ":")
		var in []*graph.Value
		in = append(in, x)
		if op == "Conv" {
			w := make([]float32, 2*2*1*1)
			for k := range w {
				w[k] = seed + float32(k)
			}
			in = append(in, b.Const(prefix+"w", graph.NewFloat32("", []int64{2, 2, 1, 1}, w)))
		}
		n := &graph.Node{Name: name, OpType: op, Inputs: in}
		n.Outputs = []*graph.Value{b.Value(prefix + "v" + string(rune('0'+i)))}
		g.Nodes = append(g.Nodes, n)
		x = n.Outputs[0]
	}
	x.Name = "y"
	b.Output(x)
	return m
}

func kinds(d *graph.ModelDiff) string {
	var s []string
	for _, ch := range d.Changes {
		var ops []string
		for _, n := range ch.Old {
			ops = append(ops, n.Op)
		}
		ops = append(ops, ">")
		for _, n := range ch.New {
			ops = append(ops, n.Op)
		}
		s = append(s, string(ch.Kind)+"("+strings.Join(ops, " ")+")")
	}
	return strings.Join(s, " ")
}

func TestDiffPairsUnnamedNodesByStructure(t *testing.T) {
	cases := []struct {
		name string
		a, b []string
		want string
	}{
		{"same", []string{"Conv", "Relu", "Sigmoid"}, []string{"Conv", "Relu", "Sigmoid"},
			"unchanged(Conv > Conv) unchanged(Relu > Relu) unchanged(Sigmoid > Sigmoid)"},
		{"inserted", []string{"Conv", "Relu", "Sigmoid"}, []string{"Conv", "Relu", "Tanh", "Sigmoid"},
			"unchanged(Conv > Conv) unchanged(Relu > Relu) added(> Tanh) unchanged(Sigmoid > Sigmoid)"},
		{"deleted", []string{"Conv", "Relu", "Tanh", "Sigmoid"}, []string{"Conv", "Relu", "Sigmoid"},
			"unchanged(Conv > Conv) unchanged(Relu > Relu) removed(Tanh >) unchanged(Sigmoid > Sigmoid)"},
		{"one op swapped", []string{"Conv", "Relu", "Sigmoid"}, []string{"Conv", "Tanh", "Sigmoid"},
			"unchanged(Conv > Conv) replaced(Relu > Tanh) unchanged(Sigmoid > Sigmoid)"},
		{"one conv split in two", []string{"Relu", "Conv", "Sigmoid"}, []string{"Relu", "Conv", "Conv", "Sigmoid"},
			"unchanged(Relu > Relu) replaced(Conv > Conv Conv) unchanged(Sigmoid > Sigmoid)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			seedB := float32(1)
			if strings.HasPrefix(c.name, "one conv split") {
				seedB = 9 // other weights: the first new conv is no twin of the old one
			}
			d := graph.Diff(chain("a_", 1, c.a...), chain("b_", seedB, c.b...))
			if got := kinds(d); got != c.want {
				t.Fatalf("got  %s\nwant %s", got, c.want)
			}
			for _, ch := range d.Changes {
				// The last node writes the output "y" in both.
				if ch.Kind != graph.Added && ch.Kind != graph.Removed && ch.Match != graph.ByStructure && ch.Match != graph.ByOutputName {
					t.Errorf("%s matched by %q, want structure", kinds(&graph.ModelDiff{Changes: []graph.NodeChange{ch}}), ch.Match)
				}
			}
		})
	}
}

func TestDiffPairsByNameAndSaysWhatChanged(t *testing.T) {
	a := chain("a_", 1, "Conv:c1", "Relu:r", "Sigmoid:s")
	b := chain("b_", 5, "Conv:c1", "Tanh:r", "Sigmoid:s")
	b.Graph.Nodes[0].SetAttr(graph.IntsAttr("strides", 1, 1))
	d := graph.Diff(a, b)
	if got, want := kinds(d), "modified(Conv > Conv) replaced(Relu > Tanh) unchanged(Sigmoid > Sigmoid)"; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	det := strings.Join(d.Changes[0].Details, "; ")
	if !strings.Contains(det, "attribute strides=[1 1] added") || !strings.Contains(det, "4 of 4 values differ") {
		t.Errorf("details %q", det)
	}
	for _, ch := range d.Changes {
		if ch.Match != graph.ByName {
			t.Errorf("%s matched by %s", ch.Old[0].Name, ch.Match)
		}
	}
}

func TestDiffReportsGraphLevelChanges(t *testing.T) {
	a, b := testmodels.MLP(1), testmodels.MLP(1)
	b.Opsets[0].Version = 17
	b.ProducerName = "other"
	b.SetMetadata("k", "v")
	b.Graph.Outputs[0].Name = "renamed"
	d := graph.Diff(a, b)
	if d.Identical() {
		t.Fatal("identical")
	}
	var what []string
	for _, gc := range d.GraphChanges {
		what = append(what, gc.What+"="+gc.Old+">"+gc.New)
	}
	got := strings.Join(what, " | ")
	for _, want := range []string{"producer=onnxcompress-testmodels>other", "opset ai.onnx=13>17", "metadata k=>v", "output renamed=>"} {
		if !strings.Contains(got, want) {
			t.Errorf("graph changes %q lack %q", got, want)
		}
	}
	// The renamed output is still the same node's result: every node stays
	// paired and unchanged.
	if n := d.Count(graph.Unchanged); n != len(a.Graph.Nodes) {
		t.Errorf("%d unchanged of %d: %s", n, len(a.Graph.Nodes), kinds(d))
	}
}

func TestDiffJSONIsStable(t *testing.T) {
	orig, m, _ := compressed(t, "svd")
	j1, err := json.Marshal(graph.Diff(orig, m))
	if err != nil {
		t.Fatal(err)
	}
	orig2, m2, _ := compressed(t, "svd")
	j2, _ := json.Marshal(graph.Diff(orig2, m2))
	if string(j1) != string(j2) {
		t.Fatal("two diffs of the same models marshal differently")
	}
	for _, key := range []string{`"kind":"replaced"`, `"match":"provenance"`, `"params_before"`, `"graph_changes"`, `"unique_params"`} {
		if !strings.Contains(string(j1), key) {
			t.Errorf("JSON lacks %s", key)
		}
	}
}

func describe(d *graph.ModelDiff) string {
	b, _ := json.MarshalIndent(d, "", " ")
	if len(b) > 4000 {
		b = b[:4000]
	}
	return string(b)
}
