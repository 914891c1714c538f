package reference

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onnxcompress/onnxcompress/graph"
)

func nodeModel(name string) string { return filepath.Join(TestDataDir, "node", name, "model.onnx") }

func rawTensor(dtype graph.DType, dims []int64, raw []byte) *graph.Tensor {
	return &graph.Tensor{DType: dtype, Dims: dims, Raw: raw}
}

func int32Tensor(dims []int64, v []int32) *graph.Tensor {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return rawTensor(graph.Int32, dims, raw)
}

func randFloats(rng *rand.Rand, n int) []float32 {
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(rng.NormFloat64())
	}
	return out
}

// TestRunORTExchangesEveryDType runs conformance models whose outputs follow
// from their definition, one per exchanged element type, in one node process.
func TestRunORTExchangesEveryDType(t *testing.T) {
	Require(t, ORT, TestData)
	rng := rand.New(rand.NewPCG(1, 2))
	dims := []int64{3, 4, 5}
	x, y := randFloats(rng, 60), randFloats(rng, 60)
	ux, uy := make([]byte, 60), make([]byte, 60)
	for i := range ux {
		ux[i], uy[i] = byte(rng.IntN(256)), byte(rng.IntN(256))
	}
	bx, by := make([]byte, 12), make([]byte, 12)
	for i := range bx {
		bx[i], by[i] = byte(i&1), byte(i>>1&1)
	}
	cast := randFloats(rng, 12)
	big := []int64{math.MaxInt64 - 1, -(1 << 60) - 3, 1<<53 + 1, -7}
	cond := []byte{1, 0, 0, 1}
	modX, modY := []int8{-4, 7, 5, 4, -7, 8}, []int8{2, -3, 8, -2, 3, 5}
	mod8x, mod8y := make([]byte, 6), make([]byte, 6)
	mod32x, mod32y := make([]int32, 6), make([]int32, 6)
	for i := range modX {
		mod8x[i], mod8y[i] = byte(modX[i]), byte(modY[i])
		mod32x[i], mod32y[i] = int32(modX[i])*1000003, int32(modY[i])*7
	}
	jobs := []ORTJob{
		{nodeModel("test_add"), map[string]*graph.Tensor{"x": graph.NewFloat32("", dims, x), "y": graph.NewFloat32("", dims, y)}},
		{nodeModel("test_add_uint8"), map[string]*graph.Tensor{"x": rawTensor(graph.Uint8, dims, ux), "y": rawTensor(graph.Uint8, dims, uy)}},
		{nodeModel("test_and2d"), map[string]*graph.Tensor{"x": rawTensor(graph.Bool, []int64{3, 4}, bx), "y": rawTensor(graph.Bool, []int64{3, 4}, by)}},
		{nodeModel("test_cast_FLOAT_to_DOUBLE"), map[string]*graph.Tensor{"input": graph.NewFloat32("", []int64{3, 4}, cast)}},
		{nodeModel("test_where_long_example"), map[string]*graph.Tensor{
			"condition": rawTensor(graph.Bool, []int64{2, 2}, cond),
			"x":         graph.NewInt64("", []int64{2, 2}, big),
			"y":         graph.NewInt64("", []int64{2, 2}, []int64{1, 2, 3, 4}),
		}},
		{nodeModel("test_mod_mixed_sign_int8"), map[string]*graph.Tensor{"x": rawTensor(graph.Int8, []int64{6}, mod8x), "y": rawTensor(graph.Int8, []int64{6}, mod8y)}},
		{nodeModel("test_mod_mixed_sign_int32"), map[string]*graph.Tensor{"x": int32Tensor([]int64{6}, mod32x), "y": int32Tensor([]int64{6}, mod32y)}},
	}
	res, err := RunORTBatch(jobs, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if r.Err != nil {
			t.Fatalf("job %d: %v", i, r.Err)
		}
	}
	pythonMod := func(a, b int64) int64 { return ((a % b) + b) % b }

	want := func(job int, name string, dtype graph.DType, dims []int64, values []float64) {
		t.Helper()
		got := res[job].Outputs[name]
		if got == nil {
			t.Fatalf("%s: no output %q in %v", jobs[job].Model, name, res[job].Outputs)
		}
		if got.DType != dtype || !slices.Equal(got.Dims, dims) {
			t.Fatalf("%s: output %s %v, want %s %v", jobs[job].Model, got.DType, got.Dims, dtype, dims)
		}
		vals, err := got.Float64s()
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(vals, values) {
			t.Errorf("%s: output %v, want %v", jobs[job].Model, vals, values)
		}
	}
	var sum, usum, and, dbl, where, mod8, mod32 []float64
	for i := range x {
		sum = append(sum, float64(x[i]+y[i]))
		usum = append(usum, float64(ux[i]+uy[i]))
	}
	for i := range bx {
		and = append(and, float64(bx[i]&by[i]))
	}
	for _, v := range cast {
		dbl = append(dbl, float64(v))
	}
	for i := range cond {
		where = append(where, float64([]int64{big[i], i64(i + 1)}[1-cond[i]]))
	}
	for i := range modX {
		mod8 = append(mod8, float64(pythonMod(int64(modX[i]), int64(modY[i]))))
		mod32 = append(mod32, float64(pythonMod(int64(mod32x[i]), int64(mod32y[i]))))
	}
	want(0, "sum", graph.Float32, dims, sum)
	want(1, "sum", graph.Uint8, dims, usum)
	want(2, "and", graph.Bool, []int64{3, 4}, and)
	want(3, "output", graph.Float64, []int64{3, 4}, dbl)
	want(5, "z", graph.Int8, []int64{6}, mod8)
	want(6, "z", graph.Int32, []int64{6}, mod32)
	// int64 beyond 2^53 must survive the exchange bit for bit.
	z, err := res[4].Outputs["z"].Int64s()
	if err != nil {
		t.Fatal(err)
	}
	if wantZ := []int64{big[0], 2, 3, big[3]}; !slices.Equal(z, wantZ) {
		t.Errorf("where: %v, want %v", z, wantZ)
	}
}

func i64(i int) int64 { return int64(i) }

func TestRunORTReportsEachModelsError(t *testing.T) {
	Require(t, ORT, TestData)
	relu := map[string]*graph.Tensor{"x": graph.NewFloat32("", []int64{3, 4, 5}, make([]float32, 60))}
	res, err := RunORTBatch([]ORTJob{
		{Model: filepath.Join(t.TempDir(), "missing.onnx"), Inputs: relu},
		{Model: nodeModel("test_relu"), Inputs: relu},
		{Model: nodeModel("test_relu"), Inputs: map[string]*graph.Tensor{"x": graph.NewFloat32("", []int64{2}, []float32{1, 2})}},
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "missing.onnx") {
		t.Errorf("missing model: error %v should name the file", res[0].Err)
	}
	if res[1].Err != nil || res[1].Outputs["y"] == nil {
		t.Errorf("good model after a failing one: %v", res[1].Err)
	}
	if res[2].Err == nil {
		t.Error("input of the wrong shape accepted")
	}
	_, err = RunORT(nodeModel("test_relu"), map[string]*graph.Tensor{"x": {DType: graph.Float16, Dims: []int64{1}, Raw: []byte{0, 0}}}, 1)
	if err == nil || !strings.Contains(err.Error(), `"x"`) {
		t.Errorf("unsupported dtype: error %v should name the input", err)
	}
}

func TestRunORTSingleModel(t *testing.T) {
	Require(t, ORT, TestData)
	in := []float32{-1, 0, 2.5, -0.25, 3, float32(math.Inf(-1))}
	in = append(in, make([]float32, 54)...)
	out, err := RunORT(nodeModel("test_relu"), map[string]*graph.Tensor{"x": graph.NewFloat32("", []int64{3, 4, 5}, in)}, 2)
	if err != nil {
		t.Fatal(err)
	}
	got, err := out["y"].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	if want := append([]float32{0, 0, 2.5, 0, 3, 0}, make([]float32, 54)...); !slices.Equal(got, want) {
		t.Errorf("relu: %v, want %v", got, want)
	}
}

func TestBenchORTMedian(t *testing.T) {
	Require(t, ORT, TestData)
	in := map[string]*graph.Tensor{"x": graph.NewFloat32("", []int64{3, 4, 5}, make([]float32, 60))}
	sec, err := BenchORT(nodeModel("test_relu"), in, 1, 5)
	if err != nil {
		t.Fatal(err)
	}
	if !(sec > 0 && sec < 1) {
		t.Errorf("median %v s for a 60-element Relu", sec)
	}
	if _, err := BenchORT(nodeModel("test_relu"), in, 1, 0); err == nil {
		t.Error("iters 0 accepted")
	}
}
