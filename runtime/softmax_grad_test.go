package runtime

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

// checkSoftmaxGrad covers opset 13's single axis and the older semantics
// (the input flattened to 2-D at axis), the default axis included.
func checkSoftmaxGrad(t *testing.T, op string, seed uint64) {
	rng := rand.New(rand.NewPCG(11, seed))
	for _, c := range []struct {
		opset int64
		axis  *int64
	}{{13, nil}, {13, ptr(int64(-1))}, {13, ptr(int64(1))}, {13, ptr(int64(0))}, {11, nil}, {11, ptr(int64(1))}, {11, ptr(int64(2))}} {
		var attrs []*graph.Attr
		name := fmt.Sprintf("opset%d-axis-default", c.opset)
		if c.axis != nil {
			attrs = []*graph.Attr{graph.IntAttr("axis", *c.axis)}
			name = fmt.Sprintf("opset%d-axis%d", c.opset, *c.axis)
		}
		t.Run(name, func(t *testing.T) {
			checkGrad(t, gradCase{op: op, opset: c.opset, ins: []*Tensor{randTensor(rng, 2, 3, 4)}, attrs: attrs})
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestGradSoftmax(t *testing.T)    { checkSoftmaxGrad(t, "Softmax", 1) }
func TestGradLogSoftmax(t *testing.T) { checkSoftmaxGrad(t, "LogSoftmax", 2) }
