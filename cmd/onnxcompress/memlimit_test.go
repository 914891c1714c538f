package main

import (
	"runtime/debug"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestMemoryLimitStaysAboveModelAndLiveHeap(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		model, live, want int64
	}{
		{model: 1 * mib, live: 2 * mib, want: memLimitFloor}, // small model: the floor
		{model: 100 * mib, live: 150 * mib, want: 250 * mib}, // 2.5 model sizes
		{model: 100 * mib, live: 400 * mib, want: 500 * mib}, // never within 1.25× of the live heap
	} {
		if got := memoryLimit(c.model, c.live); got != c.want {
			t.Errorf("memoryLimit(%d MiB, live %d MiB) = %d MiB, want %d MiB", c.model/mib, c.live/mib, got/mib, c.want/mib)
		}
	}
}

func TestMemoryLimitLeavesGOMEMLIMITAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	m := &graph.Model{Graph: &graph.Graph{Initializers: []*graph.Value{{Name: "w", Const: graph.NewFloat32("w", []int64{1 << 20}, make([]float32, 1<<20))}}}}
	if got := modelBytes(m); got != 4<<20 {
		t.Fatalf("modelBytes = %d, want %d", got, 4<<20)
	}
	limitMemoryFor(m)
	if after := debug.SetMemoryLimit(-1); after != before {
		t.Errorf("GOMEMLIMIT is set, yet the limit moved from %d to %d", before, after)
	}
}
