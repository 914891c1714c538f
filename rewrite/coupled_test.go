package rewrite

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
)

// A trial rewrite on the copy leaves the model untouched, and writes what
// the same rewrite of the model itself writes.
func TestCopyModelIsIndependent(t *testing.T) {
	m := mustCase(t, "resnet_basic").Build(1)
	if err := graph.InferShapes(m, nil); err != nil {
		t.Fatal(err)
	}
	encode := func(m *graph.Model) []byte {
		b, err := onnx.Encode(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	orig := encode(m)
	c, nodes := copyModel(m)
	if len(nodes) != len(m.Graph.Nodes) {
		t.Fatalf("%d of %d nodes copied", len(nodes), len(m.Graph.Nodes))
	}
	for _, n := range m.Graph.Nodes {
		if cn := nodes[n]; cn == nil || cn == n || cn.Name != n.Name || cn.Inputs[0] == n.Inputs[0] {
			t.Fatalf("node %s was not copied apart", n.Name)
		}
	}
	// Pruning edits the readers' inputs and the values' types in place.
	opts := Options{Method: "hinge", Target: Target{MACsRatio: 0.3}, RankMultiple: 1}
	rep, err := Compress(c, opts)
	if err != nil {
		t.Fatal(err)
	}
	pruned := false
	for _, l := range rep.Rewritten() {
		pruned = pruned || l.Form == hingePrune
	}
	if !pruned {
		t.Fatal("nothing pruned: the copy's independence is not tested")
	}
	if !bytes.Equal(encode(m), orig) {
		t.Fatal("rewriting the copy changed the model")
	}
	if _, err := Compress(m, opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(encode(m), encode(c)) {
		t.Error("the copy rewrites to another model than the original")
	}
}

// A trial rewrite that fails (here: cancelled) fails the run as such, not
// as a budget the request cannot meet.
func TestCoupledTrialFailureIsNotAUsageError(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Compress(pruneNet(3), Options{Method: "hinge", Target: Target{MACsRatio: 0.5}, Context: ctx})
	var usage *UsageError
	if !errors.Is(err, context.Canceled) || errors.As(err, &usage) {
		t.Fatalf("got %v (usage error: %v), want the cancellation", err, errors.As(err, &usage))
	}
}
