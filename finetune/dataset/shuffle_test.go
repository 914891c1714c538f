package dataset

import (
	"math"
	"slices"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestShuffleIsSeededPermutation(t *testing.T) {
	d, err := FromTensors(graph.NewFloat32("x", []int64{1000, 1}, make([]float32, 1000)), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, b, c := d.Shuffle(42), d.Shuffle(42), d.Shuffle(43)
	if !slices.Equal(a, b) {
		t.Error("same seed, different orders")
	}
	if slices.Equal(a, c) {
		t.Error("different seeds, same order")
	}
	sorted := slices.Sorted(slices.Values(a))
	for i, v := range sorted {
		if v != i {
			t.Fatalf("not a permutation: %d at %d", v, i)
		}
	}
	if fixed := countFixed(a); fixed > 10 {
		t.Errorf("%d of 1000 indices stayed put", fixed)
	}
	sub := Permute([]int{5, 6, 7, 8}, 1)
	if !slices.Equal(slices.Sorted(slices.Values(sub)), []int{5, 6, 7, 8}) {
		t.Errorf("Permute lost elements: %v", sub)
	}
}

func countFixed(p []int) int {
	n := 0
	for i, v := range p {
		if i == v {
			n++
		}
	}
	return n
}

func TestSplitHoldout(t *testing.T) {
	d, err := FromTensors(graph.NewFloat32("x", []int64{101, 1}, make([]float32, 101)), nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	train, hold, err := d.SplitHoldout(0.2, 9)
	if err != nil {
		t.Fatal(err)
	}
	if len(hold) != 20 || len(train) != 81 {
		t.Fatalf("sizes %d + %d", len(train), len(hold))
	}
	if !slices.IsSorted(train) || !slices.IsSorted(hold) {
		t.Error("index lists not sorted")
	}
	all := slices.Sorted(slices.Values(append(slices.Clone(train), hold...)))
	for i, v := range all {
		if v != i {
			t.Fatalf("split lost or repeated index %d", i)
		}
	}
	train2, hold2, _ := d.SplitHoldout(0.2, 9)
	if !slices.Equal(train, train2) || !slices.Equal(hold, hold2) {
		t.Error("same seed, different split")
	}
	for _, f := range []float64{-0.1, 1, math.NaN()} {
		if _, _, err := d.SplitHoldout(f, 1); err == nil {
			t.Errorf("fraction %v accepted", f)
		}
	}
}
