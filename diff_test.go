package onnxcompress_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/onnxcompress/onnxcompress"
	"github.com/onnxcompress/onnxcompress/finetune/dataset"
	"github.com/onnxcompress/onnxcompress/graph"
	"github.com/onnxcompress/onnxcompress/onnx"
	"github.com/onnxcompress/onnxcompress/testmodels"
)

func loadLeNet(t *testing.T) *onnxcompress.Model {
	t.Helper()
	path, err := testmodels.BundledLeNetPath()
	if err != nil {
		t.Fatal(err)
	}
	m, err := onnxcompress.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func encoded(t *testing.T, m *onnxcompress.Model) []byte {
	t.Helper()
	b, err := onnx.Encode(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Diff costs the models at fixed shapes and runs them with extra outputs,
// but hands them back exactly as they were.
func TestDiffLeavesTheModelsAsTheyWere(t *testing.T) {
	a := loadLeNet(t)
	b, _ := onnxcompress.Clone(a)
	if _, err := onnxcompress.Compress(context.Background(), b, onnxcompress.CompressOptions{
		Options: onnxcompress.Options{Method: "tucker", Target: onnxcompress.Target{Ratio: 0.5}}}); err != nil {
		t.Fatal(err)
	}
	wantA, wantB := encoded(t, a), encoded(t, b)
	shapes, err := onnxcompress.ParseInputShapes([]string{"3,1,28,28"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := onnxcompress.Diff(context.Background(), a, b, onnxcompress.DiffOptions{Probes: 2, InputShapes: shapes})
	if err != nil {
		t.Fatal(err)
	}
	if d.Numeric == nil || d.Numeric.Samples != 6 || len(d.LayerErrors) == 0 || d.Equivalent == nil || *d.Equivalent {
		t.Fatalf("numeric %+v, layer errors %v, equivalent %v", d.Numeric, d.LayerErrors, d.Equivalent)
	}
	if !bytes.Equal(encoded(t, a), wantA) || !bytes.Equal(encoded(t, b), wantB) {
		t.Fatal("Diff changed a model")
	}
}

// A model diffed with itself (one pointer for both) still runs at the batch
// the data has, not at the batch it was costed at.
func TestDiffOfOneModelWithItselfOnData(t *testing.T) {
	a := loadLeNet(t)
	x := make([]float32, 5*28*28)
	for i := range x {
		x[i] = float32(i%17) / 17
	}
	data, err := dataset.FromTensors(graph.NewFloat32("x", []int64{5, 1, 28, 28}, x), nil, dataset.Options{Scale: 1})
	if err != nil {
		t.Fatal(err)
	}
	d, err := onnxcompress.Diff(context.Background(), a, a, onnxcompress.DiffOptions{Data: data, Batch: 5, RequireNumeric: true})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Identical || d.Numeric.Samples != 5 || d.Numeric.RelL2 != 0 || !*d.Equivalent {
		t.Fatalf("identical %v, numeric %+v", d.Identical, d.Numeric)
	}
}

// A cancelled context stops the comparison even where a failure to run
// would only be noted.
func TestDiffStopsWhenCancelled(t *testing.T) {
	a := loadLeNet(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := onnxcompress.Diff(ctx, a, a, onnxcompress.DiffOptions{Probes: 3})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	// Structure alone needs no running.
	if d, err := onnxcompress.Diff(ctx, a, a, onnxcompress.DiffOptions{}); err != nil || !d.Identical {
		t.Fatalf("structural diff of a model with itself: %v, %v", d, err)
	}
}

func TestDiffOptionsOutOfRangeAreBadInput(t *testing.T) {
	a := loadLeNet(t)
	for name, opts := range map[string]onnxcompress.DiffOptions{
		"negative tol":    {Probes: 1, Tol: -1},
		"negative probes": {Probes: -2},
		"unknown input":   {InputShapes: map[string]onnxcompress.Shape{"nope": nil}},
	} {
		if _, err := onnxcompress.Diff(context.Background(), a, a, opts); !onnxcompress.IsBadInput(err) {
			t.Errorf("%s: err %v, want bad input", name, err)
		}
	}
}
