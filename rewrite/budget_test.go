package rewrite

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func fakeLayers(n int) []*Layer {
	out := make([]*Layer, n)
	for i := range out {
		out[i] = &Layer{Node: &graph.Node{Name: "l"}, Weight: &graph.Tensor{Dims: []int64{10, 10}}}
	}
	return out
}

// On random convex error curves the greedy allocation is never beaten by
// any other choice that fits the budget (checked exhaustively).
func TestGlobalAllocationIsOptimalOnConvexCurves(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := 0; trial < 200; trial++ {
		layers := fakeLayers(3)
		lists := make([][]Candidate, 3)
		for i := range lists {
			// err²(k) = a·exp(−b·k): convex and decreasing in params.
			a, b, step := 1.0, 0.2+rng.Float64(), int64(1+rng.IntN(20))
			for k := 0; k < 6; k++ {
				lists[i] = append(lists[i], Candidate{Params: step * int64(k+1), Err: math.Sqrt(a * math.Exp(-b*float64(k)))})
			}
		}
		var total int64
		for _, l := range lists {
			total += l[len(l)-1].Params
		}
		ratio := 0.1 + 0.9*rng.Float64()
		got, err := allocateGlobally(layers, lists, ratio, paramsCost)
		if err != nil {
			continue // the cheapest settings do not fit: nothing to compare
		}
		budget := int64(ratio * float64(total))
		cost, obj := int64(0), 0.0
		for _, c := range got {
			cost += c.Params
			obj += c.Err * c.Err
		}
		if cost > budget {
			t.Fatalf("trial %d: spent %d of %d", trial, cost, budget)
		}
		best := math.Inf(1)
		for i := range lists[0] {
			for j := range lists[1] {
				for k := range lists[2] {
					p := lists[0][i].Params + lists[1][j].Params + lists[2][k].Params
					if p > budget {
						continue
					}
					e := lists[0][i].Err*lists[0][i].Err + lists[1][j].Err*lists[1][j].Err + lists[2][k].Err*lists[2][k].Err
					best = math.Min(best, e)
				}
			}
		}
		// Greedy on hulls is optimal up to the last partly affordable step.
		if obj > best*1.5+1e-12 && obj-best > 0.05 {
			t.Errorf("trial %d: greedy objective %.4f, best %.4f", trial, obj, best)
		}
	}
}

func TestLowerHullDropsDominatedCandidates(t *testing.T) {
	h := lowerHull([]Candidate{
		{Params: 10, Err: 0.9}, {Params: 20, Err: 0.95}, // bigger and worse: dropped
		{Params: 30, Err: 0.5}, {Params: 40, Err: 0.49}, // above the chord 30→50: dropped
		{Params: 50, Err: 0.1}, {Params: 10, Err: 0.8}, // same size, better: kept instead of 0.9
	}, paramsCost)
	want := []int64{10, 30, 50}
	if len(h) != len(want) {
		t.Fatalf("hull %+v", h)
	}
	for i, c := range h {
		if c.Params != want[i] {
			t.Fatalf("hull %+v", h)
		}
	}
	if h[0].Err != 0.8 {
		t.Fatalf("kept the worse of two equal-size candidates: %+v", h[0])
	}
}

func TestGlobalAllocationRefusesImpossibleBudget(t *testing.T) {
	lists := [][]Candidate{{{Params: 90}, {Params: 100}}, {{Params: 90}, {Params: 100}}}
	if _, err := allocateGlobally(fakeLayers(2), lists, 0.5, paramsCost); err == nil {
		t.Fatal("a budget below the cheapest settings was accepted")
	}
}
