package runtime

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func int8Codes(rng *rand.Rand, shape ...int) *Tensor {
	t := &Tensor{DType: graph.Int8, Shape: shape, I8: make([]int8, shapeSize(shape))}
	for i := range t.I8 {
		t.I8[i] = int8(rng.IntN(256) - 128)
	}
	return t
}

func uint8Codes(rng *rand.Rand, shape ...int) *Tensor {
	t := &Tensor{DType: graph.Uint8, Shape: shape, U8: make([]uint8, shapeSize(shape))}
	for i := range t.U8 {
		t.U8[i] = uint8(rng.IntN(256))
	}
	return t
}

// DequantizeLinear is linear in its scale, so its scale gradient is checked
// against finite differences like any other op's.
func TestGradDequantizeLinear(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 40))
	axis := func(a int64) []*graph.Attr { return []*graph.Attr{graph.IntAttr("axis", a)} }
	checkGradCases(t, []namedGradCase{
		{"per-axis-0-int8", gradCase{op: "DequantizeLinear", ins: []*Tensor{int8Codes(rng, 3, 4), positive(rng, 3), int8Codes(rng, 3)}, attrs: axis(0)}},
		{"per-axis-default-uint8", gradCase{op: "DequantizeLinear", ins: []*Tensor{uint8Codes(rng, 2, 3, 4), positive(rng, 3), uint8Codes(rng, 3)}}},
		{"per-axis-negative", gradCase{op: "DequantizeLinear", ins: []*Tensor{int8Codes(rng, 2, 5), positive(rng, 5), int8Codes(rng, 5)}, attrs: axis(-1)}},
		{"per-tensor", gradCase{op: "DequantizeLinear", ins: []*Tensor{int8Codes(rng, 3, 5), positive(rng), int8Codes(rng)}}},
		{"no-zero-point", gradCase{op: "DequantizeLinear", ins: []*Tensor{uint8Codes(rng, 4, 3), positive(rng)}}},
	})
}

// QuantizeLinear is a step function; training takes the straight-through
// estimator. Through a QuantizeLinear → DequantizeLinear pair sharing its
// scale that is LSQ's gradient, computed here from its definition: ∂y/∂x = 1
// where x/s + z lies in the code range and 0 outside; ∂y/∂s = round(x/s) −
// x/s inside and the saturated code minus z outside.
func TestGradQuantizeDequantizeIsLSQ(t *testing.T) {
	for _, tc := range []struct {
		name   string
		codes  graph.DType
		axis   int64
		shape  []int
		scales int
	}{
		{"uint8-per-tensor", graph.Uint8, 1, []int{4, 6}, 1},
		{"int8-per-axis", graph.Int8, 1, []int{2, 3, 5}, 3},
		{"int8-per-axis-0", graph.Int8, 0, []int{4, 5}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(9, 41))
			lo, hi := 0.0, 255.0
			zero := &graph.Tensor{DType: tc.codes}
			zeros := make([]float64, tc.scales)
			for k := range zeros {
				if tc.codes == graph.Int8 {
					lo, hi = -128, 127
					zeros[k] = float64(rng.IntN(21) - 10)
				} else {
					zeros[k] = float64(100 + rng.IntN(50))
				}
			}
			for _, z := range zeros {
				if tc.codes == graph.Int8 {
					zero.Raw = append(zero.Raw, byte(int8(z)))
				} else {
					zero.Raw = append(zero.Raw, byte(z))
				}
			}
			if tc.scales > 1 {
				zero.Dims = []int64{int64(tc.scales)}
			}
			scale := positive(rng, tc.scales)
			for k := range scale.F32 {
				scale.F32[k] *= 0.05
			}
			if tc.scales == 1 {
				scale.Shape = nil
			}
			n := shapeSize(tc.shape)
			inner := shapeSize(tc.shape[tc.axis+1:])
			channel := func(i int) int { return (i / inner) % tc.scales }
			// Codes from −40 to 300 steps of the scale around the zero point,
			// a quarter step from any rounding tie: both sides of the clamp.
			x := NewFloat32Tensor(tc.shape, make([]float32, n))
			for i := range x.F32 {
				k := channel(i)
				steps := float64(rng.IntN(340)-40+int(lo)) - zeros[k] + 0.25 + 0.5*float64(rng.IntN(2))
				x.F32[i] = float32(steps * float64(scale.F32[k]))
			}

			g := &graph.Graph{Name: "qdq"}
			b := graph.NewBuilder(g)
			shape := make([]int64, len(tc.shape))
			for k, d := range tc.shape {
				shape[k] = int64(d)
			}
			xv := b.Input("x", graph.Float32, graph.KnownShape(shape...))
			var scaleShape []int64
			if tc.scales > 1 {
				scaleShape = []int64{int64(tc.scales)}
			}
			sv := b.Input("s", graph.Float32, graph.KnownShape(scaleShape...))
			zv := b.Const("z", zero)
			attr := graph.IntAttr("axis", tc.axis)
			q := b.Op("QuantizeLinear", "q", []*graph.Value{xv, sv, zv}, attr)
			y := b.Op("DequantizeLinear", "dq", []*graph.Value{q, sv, zv}, attr)
			b.Output(y)
			m := &graph.Model{IRVersion: 8, Opsets: []graph.OpsetImport{{Version: 13}}, Graph: g}

			tape, err := NewTape(m, TrainOptions{InputGrads: true, Threads: 1})
			if err != nil {
				t.Fatal(err)
			}
			feeds := map[string]*Tensor{"x": x, "s": scale}
			if _, err := tape.Forward(feeds); err != nil {
				t.Fatal(err)
			}
			w := randTensor(rng, tc.shape...)
			if err := tape.Backward(map[string]*Tensor{y.Name: w}); err != nil {
				t.Fatal(err)
			}
			wantDX := make([]float64, n)
			wantDS := make([]float64, tc.scales)
			inside, outside := 0, 0
			for i, v := range x.F32 {
				k := channel(i)
				z, r := zeros[k], float64(w.F32[i])
				ratio := float64(v / scale.F32[k])
				if u := ratio + z; u >= lo && u <= hi {
					inside++
					wantDX[i] = r
					wantDS[k] += r * (math.RoundToEven(ratio) - ratio)
				} else {
					outside++
					wantDS[k] += r * (math.Max(lo, math.Min(hi, math.RoundToEven(ratio)+z)) - z)
				}
			}
			if inside == 0 || outside == 0 {
				t.Fatalf("%d values inside the code range and %d outside: the case misses a side of the clamp", inside, outside)
			}
			if rel := relL2(tape.Grad("x").Float64s(), wantDX); rel > 1e-6 {
				t.Errorf("∂L/∂x %.3g relative L2 from the straight-through estimator", rel)
			}
			if rel := relL2(tape.Grad("s").Float64s(), wantDS); rel > 1e-5 {
				t.Errorf("∂L/∂s %.3g relative L2 from LSQ's step gradient\n got  %v\n want %v", rel, tape.Grad("s").F32, wantDS)
			}
		})
	}
}
