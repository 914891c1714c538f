package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// Pools against torch: ceil_mode and count_include_pad with padding.
func TestPoolsAgainstTorch(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	x := randTensor(rng, 2, 3, 10, 9)
	k := graph.IntsAttr("kernel_shape", 3, 3)
	st := graph.IntsAttr("strides", 2, 2)
	pads := graph.IntsAttr("pads", 1, 1, 1, 1)
	got := map[string]*Tensor{
		"max":     runNode(t, "MaxPool", 13, 1, []*graph.Attr{k, st, pads}, x)[0],
		"maxceil": runNode(t, "MaxPool", 13, 1, []*graph.Attr{k, st, graph.IntAttr("ceil_mode", 1)}, x)[0],
		"avg":     runNode(t, "AveragePool", 13, 1, []*graph.Attr{k, st, pads}, x)[0],
		"avgincl": runNode(t, "AveragePool", 13, 1, []*graph.Attr{k, st, pads, graph.IntAttr("count_include_pad", 1)}, x)[0],
		"avgceil": runNode(t, "AveragePool", 13, 1, []*graph.Attr{k, st, pads, graph.IntAttr("ceil_mode", 1), graph.IntAttr("count_include_pad", 1)}, x)[0],
		"gap":     runNode(t, "GlobalAveragePool", 13, 1, nil, x)[0],
		"gmp":     runNode(t, "GlobalMaxPool", 13, 1, nil, x)[0],
		"dilated": runNode(t, "MaxPool", 13, 1, []*graph.Attr{k, graph.IntsAttr("dilations", 2, 1)}, x)[0],
	}
	want := pyRef(t, `
import torch
import torch.nn.functional as F
torch.set_num_threads(1)
X = torch.from_numpy(x)
out['max'] = F.max_pool2d(X, 3, 2, 1).numpy()
out['maxceil'] = F.max_pool2d(X, 3, 2, 0, ceil_mode=True).numpy()
out['avg'] = F.avg_pool2d(X, 3, 2, 1, count_include_pad=False).numpy()
out['avgincl'] = F.avg_pool2d(X, 3, 2, 1, count_include_pad=True).numpy()
out['avgceil'] = F.avg_pool2d(X, 3, 2, 1, ceil_mode=True, count_include_pad=True).numpy()
out['gap'] = X.mean(dim=(2,3), keepdim=True).numpy()
out['gmp'] = X.amax(dim=(2,3), keepdim=True).numpy()
out['dilated'] = F.max_pool2d(X, 3, 1, 0, dilation=(2,1)).numpy()
out['max2x2'] = F.max_pool2d(X, 2, 2).numpy()
`, map[string]*Tensor{"x": x})
	for _, name := range sortedKeys(got) {
		expectClose(t, name, got[name], want[name], 1e-5, 1e-6)
	}
}
