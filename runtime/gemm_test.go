package runtime

import (
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func TestGemmMatMulAgainstNumpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	a, b, c := randTensor(rng, 7, 5), randTensor(rng, 6, 7), randTensor(rng, 1, 6)
	m1, m2 := randTensor(rng, 2, 1, 4, 3), randTensor(rng, 5, 3, 6)
	v := randTensor(rng, 3)
	w2 := randTensor(rng, 3, 8)
	got := map[string]*Tensor{
		"gemm":        runNode(t, "Gemm", 13, 1, []*graph.Attr{graph.IntAttr("transA", 1), graph.IntAttr("transB", 1), graph.FloatAttr("alpha", 0.5), graph.FloatAttr("beta", 2)}, a, b, c)[0],
		"gemm_nobias": runNode(t, "Gemm", 13, 1, []*graph.Attr{graph.IntAttr("transA", 1), graph.IntAttr("transB", 1)}, a, b)[0],
		"batched":     runNode(t, "MatMul", 13, 1, nil, m1, m2)[0],
		"vecleft":     runNode(t, "MatMul", 13, 1, nil, v, m2)[0],
		"vecright":    runNode(t, "MatMul", 13, 1, nil, m1, v)[0],
		"weights":     runNode(t, "MatMul", 13, 1, nil, m1, w2)[0],
	}
	want := pyRef(t, `
out['gemm'] = 0.5 * a.T @ b.T + 2 * c
out['gemm_nobias'] = a.T @ b.T
out['batched'] = np.matmul(m1, m2)
out['vecleft'] = np.matmul(v, m2)
out['vecright'] = np.matmul(m1, v)
out['weights'] = np.matmul(m1, w2)
`, map[string]*Tensor{"a": a, "b": b, "c": c, "m1": m1, "m2": m2, "v": v, "w2": w2})
	for _, name := range sortedKeys(got) {
		expectClose(t, name, got[name], want[name], 1e-5, 1e-5)
	}
}

func TestEinsumAgainstNumpy(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a, b := randTensor(rng, 2, 3, 4), randTensor(rng, 2, 4, 5)
	u, w := randTensor(rng, 6, 4), randTensor(rng, 4, 3, 7)
	eq := func(e string) []*graph.Attr { return []*graph.Attr{graph.StringAttr("equation", e)} }
	got := map[string]*Tensor{
		"bmm":       runNode(t, "Einsum", 13, 1, eq("bij,bjk->bik"), a, b)[0],
		"tucker":    runNode(t, "Einsum", 13, 1, eq("oc,chw->ohw"), u, w)[0],
		"implicit":  runNode(t, "Einsum", 13, 1, eq("ij,jk"), u, w.reshapeForTest(4, 21))[0],
		"sum":       runNode(t, "Einsum", 13, 1, eq("bij->j"), a)[0],
		"transpose": runNode(t, "Einsum", 13, 1, eq("bij->jib"), a)[0],
		"ellipsis":  runNode(t, "Einsum", 13, 1, eq("...ij,...jk->...ik"), a, b)[0],
		"outer":     runNode(t, "Einsum", 13, 1, eq("bij,ck->bjkc"), a, u)[0],
	}
	want := pyRef(t, `
out['bmm'] = np.einsum('bij,bjk->bik', a, b)
out['tucker'] = np.einsum('oc,chw->ohw', u, w)
out['implicit'] = np.einsum('ij,jk', u, w.reshape(4, 21))
out['sum'] = np.einsum('bij->j', a)
out['transpose'] = np.einsum('bij->jib', a)
out['ellipsis'] = np.einsum('...ij,...jk->...ik', a, b)
out['outer'] = np.einsum('bij,ck->bjkc', a, u)
`, map[string]*Tensor{"a": a, "b": b, "u": u, "w": w})
	for _, name := range sortedKeys(got) {
		expectClose(t, name, got[name], want[name], 1e-5, 1e-5)
	}
}

func (t *Tensor) reshapeForTest(shape ...int) *Tensor {
	c := t.Clone()
	c.Shape = shape
	return c
}
