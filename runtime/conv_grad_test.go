package runtime

import (
	"math/rand/v2"
	"os"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestGradConv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name  string
		x, w  []int
		attrs []*graph.Attr
		bias  bool
	}{
		{"plain", []int{2, 3, 5, 5}, []int{4, 3, 3, 3}, nil, true},
		{"pads-stride", []int{2, 2, 6, 5}, []int{3, 2, 3, 2}, []*graph.Attr{graph.IntsAttr("pads", 1, 0, 2, 1), graph.IntsAttr("strides", 2, 1)}, true},
		{"dilation", []int{1, 2, 7, 7}, []int{2, 2, 3, 3}, []*graph.Attr{graph.IntsAttr("dilations", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1)}, false},
		{"groups", []int{2, 4, 5, 5}, []int{6, 2, 3, 3}, []*graph.Attr{graph.IntAttr("group", 2), graph.IntsAttr("pads", 1, 1, 1, 1)}, true},
		{"depthwise", []int{2, 3, 5, 5}, []int{3, 1, 3, 3}, []*graph.Attr{graph.IntAttr("group", 3), graph.IntsAttr("strides", 2, 2), graph.IntsAttr("pads", 1, 1, 1, 1)}, true},
		{"same-upper", []int{1, 2, 5, 6}, []int{3, 2, 2, 3}, []*graph.Attr{graph.StringAttr("auto_pad", "SAME_UPPER"), graph.IntsAttr("strides", 2, 2)}, true},
		{"same-lower", []int{1, 2, 5, 6}, []int{3, 2, 2, 3}, []*graph.Attr{graph.StringAttr("auto_pad", "SAME_LOWER"), graph.IntsAttr("strides", 2, 2)}, true},
		{"valid", []int{1, 2, 5, 6}, []int{3, 2, 3, 2}, []*graph.Attr{graph.StringAttr("auto_pad", "VALID"), graph.IntsAttr("strides", 1, 2)}, false},
		{"1d", []int{2, 3, 9}, []int{4, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 2), graph.IntsAttr("strides", 2)}, true},
		{"pointwise", []int{2, 3, 4, 4}, []int{5, 3, 1, 1}, nil, true},
		// 16-channel groups: the channel-minor weight gradient.
		{"channel-minor", []int{2, 16, 6, 5}, []int{13, 16, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 0, 2, 1)}, true},
		{"channel-minor-stride", []int{1, 16, 7, 8}, []int{5, 16, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1), graph.IntsAttr("strides", 2, 2)}, false},
		{"channel-minor-1x1-stride", []int{2, 32, 5, 5}, []int{3, 32, 1, 1}, []*graph.Attr{graph.IntsAttr("strides", 2, 2)}, true},
		{"channel-minor-1x1-row-stride", []int{1, 16, 6, 5}, []int{3, 16, 1, 1}, []*graph.Attr{graph.IntsAttr("strides", 2, 1)}, false},
		{"channel-minor-groups-dilation", []int{1, 32, 7, 7}, []int{4, 16, 3, 3}, []*graph.Attr{graph.IntAttr("group", 2), graph.IntsAttr("dilations", 2, 1), graph.IntsAttr("pads", 2, 1, 1, 1)}, true},
		// Large enough for the Winograd input gradient.
		{"winograd-input-grad", []int{1, 16, 12, 12}, []int{16, 16, 3, 3}, []*graph.Attr{graph.IntsAttr("pads", 1, 1, 1, 1)}, true},
	}
	// The Go kernel's backend takes the in-place weight gradients; OpenBLAS
	// the per-tap GEMMs.
	backends := []string{"go"}
	if _, err := loadOpenBLAS(); err == nil {
		backends = append(backends, "openblas")
	} else if os.Getenv("CI") == "true" {
		t.Fatalf("CI: OpenBLAS missing: %v", err)
	}
	for _, tc := range cases {
		ins := []*Tensor{randTensor(rng, tc.x...), randTensor(rng, tc.w...)}
		if tc.bias {
			ins = append(ins, randTensor(rng, tc.w[0]))
		}
		for _, be := range backends {
			t.Run(tc.name+"/"+be, func(t *testing.T) {
				checkGrad(t, gradCase{op: "Conv", attrs: tc.attrs, ins: ins, opts: TrainOptions{Backend: be}})
			})
		}
	}
}
